//! Webhook deliveries: queued durably in the transaction of the change they tell of, retried
//! with backoff, dead-lettered after the last try, re-driven on request.

use postgres::{Row, Transaction};

use super::audit::append as append_audit;
use super::{PostgresStore, StoreError};
use crate::{Delivery, DeliveryStore, DirectoryStore};
use provhost_core::audit::entries;
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "id, tenant, url, payload, status, attempts, next_attempt_at, last_error, created_at";

fn read(r: &Row) -> Delivery {
    Delivery {
        id: r.get(0),
        tenant: r.get(1),
        url: r.get(2),
        payload: r.get(3),
        status: r.get(4),
        attempts: r.get::<_, i64>(5) as u32,
        next_attempt_at: r.get(6),
        last_error: r.get(7),
        created_at: r.get(8),
    }
}

/// Queues deliveries, due now, inside the transaction `tx` of the change they tell of.
pub(super) fn insert(tx: &mut Transaction<'_>, tenant: &str, queued: &[(String, String)]) -> Result<(), StoreError> {
    if queued.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = queued.iter().map(|_| new_id()).collect();
    let (urls, payloads): (Vec<&str>, Vec<&str>) = queued.iter().map(|(u, p)| (u.as_str(), p.as_str())).unzip();
    tx.execute(
        &format!(
            "INSERT INTO deliveries ({COLUMNS}, updated_at)
             SELECT i, $1, u, p, 'pending', 0, $5, NULL, $5, $5 FROM UNNEST($2::text[], $3::text[], $4::text[]) AS q(i, u, p)"
        ),
        &[&tenant, &ids, &urls, &payloads, &now_rfc3339()],
    )?;
    Ok(())
}

impl DeliveryStore for PostgresStore {
    fn due_deliveries(
        &self,
        (start, per_tenant, limit): (usize, usize, usize),
    ) -> Result<(Vec<Delivery>, usize), StoreError> {
        let tenants = self.tenant_ids()?;
        if tenants.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let (now, start) = (now_rfc3339(), start % tenants.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE tenant = $1 AND status = 'pending' AND next_attempt_at <= $2
             ORDER BY next_attempt_at LIMIT $3"
        );
        self.read(|c| {
            let mut due = Vec::new();
            let mut next = start;
            for (turn, tenant) in tenants[start..].iter().chain(&tenants[..start]).enumerate() {
                let room = per_tenant.min(limit - due.len());
                if room == 0 {
                    break;
                }
                let rows = c.query(&sql, &[tenant, &now, &(room as i64)])?;
                if !rows.is_empty() {
                    next = (start + turn + 1) % tenants.len();
                }
                due.extend(rows.iter().map(read));
            }
            Ok((due, next))
        })
    }

    fn next_delivery_due(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_one("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'", &[])?.get(0))
        })
    }

    fn record_attempt(&self, id: &str, outcome: Result<(), (String, Option<String>)>) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|tx| {
            match &outcome {
                Ok(()) => tx.execute(
                    "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, last_error = NULL, updated_at = $2 WHERE id = $1",
                    &[&id, &now],
                )?,
                Err((error, Some(retry_at))) => tx.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, updated_at = $4 WHERE id = $1",
                    &[&id, error, retry_at, &now],
                )?,
                Err((error, None)) => tx.execute(
                    "UPDATE deliveries SET status = 'dead', attempts = attempts + 1, last_error = $2, updated_at = $3 WHERE id = $1",
                    &[&id, error, &now],
                )?,
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
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE tenant = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        );
        let rows = self.read(|c| Ok(c.query(&sql, &[&tenant, &status, &(limit as i64), &(offset as i64)])?))?;
        Ok(rows.iter().map(read).collect())
    }

    fn redrive(&self, tenant: &str, id: &str, by: &str) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, updated_at = $3
                 WHERE tenant = $1 AND id = $2 AND status = 'dead'",
                &[&tenant, &id, &now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound { kind: "dead delivery", id: id.into(), tenant: tenant.into() });
            }
            append_audit(tx, tenant, &[entries::delivery_redriven(id, by)])
        })
    }
}
