//! The store's own clock, which leases and follow-ups are timed by: integer milliseconds that
//! never go back and never follow the wall clock. Each process advances it by what its monotonic
//! clock measured since it last saw the stored value, and the store keeps the highest value any
//! process wrote. A wall clock set back or forward moves no lease; while no process runs, the
//! clock stands still, so a lease left by a process that died passes a lease's length after the
//! next one starts.

use std::sync::Mutex;
use std::time::Instant;

use rusqlite::Connection;

use crate::claims::millis;

use super::StoreError;

/// One process's view of the store's clock.
#[derive(Debug, Default)]
pub(super) struct Clock {
    /// When this process last set its view to a stored value, and that value.
    base: Mutex<Option<(Instant, i64)>>,
}

impl Clock {
    /// The store's time now, inside the write transaction `tx`; written back, so that every
    /// process's next reading is at least this.
    pub(super) fn tick(&self, tx: &Connection) -> Result<i64, StoreError> {
        let stored = stored(tx)?;
        let now = self.view(stored);
        if now > stored {
            tx.prepare_cached("UPDATE store_clock SET ms = ?1 WHERE id = 1")?.execute([now])?;
        }
        Ok(now)
    }

    /// The store's time now as read on `conn`, without writing it.
    pub(super) fn read(&self, conn: &Connection) -> Result<i64, StoreError> {
        Ok(self.view(stored(conn)?))
    }

    /// This process's reading given the stored value: its own count since its base, or the stored
    /// value when another process has written a later one (which becomes the new base).
    fn view(&self, stored: i64) -> i64 {
        let mut base = self.base.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let mine = base.map(|(at, ms)| ms.saturating_add(millis(now - at)));
        match mine {
            Some(mine) if mine >= stored => mine,
            _ => {
                *base = Some((now, stored));
                stored
            }
        }
    }
}

fn stored(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.prepare_cached("SELECT ms FROM store_clock WHERE id = 1")?.query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn memory() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::sqlite::schema::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn the_clock_counts_elapsed_time_from_the_stored_value_and_never_goes_back() {
        let conn = memory();
        let clock = Clock::default();
        assert_eq!(clock.tick(&conn).unwrap(), 0, "a new store starts at zero, whatever the wall clock says");
        std::thread::sleep(Duration::from_millis(30));
        let later = clock.tick(&conn).unwrap();
        assert!((30..1_000).contains(&later), "{later}");
        assert_eq!(stored(&conn).unwrap(), later, "written back");

        // Another process's clock ran ahead: this one follows it and goes on from there.
        conn.execute("UPDATE store_clock SET ms = 1000000", []).unwrap();
        let caught_up = clock.tick(&conn).unwrap();
        assert!(caught_up >= 1_000_000, "{caught_up}");
        // A stored value set back (a process with a lagging view) does not move it back.
        conn.execute("UPDATE store_clock SET ms = 5", []).unwrap();
        assert!(clock.read(&conn).unwrap() >= caught_up);
        assert!(clock.tick(&conn).unwrap() >= caught_up);
        assert!(stored(&conn).unwrap() >= caught_up, "the highest reading is kept");
    }

    #[test]
    fn a_process_starting_later_continues_from_the_stored_value() {
        let conn = memory();
        conn.execute("UPDATE store_clock SET ms = 42000", []).unwrap();
        let fresh = Clock::default();
        assert_eq!(fresh.read(&conn).unwrap(), 42_000, "no time passes while no process runs");
    }
}
