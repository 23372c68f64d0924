//! Kept events in PostgreSQL: kept within the tenant's bound in one transaction (the invocation's
//! commit, when it ran on the event), read by plugin and time in pages, purged by age.

use postgres::Row;

use super::audit::append as append_audit;
use super::{PostgresStore, StoreError};
use crate::postgres::statements::Tx;
use crate::{Commit, Declined, EventBounds, EventRange, EventStore, Kept, KeptEvent};
use provhost_core::audit::AuditEntry;

/// Drops a tenant's oldest kept events until the newer ones hold at most `$2` bytes.
const DROP_OLDEST_SQL: &str = "DELETE FROM kept_events WHERE tenant = $1 AND seq IN (
         SELECT seq FROM (SELECT seq, SUM(bytes) OVER (ORDER BY seq DESC) AS held
                          FROM kept_events WHERE tenant = $1) AS running
         WHERE held > $2::bigint)";

fn kept(row: &Row) -> KeptEvent {
    KeptEvent {
        seq: row.get::<_, i64>(0) as u64,
        tenant: row.get(1),
        invocation: row.get(2),
        plugin: row.get(3),
        at: row.get(4),
        event: row.get(5),
        decided: row.get(6),
    }
}

/// Keeps `event` inside the write transaction `tx` unless it is larger than `bounds` allow, then
/// drops the tenant's oldest kept events until it holds at most `max_tenant_bytes`.
pub(super) fn keep_in(tx: &mut Tx<'_, '_>, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, StoreError> {
    let bytes = event.bytes();
    if bytes > bounds.max_event_bytes {
        return Ok(Kept::TooLarge { bytes });
    }
    let max_tenant = bounds.max_tenant_bytes as i64;
    let seq: i64 = tx
        .query_one(
            "INSERT INTO kept_events (tenant, invocation, plugin, at, event, decided, bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
            &[
                &event.tenant,
                &event.invocation,
                &event.plugin,
                &event.at,
                &event.event,
                &event.decided,
                &(bytes as i64),
            ],
        )?
        .get(0);
    let held: i64 = tx
        .query_one("SELECT COALESCE(SUM(bytes), 0)::bigint FROM kept_events WHERE tenant = $1", &[&event.tenant])?
        .get(0);
    let dropped = if held > max_tenant { tx.execute(DROP_OLDEST_SQL, &[&event.tenant, &max_tenant])? } else { 0 };
    Ok(Kept::Kept { seq: seq as u64, dropped })
}

impl EventStore for PostgresStore {
    fn keep_event(&self, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, StoreError> {
        self.write(|tx| keep_in(tx, event, bounds))
    }

    fn commit_keeping(&self, commit: &Commit<'_>, event: &KeptEvent, bounds: EventBounds) -> Result<Kept, Declined> {
        let kept = super::off_runtime(|| self.commit_grouped(commit, Some((event, bounds))))?;
        Ok(kept.expect("a plan committed with its event says what keeping it did"))
    }

    fn kept_events(&self, tenant: &str, plugin: &str, range: &EventRange) -> Result<Vec<KeptEvent>, StoreError> {
        let (limit, offset, after) = (range.limit as i64, range.offset as i64, range.after.map(|seq| seq as i64));
        let rows = self.read(|c| {
            Ok(c.query_planned(
                "SELECT seq, tenant, invocation, plugin, at, event, decided FROM kept_events
                 WHERE tenant = $1 AND plugin = $2
                   AND ($3::text IS NULL OR at >= $3) AND ($4::text IS NULL OR at < $4)
                   AND ($7::bigint IS NULL OR seq > $7)
                 ORDER BY seq LIMIT $5 OFFSET $6",
                &[&tenant, &plugin, &range.since, &range.until, &limit, &offset, &after],
            )?)
        })?;
        Ok(rows.iter().map(kept).collect())
    }

    fn purge_events(&self, tenant: &str, before: &str) -> Result<u64, StoreError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM kept_events WHERE tenant = $1 AND at < $2", &[&tenant, &before])?))
    }

    fn record_replay(&self, tenant: &str, entry: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| append_audit(tx, tenant, std::slice::from_ref(entry)))
    }
}
