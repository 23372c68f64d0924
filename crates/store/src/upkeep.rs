//! What a store does for itself while a server runs, and how its writes have gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::StoreError;

/// How many group transactions committed, and how many changes (units that kept theirs) they
/// held.
#[derive(Debug, Default)]
pub struct GroupStats {
    groups: AtomicU64,
    units: AtomicU64,
}

impl GroupStats {
    /// Group transactions committed so far.
    pub fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// Changes those groups held.
    pub fn units(&self) -> u64 {
        self.units.load(Ordering::Relaxed)
    }

    /// Counts one committed group holding `units` changes.
    pub(super) fn count_group(&self, units: u64) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.units.fetch_add(units, Ordering::Relaxed);
    }
}

/// A store's upkeep running in the background; dropping it stops the upkeep after a last round.
pub struct Upkeep {
    _running: Box<dyn Send>,
}

impl Upkeep {
    /// Upkeep that runs until `running` is dropped.
    pub(super) fn new(running: impl Send + 'static) -> Self {
        Self { _running: Box::new(running) }
    }
}

/// The store's own upkeep, and its write statistics.
pub trait UpkeepStore {
    /// How the group transactions have gone so far.
    fn group_stats(&self) -> &GroupStats;

    /// Starts the store's upkeep (SQLite: checkpointing the write-ahead log every `every` from a
    /// background thread instead of inside commits). `None` when the store needs none (a SQLite
    /// store in memory has no log).
    fn upkeep_in_background(&self, every: Duration) -> Result<Option<Upkeep>, StoreError>;

    /// Moves the whole write-ahead log into the database and empties the log file, which
    /// otherwise keeps the size of its busiest moment for as long as the store is open. Answers
    /// whether it did; with a reader or writer in its way for long, it leaves the log for the
    /// next time. `false` for a store with no log to empty.
    fn truncate_log(&self) -> Result<bool, StoreError>;
}
