//! Group commit. Every change to the store is a *unit* (a closure over the connection) run by
//! [`SqliteStore::write`]. Concurrent units share one write transaction: each runs inside a savepoint of
//! its own, so a unit that fails (or panics) rolls back its own changes and nothing else, and
//! every unit's caller is answered only after the `COMMIT` that holds its changes — one commit,
//! one pass of write-ahead-log pages and one sync for the whole group instead of one per unit.
//!
//! The group forms without waiting: a unit that finds other writers queued behind it leaves the
//! transaction open for them and waits for its end; the unit that finds no one queued (or fills
//! the group) commits it for all. A unit alone commits at once, so a quiet store adds no latency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

use super::{GroupStats, SqliteStore, StoreError};
use crate::Declined;
use crate::declined::Settled;

/// The most units one group transaction holds before it commits, so that a steady stream of
/// writers cannot keep a group (and its first caller) waiting.
const MAX_UNITS: usize = 64;

/// The write connection and the group transaction open on it, if any.
pub(super) struct Writer {
    pub(super) conn: Connection,
    group: Option<Arc<Group>>,
    /// Units run in the open group, and how many of them kept their changes.
    units: usize,
    kept: usize,
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Self {
        Self { conn, group: None, units: 0, kept: 0 }
    }

    /// Commits the open group, if any, and tells its waiting members how it ended.
    fn end_group(&mut self, stats: &GroupStats) -> Result<(), StoreError> {
        let Some(group) = self.group.take() else { return Ok(()) };
        let ended = if self.conn.is_autocommit() {
            // SQLite rolled the whole transaction back (an I/O error, a full disk).
            Err("the store rolled the transaction back".to_owned())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        };
        if ended.is_ok() {
            stats.count_group(self.kept as u64);
        }
        group.end(ended.clone());
        ended.map_err(StoreError::GroupCommit)
    }
}

/// One group transaction: how it ended, for the members waiting on it.
#[derive(Default)]
struct Group {
    ended: Mutex<Option<Result<(), String>>>,
    done: Condvar,
}

impl Group {
    fn end(&self, outcome: Result<(), String>) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Result<(), StoreError> {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(outcome) = ended.as_ref() {
                return outcome.clone().map_err(StoreError::GroupCommit);
            }
            ended = self.done.wait(ended).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Writers waiting for the connection: a unit that sees one leaves its group open for it.
#[derive(Debug, Default)]
pub(super) struct Queue(AtomicUsize);

impl SqliteStore {
    /// Runs `unit` as one all-or-nothing change, committed (with whatever concurrent units joined
    /// the same group) before this returns. If `unit` returns `Err` or panics, its changes are
    /// rolled back and the group goes on without them; if the group's commit fails, every member
    /// gets the error and none of their changes is kept.
    pub(super) fn write<T>(&self, unit: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.queue.0.fetch_add(1, Ordering::SeqCst);
        let mut writer = self.lock_writer();
        self.queue.0.fetch_sub(1, Ordering::SeqCst);
        let group = match &writer.group {
            Some(group) => group.clone(),
            None => {
                writer.conn.execute_batch("BEGIN IMMEDIATE")?;
                let group = Arc::new(Group::default());
                (writer.group, writer.units, writer.kept) = (Some(group.clone()), 0, 0);
                group
            }
        };
        writer.units += 1;
        let result = run_in_savepoint(&mut writer.conn, unit);
        writer.kept += usize::from(result.is_ok());
        let others_waiting = self.queue.0.load(Ordering::SeqCst) > 0;
        if others_waiting && writer.units < MAX_UNITS && !writer.conn.is_autocommit() {
            drop(writer);
            let ended = group.wait();
            return result.and_then(|value| ended.map(|()| value));
        }
        let ended = writer.end_group(&self.stats);
        drop(writer);
        result.and_then(|value| ended.map(|()| value))
    }

    /// Runs `unit` as [`SqliteStore::write`] does; a refusal commits what the unit wrote before
    /// it (its audit record) and comes back as [`Declined::Refused`].
    pub(super) fn governed<T>(&self, unit: impl FnOnce(&Connection) -> Result<T, Declined>) -> Result<T, Declined> {
        self.write(|tx| Settled::of(unit(tx)))?.declined()
    }

    /// The write connection with no group open on it: for settings, and for reads of an
    /// in-memory store, which has no other connection to read from.
    pub(super) fn idle_writer(&self) -> MutexGuard<'_, Writer> {
        let mut writer = self.lock_writer();
        if let Err(e) = writer.end_group(&self.stats) {
            tracing::error!("committing a group of store changes failed: {e}");
        }
        writer
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // A unit that panicked was rolled back to its savepoint as it unwound, so the connection
        // and the group it was part of are safe to go on with.
        self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs `unit` inside a savepoint: released when it returns `Ok`, rolled back when it returns
/// `Err` or unwinds.
fn run_in_savepoint<T>(
    conn: &mut Connection,
    unit: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let savepoint = conn.savepoint()?;
    let value = unit(&savepoint)?;
    savepoint.commit()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;
    use crate::{AuditStore, DEMO_TENANT, DirectoryStore, InvocationStore, UpkeepStore, seed_demo};

    fn file_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("provhost.db")).unwrap());
        store.insert_tenant("t", "T").unwrap();
        (dir, store)
    }

