//! The store: what provhost keeps, as one interface per concern composed into [`Store`]. The
//! rest of the host holds an `Arc<dyn Store>` and speaks in the domain's units (commit a plan,
//! claim actions, finish them, decide on blocked ones); [`SqliteStore`] is the embedded
//! implementation and the only code that speaks SQL.

mod actions;
mod approvals;
mod audit;
mod claims;
mod deliveries;
mod demo;
mod directory;
mod invocations;
mod keys;
mod requests;
pub mod sqlite;
#[cfg(any(test, feature = "suite"))]
#[doc(hidden)]
pub mod suite;
mod upkeep;

use std::path::PathBuf;

pub use actions::{ActionStore, BlockedGroup, Effect, Finish, FollowUp, HistoryEntry};
pub use approvals::{ApprovalStore, Verdict};
pub use audit::{AuditFilter, AuditStore, Verification};
pub use claims::{Claim, ClaimStore, Due, Following, LeaseKey};
pub use deliveries::{Delivery, DeliveryStore, Notify};
pub use demo::{DEMO_TENANT, seed_demo, seed_demo_as};
pub use directory::DirectoryStore;
pub use invocations::{Commit, InvocationSource, InvocationStore, OutcomeCount};
pub use keys::{AuthError, KeyError, KeyRecord, KeyStore};
pub use requests::{Begun, KeptRequest, RequestStore};
pub use sqlite::SqliteStore;
pub use upkeep::{GroupStats, Upkeep, UpkeepStore};

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
    + RequestStore
    + DeliveryStore
    + UpkeepStore
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
        + RequestStore
        + DeliveryStore
        + UpkeepStore
        + Send
        + Sync
{
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The database was written by a newer provhost.
    #[error("the store has schema version {found} but this provhost supports up to {supported}; upgrade provhost")]
    TooNew {
        /// Version found in the file.
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
