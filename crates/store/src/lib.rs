//! The store: what provhost keeps, as one interface per concern composed into [`Store`]. The
//! rest of the host holds an `Arc<dyn Store>` and speaks in the domain's units (commit a plan,
//! claim actions, finish them, decide on blocked ones). [`SqliteStore`] is the embedded
//! implementation, [`PostgresStore`] the one several hosts share; with [`sqlite_to_postgres`],
//! they are the only code that speaks SQL.

mod actions;
mod approvals;
mod audit;
mod claims;
mod copy;
mod declined;
mod deliveries;
mod demo;
mod directory;
mod events;
mod invocations;
mod keys;
mod location;
pub mod postgres;
mod requests;
mod sessions;
pub mod sqlite;
#[cfg(any(test, feature = "suite"))]
#[doc(hidden)]
pub mod suite;
mod upkeep;
mod wakeups;

pub use actions::{ActionStore, BlockedGroup, Effect, Finish, FollowUp, HistoryEntry, LiveRetry};
pub use approvals::{ApprovalStore, Verdict};
pub use audit::{Anchored, AuditFilter, AuditStore, Verification};
pub use claims::{Batch, Claim, ClaimStore, Due, Following, LeaseKey, OpenActions};
pub use copy::{Copied, sqlite_to_postgres};
pub use declined::Declined;
pub use deliveries::{Attempt, Delivery, DeliveryClaim, DeliveryStore, DueDeliveries, DuePage, Notify};
pub use demo::{DEMO_TENANT, seed_demo, seed_demo_as};
pub use directory::DirectoryStore;
pub use events::{EventBounds, EventRange, EventStore, Kept, KeptEvent};
pub use invocations::{Commit, Counts, InvocationSource, InvocationStore, OutcomeCount};
pub use keys::{AuthError, IssuedKey, KeyError, KeyRecord, KeyStore};
pub use location::Location;
pub use postgres::{PostgresStore, ScratchDatabase};
pub use requests::{Begun, KeptRequest, RequestStatus, RequestStore};
pub use sessions::SessionStore;
pub use sqlite::SqliteStore;
pub use upkeep::{GroupStats, Upkeep, UpkeepStore};
pub use wakeups::{Listening, Queued, Wake, WakeStore};

/// Everything provhost keeps: one interface per concern. Every store that implements them all
/// is a `Store`; the host shares one as `Arc<dyn Store>`.
pub trait Store:
    DirectoryStore
    + ActionStore
    + ClaimStore
    + ApprovalStore
    + InvocationStore
    + AuditStore
    + KeyStore
    + SessionStore
    + RequestStore
    + DeliveryStore
    + UpkeepStore
    + EventStore
    + WakeStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: DirectoryStore
        + ActionStore
        + ClaimStore
        + ApprovalStore
        + InvocationStore
        + AuditStore
        + KeyStore
        + SessionStore
        + RequestStore
        + DeliveryStore
        + UpkeepStore
        + EventStore
        + WakeStore
        + Send
        + Sync
{
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error: its own message, with where it happened.
    #[error("store: {0}")]
    Backend(String),
    /// The store could not be opened or created.
    #[error("cannot open the store at {place}: {reason}")]
    Open {
        /// The file, or the database URL without its password.
        place: String,
        /// What the engine said.
        reason: String,
    },
    /// Concurrent transactions on other hosts kept conflicting with this one; it was tried the
    /// store's bounded number of times and not kept.
    #[error("the store could not commit after {tries} tries, conflicting each time with concurrent changes: {last}")]
    Serialization {
        /// How many times it was tried.
        tries: u32,
        /// What the engine said the last time.
        last: String,
    },
    /// The database was written by a newer provhost.
    #[error("the store has schema version {found} but this provhost supports up to {supported}; upgrade provhost")]
    TooNew {
        /// Version found in the store.
        found: usize,
        /// Newest version this build knows.
        supported: usize,
    },
    /// A stored value could not be decoded.
    #[error("the store holds an unreadable value in {column}: {reason}")]
    Corrupt {
        /// Where the value was.
        column: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The group transaction holding the change could not be committed, so the change was not
    /// kept.
    #[error("the store could not commit: {0}")]
    GroupCommit(String),
    /// The change conflicts with the record's state.
    #[error("{0}")]
    Conflict(String),
    /// A named record does not exist.
    #[error("{kind} '{id}' not found in tenant '{tenant}'")]
    NotFound {
        /// Record type, e.g. `person`.
        kind: &'static str,
        /// The id asked for.
        id: String,
        /// The tenant looked in.
        tenant: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl StoreError {
    /// The store at `place` could not be opened: the engine said `reason`.
    pub(crate) fn open(place: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        StoreError::Open { place: place.to_string(), reason: reason.to_string() }
    }
}
