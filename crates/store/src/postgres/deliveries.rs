//! Webhook deliveries: queued durably in the transaction of the change they tell of, claimed by
//! one sender at a time (`FOR UPDATE SKIP LOCKED`, under a lease on the database's clock, fenced
//! by a token per claim), retried with backoff, dead-lettered after the last try, re-driven on
//! request.

use std::time::Duration;

use postgres::Row;

use super::audit::append as append_audit;
use super::wakeups::announce;
use super::{PostgresStore, StoreError, now_ms};
use crate::claims::millis;
use crate::deliveries::{claim_lost, in_turn, status_from};
use crate::postgres::statements::Tx;
use crate::{Attempt, Delivery, DeliveryClaim, DeliveryStore, DirectoryStore, DueDeliveries, DuePage, Queued};
use provhost_core::api::DeliveryStatus;
use provhost_core::audit::entries;
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "id, tenant, url, payload, status, attempts, next_attempt_at, last_error, created_at";

fn read(r: &Row) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.get(0),
        tenant: r.get(1),
        url: r.get(2),
        payload: r.get(3),
        status: status_from(r.get(4))?,
        attempts: r.get::<_, i64>(5) as u32,
        next_attempt_at: r.get(6),
        last_error: r.get(7),
        created_at: r.get(8),
    })
}

/// Claims up to `room` of the tenant's pending deliveries due by `due`, oldest first, that no
/// sender holds or whose lease passed by `now`, skipping those another transaction has locked.
fn claim_of(
    tx: &mut Tx<'_, '_>,
    (tenant, room): (&str, usize),
    (owner, now, until): (&str, i64, i64),
    due: &str,
) -> Result<Vec<DeliveryClaim>, StoreError> {
    let rows = tx.query(
        &format!(
            "UPDATE deliveries SET lease_owner = $3, lease_until_ms = $4, lease_token = lease_token + 1
             WHERE id IN (SELECT id FROM deliveries WHERE tenant = $1 AND status = 'pending' AND next_attempt_at <= $2
                          AND (lease_until_ms IS NULL OR lease_until_ms < $5)
                          ORDER BY next_attempt_at LIMIT $6 FOR UPDATE SKIP LOCKED)
             RETURNING {COLUMNS}, lease_token"
        ),
        &[&tenant, &due, &owner, &until, &now, &(room as i64)],
    )?;
    let mut claims = rows
        .iter()
        .map(|r| Ok(DeliveryClaim { delivery: read(r)?, token: r.get(9) }))
        .collect::<Result<Vec<_>, StoreError>>()?;
    claims.sort_by(|a, b| a.delivery.next_attempt_at.cmp(&b.delivery.next_attempt_at));
    Ok(claims)
}

/// Queues deliveries, due now, inside the transaction `tx` of the change they tell of.
pub(super) fn insert(tx: &mut Tx<'_, '_>, tenant: &str, queued: &[(String, String)]) -> Result<(), StoreError> {
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
    announce(tx, Queued::Deliveries)
}

impl DeliveryStore for PostgresStore {
    fn claim_deliveries(&self, owner: &str, lease: Duration, page: DuePage<'_>) -> Result<DueDeliveries, StoreError> {
        let tenants = self.tenant_ids()?;
        let due = now_rfc3339();
        self.write(|tx| {
            let now = now_ms(tx)?;
            let holder = (owner, now, now.saturating_add(millis(lease)));
            in_turn(&tenants, page, |tenant, room| claim_of(tx, (tenant, room), holder, &due))
        })
    }

    fn next_delivery_due(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_one("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'", &[])?.get(0))
        })
    }

    fn record_attempt(&self, owner: &str, claim: &DeliveryClaim, attempt: &Attempt) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let (status, error, retry_at) = match attempt {
            Attempt::Delivered => (DeliveryStatus::Delivered, None, None),
            Attempt::Retry { error, retry_at } => (DeliveryStatus::Pending, Some(error), Some(retry_at)),
            Attempt::Dead { error } => (DeliveryStatus::Dead, Some(error), None),
        };
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE deliveries SET status = $4, attempts = attempts + 1, last_error = $5,
                        next_attempt_at = COALESCE($6, next_attempt_at), updated_at = $7,
                        lease_owner = NULL, lease_until_ms = NULL
                 WHERE id = $1 AND lease_owner = $2 AND lease_token = $3 AND status = 'pending'",
                &[&claim.delivery.id, &owner, &claim.token, &status.as_str(), &error, &retry_at, &now],
            )?;
            if changed == 0 {
                return Err(claim_lost(claim));
            }
            Ok(())
        })
    }

    fn deliveries(
        &self,
        tenant: &str,
        status: Option<DeliveryStatus>,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let status = status.map(DeliveryStatus::as_str);
        let sql = format!(
            "SELECT {COLUMNS} FROM deliveries WHERE tenant = $1 AND ($2::text IS NULL OR status = $2)
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        );
        let rows = self.read(|c| Ok(c.query_planned(&sql, &[&tenant, &status, &(limit as i64), &(offset as i64)])?))?;
        rows.iter().map(read).collect()
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
            append_audit(tx, tenant, &[entries::delivery_redriven(id, by)])?;
            announce(tx, Queued::Deliveries)
        })
    }
}