    fn insert_system(conn: &Connection, id: &str) -> Result<(), StoreError> {
        conn.execute("INSERT INTO systems (tenant, id, name, consumes) VALUES ('t', ?1, ?1, '[]')", [id])?;
        Ok(())
    }

    fn systems(store: &SqliteStore) -> Vec<String> {
        store.systems("t").unwrap().into_iter().map(|s| s.id).collect()
    }

    /// Three writers in one group: the first holds the connection until the other two queue
    /// behind it; the second fails after writing; the third commits for the group.
    #[test]
    fn a_failed_unit_rolls_back_alone_and_the_group_commits_once() {
        let (_dir, store) = file_store();
        let before = (store.group_stats().groups(), store.group_stats().units());
        let holding = Arc::new(Barrier::new(2));
        let first = {
            let (store, holding) = (store.clone(), holding.clone());
            std::thread::spawn(move || {
                store.write(|c| {
                    insert_system(c, "first")?;
                    holding.wait();
                    while store.queue.0.load(Ordering::SeqCst) < 2 {
                        std::thread::yield_now();
                    }
                    Ok(())
                })
            })
        };
        holding.wait();
        let failing = {
            let store = store.clone();
            std::thread::spawn(move || {
                store.write(|c| {
                    insert_system(c, "second")?;
                    Err::<(), _>(StoreError::Conflict("the second unit changed its mind".into()))
                })
            })
        };
        while store.queue.0.load(Ordering::SeqCst) < 1 {
            std::thread::yield_now();
        }
        let third = store.write(|c| insert_system(c, "third"));
        assert!(third.is_ok(), "{third:?}");
        assert!(first.join().unwrap().is_ok());
        let err = failing.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("changed its mind"), "{err}");
        assert_eq!(systems(&store), ["first", "third"]);
        let after = (store.group_stats().groups(), store.group_stats().units());
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2), "one commit for the two units that kept theirs");
    }

    #[test]
    fn a_panicking_unit_leaves_nothing_behind_and_the_store_goes_on() {
        let (_dir, store) = file_store();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.write(|c| {
                insert_system(c, "half")?;
                panic!("a bug in the middle of a unit");
                #[allow(unreachable_code)]
                Ok(())
            })
        }));
        assert!(panicked.is_err());
        store.write(|c| insert_system(c, "whole")).unwrap();
        assert_eq!(systems(&store), ["whole"]);
    }

    #[test]
    fn concurrent_writers_all_commit_and_the_audit_chain_holds() {
        let (_dir, store) = file_store();
        seed_demo(&*store).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for j in 0..25 {
                        let record = provhost_core::audit::InvocationRecord::history(
                            &provhost_core::model::new_id(),
                            DEMO_TENANT,
                            "test",
                            &format!("writer {i}, unit {j}"),
                        );
                        store.commit_invocation(&record, &[]).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let verification = store.verify_audit(DEMO_TENANT).unwrap();
        assert!(verification.broken.is_none(), "{verification:?}");
        let invocations = store.counts(DEMO_TENANT).unwrap().invocations;
        assert!(invocations >= 200, "{invocations}");
    }
}
