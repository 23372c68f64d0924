//! Kept events in SQLite: kept within the tenant's bound in one transaction (the invocation's
//! commit, when it ran on the event), read by plugin and time in pages, purged by age.

use rusqlite::{Connection, params};

use super::audit::append as append_audit;
use super::invocations::commit_in;
use super::{SqliteStore, StoreError};
use crate::{Commit, Declined, EventBounds, EventRange, EventStore, Kept, KeptEvent};
use provhost_core::audit::AuditEntry;

/// Drops a tenant's oldest kept events until the newer ones hold at most `?2` bytes.
const DROP_OLDEST_SQL: &str = "DELETE FROM kept_events WHERE tenant = ?1 AND seq IN (
         SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS held
                          FROM kept_events WHERE tenant = ?1)
         WHERE held > ?2)";

/// Keeps `event` inside the write transaction `tx` unless it is larger than `bounds` allow, then
/// drops the tenant's oldest kept events until it holds at most `max_tenant_bytes`.
fn keep_in(tx: &Connection, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, StoreError> {
    let bytes = event.bytes();
    if bytes > bounds.max_event_bytes {
        return Ok(Kept::TooLarge { bytes });
    }
    tx.prepare_cached(
        "INSERT INTO kept_events (tenant, invocation, plugin, at, event, decided, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        event.tenant,
        event.invocation,
        event.plugin,
        event.at,
        event.event,
        event.decided,
        bytes as i64
    ])?;
    let seq = tx.last_insert_rowid() as u64;
    let held: i64 = tx
        .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM kept_events WHERE tenant = ?1")?
        .query_row([&event.tenant], |r| r.get(0))?;
    let dropped = if held as u64 > bounds.max_tenant_bytes {
        tx.prepare_cached(DROP_OLDEST_SQL)?.execute(params![event.tenant, bounds.max_tenant_bytes as i64])?
    } else {
        0
    };
    Ok(Kept::Kept { seq, dropped: dropped as u64 })
}

impl EventStore for SqliteStore {
    fn keep_event(&self, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, StoreError> {
        self.write(|tx| keep_in(tx, event, bounds))
    }

    fn commit_keeping(&self, commit: &Commit<'_>, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, Declined> {
        self.governed(|tx| {
            commit_in(tx, commit)?;
            Ok(keep_in(tx, event, bounds)?)
        })
    }

    fn kept_events(&self, tenant: &str, plugin: &str, range: &EventRange) -> Result<Vec<KeptEvent>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, tenant, invocation, plugin, at, event, decided FROM kept_events
             WHERE tenant = ?1 AND plugin = ?2
               AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4) AND (?7 IS NULL OR seq > ?7)
             ORDER BY seq LIMIT ?5 OFFSET ?6",
        )?;
        let rows = stmt.query_map(
            params![
                tenant,
                plugin,
                range.since,
                range.until,
                range.limit as i64,
                range.offset as i64,
                range.after.map(|seq| seq as i64)
            ],
            |r| {
                Ok(KeptEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    tenant: r.get(1)?,
                    invocation: r.get(2)?,
                    plugin: r.get(3)?,
                    at: r.get(4)?,
                    event: r.get(5)?,
                    decided: r.get(6)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn purge_events(&self, tenant: &str, before: &str) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx
                .prepare_cached("DELETE FROM kept_events WHERE tenant = ?1 AND at < ?2")?
                .execute(params![tenant, before])?;
            Ok(n as u64)
        })
    }

    fn record_replay(&self, tenant: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| append_audit(tx, tenant, std::slice::from_ref(entry)))
    }
}
