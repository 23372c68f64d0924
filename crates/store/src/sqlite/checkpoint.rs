//! Moving the write-ahead log into the database off the request path. A long-running server
//! turns SQLite's automatic checkpoint off on its connection (it would stall whichever commit
//! crosses the threshold) and checkpoints from a thread of its own, on its own connection,
//! without blocking writers.

use std::path::PathBuf;
use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::{SqliteStore, StoreError};
use crate::{GroupStats, Upkeep, UpkeepStore};

/// A background checkpointer; dropping it stops it after a last full checkpoint.
struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl UpkeepStore for SqliteStore {
    fn group_stats(&self) -> &GroupStats {
        &self.stats
    }

    fn truncate_log(&self) -> Result<bool, StoreError> {
        let Some(path) = self.path.clone() else { return Ok(false) };
        let conn = open_for_checkpoints(path)?;
        conn.busy_timeout(TRUNCATE_WAIT)?;
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }

    fn upkeep_in_background(&self, every: Duration) -> Result<Option<Upkeep>, StoreError> {
        let Some(path) = self.path.clone() else { return Ok(None) };
        let conn = open_for_checkpoints(path)?;
        self.idle_writer().conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (stop, stopped) = channel::<()>();
        let thread = std::thread::Builder::new()
            .name("provhost-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    checkpoint(&conn, "PASSIVE");
                }
                checkpoint(&conn, "TRUNCATE");
            })
            .map_err(|e| StoreError::Conflict(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Some(Upkeep::new(Checkpointer { stop: Some(stop), thread: Some(thread) })))
    }
}

/// How long emptying the log waits for a reader or writer in its way before it leaves the log for
/// the next time: writers wait for it meanwhile, so not long.
const TRUNCATE_WAIT: Duration = Duration::from_millis(250);

fn open_for_checkpoints(path: PathBuf) -> Result<Connection, StoreError> {
    let conn = Connection::open(&path).map_err(|source| StoreError::Open { path, source })?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn checkpoint(conn: &Connection, mode: &str) {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get::<_, i64>(0));
    if let Err(e) = result {
        tracing::warn!("checkpointing the write-ahead log failed: {e}");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread's wait at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DEMO_TENANT, DirectoryStore, seed_demo};

    #[test]
    fn the_log_is_checkpointed_in_the_background_and_emptied_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provhost.db");
        let store = SqliteStore::open(&path).unwrap();
        // Everything so far in the database file itself, which from now on only a checkpoint writes.
        checkpoint(&store.idle_writer().conn, "TRUNCATE");
        let before = std::fs::read(&path).unwrap();
        let checkpointer = store.upkeep_in_background(Duration::from_millis(30)).unwrap().unwrap();
        let autocheckpoint: i64 =
            store.idle_writer().conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0)).unwrap();
        assert_eq!(autocheckpoint, 0, "commits no longer checkpoint");
        seed_demo(&store).unwrap();
        let wal = dir.path().join("provhost.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 0);
        // The seed reaches the database file while the checkpointer runs, before its last
        // checkpoint: no commit checkpoints, so only the background thread can have copied it.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::fs::read(&path).unwrap() == before {
            assert!(std::time::Instant::now() < deadline, "no background checkpoint moved the seed into the database");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(checkpointer);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "the last checkpoint truncates the log");
        assert_eq!(store.persons(DEMO_TENANT).unwrap().len(), 6);
        assert!(SqliteStore::in_memory().unwrap().upkeep_in_background(Duration::from_secs(1)).unwrap().is_none());
    }
}
