//! Webhook deliveries: queued durably, retried with backoff, dead-lettered after the last try,
//! re-driven on request.

use rusqlite::{Connection, Row, params};
use serde::Serialize;

use super::audit::append as append_audit;
use super::{Store, StoreError};
use crate::audit::entries;
use crate::model::{new_id, now_rfc3339};

/// One notification to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Its id (sent in `X-Provhost-Delivery`).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// Where it goes.
    pub url: String,
    /// The JSON body.
    pub payload: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    /// Tries so far.
    pub attempts: u32,
    /// When the next try is due (RFC 3339).
    pub next_attempt_at: String,
    /// What the last failed try met.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: String,
}

const COLUMNS: &str = "id, tenant, url, payload, status, attempts, next_attempt_at, last_error, created_at";

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

impl Store {
    /// Pending deliveries due by now, oldest first.
    pub fn due_deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now_rfc3339(), limit as i64], read)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// When the next pending delivery is due, if any.
    pub fn next_delivery_due(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    /// Records a try: delivered, or failed with `error` and retried at `retry_at` (`None`: dead).
    pub fn record_attempt(&self, id: &str, outcome: Result<(), (String, Option<String>)>) -> Result<(), StoreError> {
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

    /// The tenant's deliveries in a state, newest first.
    pub fn deliveries(
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

    /// Puts a dead delivery back in the queue, due now, with a fresh count of tries; recorded in
    /// the audit trail with the key that asked (`by`).
    pub fn redrive(&self, tenant: &str, id: &str, by: &str) -> Result<(), StoreError> {
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
