//! Webhook deliveries: queued durably, retried with backoff, dead-lettered after the last try,
//! re-driven on request.

use rusqlite::{Connection, Row, params};

use super::audit::append as append_audit;
use super::{SqliteStore, StoreError};
use crate::{Delivery, DeliveryStore, DirectoryStore};
use provhost_core::audit::entries;
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "id, tenant, url, payload, status, attempts, next_attempt_at, last_error, created_at";

/// A tenant's pending deliveries due by `?2`, oldest first, at most `?3`.
pub(super) const DUE_DELIVERIES_SQL: &str = "SELECT id, tenant, url, payload, status, attempts, next_attempt_at, \
     last_error, created_at FROM deliveries WHERE tenant = ?1 AND status = 'pending' AND next_attempt_at <= ?2 \
     ORDER BY next_attempt_at LIMIT ?3";

fn read(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        tenant: r.get(1)?,
        url: r.get(2)?,
        payload: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
    })
}

/// Queues a delivery, due now, inside the transaction `tx` of the change it tells of; returns its id.
pub(super) fn insert(tx: &Connection, tenant: &str, url: &str, payload: &str) -> Result<String, StoreError> {
    let (id, now) = (new_id(), now_rfc3339());
    tx.prepare_cached(&format!(
        "INSERT INTO deliveries ({COLUMNS}, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, NULL, ?5, ?5)"
    ))?
    .execute(params![id, tenant, url, payload, now])?;
    Ok(id)
}

impl DeliveryStore for SqliteStore {
    fn due_deliveries(
        &self,
        (start, per_tenant, limit): (usize, usize, usize),
    ) -> Result<(Vec<Delivery>, usize), StoreError> {
        let tenants = self.tenant_ids()?;
        if tenants.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(DUE_DELIVERIES_SQL)?;
        let (now, start) = (now_rfc3339(), start % tenants.len());
        let mut due = Vec::new();
        let mut next = start;
        for (turn, tenant) in tenants[start..].iter().chain(&tenants[..start]).enumerate() {
            let room = per_tenant.min(limit - due.len());
            if room == 0 {
                break;
            }
            let before = due.len();
            for row in stmt.query_map(params![tenant, now, room as i64], read)? {
                due.push(row?);
            }
            if due.len() > before {
                next = (start + turn + 1) % tenants.len();
            }
        }
        Ok((due, next))
    }

    fn next_delivery_due(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    fn record_attempt(&self, id: &str, outcome: Result<(), (String, Option<String>)>) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|conn| {
            match outcome {
                Ok(()) => conn.prepare_cached("UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, last_error = NULL, updated_at = ?2 WHERE id = ?1")?.execute(params![id, now])?,
                Err((error, Some(retry_at))) => conn.prepare_cached("UPDATE deliveries SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE id = ?1")?.execute(params![id, error, retry_at, now])?,
                Err((error, None)) => conn.prepare_cached("UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = ?2, updated_at = ?3 WHERE id = ?1")?.execute(params![id, error, now])?,
            };
            Ok(())
        })
    }

    fn deliveries(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM deliveries WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2)
             ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4"
        ))?;
        let rows = stmt
            .query_map(params![tenant, status, limit as i64, offset as i64], read)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn redrive(&self, tenant: &str, id: &str, by: &str) -> Result<(), StoreError> {
        self.write(|c| {
            let changed = c
                .prepare_cached(
                    "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?3, updated_at = ?3
                     WHERE tenant = ?1 AND id = ?2 AND status = 'dead'",
                )?
                .execute(params![tenant, id, now_rfc3339()])?;
            if changed == 0 {
                return Err(StoreError::NotFound { kind: "dead delivery", id: id.into(), tenant: tenant.into() });
            }
            let entry = entries::delivery_redriven(id, by);
            append_audit(c, tenant, &[entry])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed_demo_as;

    #[test]
    fn due_deliveries_are_taken_tenant_by_tenant_so_a_backlog_holds_back_no_one() {
        let store = SqliteStore::in_memory().unwrap();
        for tenant in ["a-busy", "b-quiet", "c-quiet"] {
            seed_demo_as(&store, tenant, tenant).unwrap();
        }
        store
            .write(|tx| {
                for n in 0..100 {
                    insert(tx, "a-busy", "http://127.0.0.1:1/", &format!("{{\"n\":{n}}}"))?;
                }
                insert(tx, "b-quiet", "http://127.0.0.1:1/", "{}")?;
                insert(tx, "c-quiet", "http://127.0.0.1:1/", "{}").map(drop)
            })
            .unwrap();
        let tenants = |due: &[Delivery]| due.iter().map(|d| d.tenant.clone()).collect::<Vec<_>>();
        let (due, next) = store.due_deliveries((0, 4, 256)).unwrap();
        assert_eq!(tenants(&due), ["a-busy", "a-busy", "a-busy", "a-busy", "b-quiet", "c-quiet"]);
        assert_eq!(next, 0, "the turn goes round to the first tenant again");
        let (due, next) = store.due_deliveries((1, 4, 2)).unwrap();
        assert_eq!((tenants(&due), next), (vec!["b-quiet".to_string(), "c-quiet".to_string()], 0));
        let (due, next) = store.due_deliveries((0, 4, 2)).unwrap();
        assert_eq!((tenants(&due), next), (vec!["a-busy".to_string(); 2], 1), "bounded in all, the next turn is b's");
    }
}
