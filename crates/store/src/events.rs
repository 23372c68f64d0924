//! Kept events: the event documents a tenant's invocations ran on, each with what its invocation
//! decided, kept (when the tenant opts in) so that a new plugin version can be replayed over them;
//! and the one audit record of each replay.

use super::{Commit, Declined, StoreError};
use provhost_core::audit::AuditEntry;

/// One kept event: the document an invocation ran on and what it decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEvent {
    /// Its place among everything kept, assigned by the store, rising; `0` before it is kept.
    pub seq: u64,
    /// The tenant.
    pub tenant: String,
    /// The invocation that ran on it.
    pub invocation: String,
    /// The plugin that ran.
    pub plugin: String,
    /// When the invocation started, RFC 3339 UTC.
    pub at: String,
    /// The event as the plugin saw it, as JSON, redacted as the tenant's retention says.
    pub event: String,
    /// What the invocation decided, as JSON: its outcome, its plan, its refusals and thresholds.
    pub decided: String,
}

impl KeptEvent {
    /// The bytes it takes against the bounds: its document and what was decided.
    pub fn bytes(&self) -> u64 {
        (self.event.len() + self.decided.len()) as u64
    }
}

/// What one event and all of a tenant's kept events may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventBounds {
    /// The largest kept event, in bytes ([`KeptEvent::bytes`]).
    pub max_event_bytes: u64,
    /// The most bytes of kept events one tenant holds; past it its oldest go first.
    pub max_tenant_bytes: u64,
}

/// What keeping an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Kept at `seq`; `dropped` of the tenant's oldest kept events made room for it.
    Kept {
        /// Where it was kept.
        seq: u64,
        /// How many older ones went.
        dropped: u64,
    },
    /// Not kept: it is larger than one event may be.
    TooLarge {
        /// Its size.
        bytes: u64,
    },
}

/// Which kept events to read: one plugin's, in a time range, kept after `after`, past the first
/// `offset`, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct EventRange {
    /// Only at or after this time (RFC 3339, as the store writes it).
    pub since: Option<String>,
    /// Only before this time.
    pub until: Option<String>,
    /// Only those kept after this [`KeptEvent::seq`]: the last of the previous page. Unlike
    /// `offset`, it does not shift when older events are dropped or purged meanwhile.
    pub after: Option<u64>,
    /// Skip this many (oldest first) of the rest.
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

/// Keeping events for replays, purging them, and recording each replay.
pub trait EventStore {
    /// Keeps `event` unless it is larger than `bounds` allow, then drops the tenant's oldest kept
    /// events until the tenant holds at most `max_tenant_bytes`, in one transaction.
    fn keep_event(&self, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, StoreError>;

    /// Commits `commit` as [`crate::InvocationStore::commit`] does (a refusal is [`Declined::Refused`]) and keeps `event`, the one its
    /// invocation ran on, as [`EventStore::keep_event`] does, in the same transaction: an event is
    /// never kept without its invocation, nor an invocation committed and its event lost. A
    /// refused commit keeps nothing.
    fn commit_keeping(&self, commit: &Commit<'_>, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, Declined>;

    /// The tenant's kept events of `plugin` in `range`, oldest first.
    fn kept_events(&self, tenant: &str, plugin: &str, range: &EventRange) -> Result<Vec<KeptEvent>, StoreError>;

    /// Forgets the tenant's events kept before `before` (RFC 3339); how many.
    fn purge_events(&self, tenant: &str, before: &str) -> Result<u64, StoreError>;

    /// Appends the one audit record of a replay to the tenant's chain: who replayed what over
    /// which range, and how it compared. A replay commits nothing else.
    fn record_replay(&self, tenant: &str, entry: &AuditEntry) -> Result<(), StoreError>;
}
