//! The embedded store: one SQLite file holding tenants, the directory (persons, systems,
//! entitlements, accounts), entitlement actions with their history, and invocation records.

mod actions;
mod audit;
mod checkpoint;
mod clock;
mod deliveries;
mod demo;
mod directory;
mod invocations;
mod keys;
mod readers;
mod requests;
mod schema;
mod writer;

pub use actions::{Claim, Decision, Due, Effect, Finish, FollowUp, Following, HistoryEntry, LeaseKey, Notify};
pub use audit::{AuditFilter, Verification};
pub use checkpoint::Checkpointer;
pub use deliveries::Delivery;
pub use demo::{DEMO_TENANT, seed_demo, seed_demo_as};
pub use invocations::Commit;
pub use keys::{AuthError, KeyError, KeyRecord};
pub use requests::{Begun, KeptRequest};
pub use schema::SCHEMA_VERSION;
pub use writer::GroupStats;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

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

/// The embedded SQLite store. Cheap to share behind an `Arc`: one write connection whose
/// concurrent changes commit in groups, and (on disk) a pool of read connections.
pub struct Store {
    writer: Mutex<writer::Writer>,
    queue: writer::Queue,
    stats: GroupStats,
    /// Read connections; `None` in memory, where reads use the write connection.
    readers: Option<readers::ReaderPool>,
    /// The database file; `None` in memory.
    path: Option<std::path::PathBuf>,
    /// This process's view of the store's clock, which leases are timed by.
    clock: clock::Clock,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    /// Commits are durable: the write-ahead log is synced before a commit returns.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self {
            path: Some(path.to_owned()),
            readers: Some(readers::ReaderPool::new(path)),
            ..Self::from_connection(conn)?
        })
    }

    /// A private in-memory store, for tests and dry experiments.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Every statement on the hot path is prepared once and reused.
        conn.set_prepared_statement_cache_capacity(128);
        conn.pragma_update(None, "foreign_keys", true)?;
        // Each unit of a group runs in a savepoint, whose undo journal stays in memory.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            writer: Mutex::new(writer::Writer::new(conn)),
            queue: writer::Queue::default(),
            stats: GroupStats::default(),
            readers: None,
            path: None,
            clock: clock::Clock::default(),
        })
    }

    /// Whether the store answers a read.
    pub fn ping(&self) -> Result<(), StoreError> {
        Ok(self.read()?.query_row("SELECT COUNT(*) FROM tenants", [], |_| Ok(()))?)
    }

    /// Every tenant's id, in order.
    pub fn tenant_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached("SELECT id FROM tenants ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Whether the tenant exists.
    pub fn tenant_exists(&self, tenant: &str) -> Result<bool, StoreError> {
        let found = self.read()?.query_row("SELECT 1 FROM tenants WHERE id = ?1", [tenant], |_| Ok(())).map(|_| true);
        match found {
            Ok(found) => Ok(found),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Decodes a JSON column, naming the column when it is unreadable.
fn from_json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { column, reason: e.to_string() })
}

/// Decodes a wire-named enum column, naming the column when it is unreadable.
fn parse_column<T: std::str::FromStr<Err = String>>(column: &'static str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|reason| StoreError::Corrupt { column, reason })
}
