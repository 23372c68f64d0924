//! The embedded store: one SQLite file holding tenants, the directory (persons, systems,
//! entitlements, accounts), entitlement actions with their history, invocation records, the audit
//! chains, keys, kept requests and webhook deliveries. The only module that speaks SQL.

mod actions;
mod audit;
mod checkpoint;
mod clock;
mod deliveries;
mod directory;
mod events;
mod invocations;
mod keys;
mod read_pool;
mod requests;
mod schema;
mod sessions;
mod writer;

pub use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use super::{GroupStats, StoreError};

/// The embedded SQLite store. Cheap to share behind an `Arc`: one write connection whose
/// concurrent changes commit in groups, and (on disk) a pool of read connections.
pub struct SqliteStore {
    writer: Mutex<writer::Writer>,
    queue: writer::Queue,
    stats: GroupStats,
    /// Read connections; `None` in memory, where reads use the write connection.
    readers: Option<read_pool::ReaderPool>,
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
    /// This process's view of the store's clock, which leases are timed by.
    clock: clock::Clock,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    /// Commits are durable: the write-ahead log is synced before a commit returns.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::open(path.display(), e))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self {
            path: Some(path.to_owned()),
            readers: Some(read_pool::ReaderPool::new(path)),
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
}

/// Decodes a JSON column, naming the column when it is unreadable.
fn from_json<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt { column, reason: e.to_string() })
}

/// Decodes a wire-named enum column, naming the column when it is unreadable.
fn parse_column<T: std::str::FromStr<Err = String>>(column: &'static str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|reason| StoreError::Corrupt { column, reason })
}

impl crate::WakeStore for SqliteStore {
    fn listen_for_work(&self, _wake: crate::Wake) -> Result<Option<crate::Listening>, StoreError> {
        // One host's own commits wake its executor directly; another process on the same file is
        // found by the poll.
        Ok(None)
    }
}

#[cfg(test)]
mod suite {
    crate::store_suite!(super::SqliteStore::in_memory().unwrap());
}
