//! Reads. A store on disk reads through a pool of read-only connections beside the write
//! connection: in write-ahead-log mode each sees the last committed state and none waits for
//! the writer, so a plugin's queries run while other events commit. An in-memory store has only
//! its one connection; it reads there, after committing any open group.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};

use super::writer::Writer;
use super::{SqliteStore, StoreError};

/// The most idle read connections kept.
const IDLE_READERS: usize = 8;

/// Idle read connections of a store on disk.
pub(super) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub(super) fn new(path: &Path) -> Self {
        Self { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(conn);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|source| StoreError::Open { path: self.path.clone(), source })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.set_prepared_statement_cache_capacity(128);
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

/// A connection to read from, returned where it came from when dropped.
pub(super) enum Reader<'a> {
    /// From the pool of a store on disk.
    Pooled(Option<Connection>, &'a ReaderPool),
    /// The write connection of an in-memory store.
    Writer(MutexGuard<'a, Writer>),
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            Reader::Pooled(conn, _) => conn.as_ref().expect("a pooled reader holds its connection until dropped"),
            Reader::Writer(writer) => &writer.conn,
        }
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Reader::Pooled(conn, pool) = self
            && let Some(conn) = conn.take()
        {
            pool.give_back(conn);
        }
    }
}

impl SqliteStore {
    /// A connection that sees every committed change.
    pub(super) fn read(&self) -> Result<Reader<'_>, StoreError> {
        match &self.readers {
            Some(pool) => Ok(Reader::Pooled(Some(pool.take()?), pool)),
            None => Ok(Reader::Writer(self.idle_writer())),
        }
    }
}
