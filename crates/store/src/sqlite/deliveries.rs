//! Webhook deliveries: queued durably, claimed by one sender at a time under a lease on the
//! store's clock fenced by a token per claim, retried with backoff, dead-lettered after the last
//! try, re-driven on request.

use std::time::Duration;

use rusqlite::{Connection, Row, params};

use super::audit::append as append_audit;
use super::{SqliteStore, StoreError};
use crate::claims::millis;
use crate::deliveries::{claim_lost, in_turn, status_from};
use crate::{Attempt, Delivery, DeliveryClaim, DeliveryStore, DirectoryStore, DueDeliveries, DuePage};
use provhost_core::api::DeliveryStatus;
use provhost_core::audit::entries;
use provhost_core::model::{new_id, now_rfc3339};

const COLUMNS: &str = "id, tenant, url, payload, status, attempts, next_attempt_at, last_error, created_at";

/// A tenant's pending deliveries due by `?2` that no sender holds or whose lease passed by `?4`,
/// oldest first, at most `?3`; with their fencing tokens.
pub(super) const DUE_DELIVERIES_SQL: &str = "SELECT id, tenant, url, payload, status, attempts, next_attempt_at, \
     last_error, created_at, lease_token FROM deliveries WHERE tenant = ?1 AND status = 'pending' \
     AND next_attempt_at <= ?2 AND (lease_until_ms IS NULL OR lease_until_ms < ?4) ORDER BY next_attempt_at LIMIT ?3";

fn read(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let status: String = r.get(4)?;
    Ok(Delivery {
        id: r.get(0)?,
        tenant: r.get(1)?,
        url: r.get(2)?,
        payload: r.get(3)?,
        status: status_from(&status).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
    })
}

/// Claims up to `room` of the tenant's deliveries due by `due` for `owner` until `until`, each
/// with the next fencing token.
fn claim_of(
    tx: &Connection,
    (tenant, room): (&str, usize),
    (owner, now, until): (&str, i64, i64),
    due: &str,
) -> Result<Vec<DeliveryClaim>, StoreError> {
    let found = tx
        .prepare_cached(DUE_DELIVERIES_SQL)?
        .query_map(params![tenant, due, room as i64, now], |r| {
            Ok(DeliveryClaim { delivery: read(r)?, token: r.get::<_, i64>(9)? + 1 })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut take = tx.prepare_cached(
        "UPDATE deliveries SET lease_owner = ?2, lease_until_ms = ?3, lease_token = ?4 WHERE id = ?1",
    )?;
    for claim in &found {
        take.execute(params![claim.delivery.id, owner, until, claim.token])?;
    }
    Ok(found)
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
    fn claim_deliveries(&self, owner: &str, lease: Duration, page: DuePage<'_>) -> Result<DueDeliveries, StoreError> {
        let tenants = self.tenant_ids()?;
        let due = now_rfc3339();
        self.write(|tx| {
            let now = self.clock.tick(tx)?;
            let holder = (owner, now, now.saturating_add(millis(lease)));
            in_turn(&tenants, page, |tenant, room| claim_of(tx, (tenant, room), holder, &due))
        })
    }

    fn next_delivery_due(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    fn record_attempt(&self, owner: &str, claim: &DeliveryClaim, attempt: &Attempt) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let (status, error, retry_at) = match attempt {
            Attempt::Delivered => (DeliveryStatus::Delivered, None, None),
            Attempt::Retry { error, retry_at } => (DeliveryStatus::Pending, Some(error), Some(retry_at)),
            Attempt::Dead { error } => (DeliveryStatus::Dead, Some(error), None),
        };
        self.write(|conn| {
            let changed = conn
                .prepare_cached(
                    "UPDATE deliveries SET status = ?4, attempts = attempts + 1, last_error = ?5,
                            next_attempt_at = COALESCE(?6, next_attempt_at), updated_at = ?7,
                            lease_owner = NULL, lease_until_ms = NULL
                     WHERE id = ?1 AND lease_owner = ?2 AND lease_token = ?3 AND status = 'pending'",
                )?
                .execute(params![claim.delivery.id, owner, claim.token, status.as_str(), error, retry_at, now])?;
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
    fn due_deliveries_are_claimed_tenant_by_tenant_so_a_backlog_holds_back_no_one() {
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
        let tenants = |due: &DueDeliveries| due.claims.iter().map(|c| c.delivery.tenant.clone()).collect::<Vec<_>>();
        let claim = |start, limit, in_flight: &[(String, usize)]| {
            let page = DuePage { start, per_tenant: 4, limit, in_flight };
            store.claim_deliveries("sender", Duration::from_secs(60), page).unwrap()
        };
        let sending = [("a-busy".to_string(), 3), ("b-quiet".to_string(), 4)];
        let due = claim(0, 256, &sending);
        assert_eq!(tenants(&due), ["a-busy", "c-quiet"], "each tenant fills up to its share in flight");
        assert_eq!(due.next, 0, "the turn goes round to the first tenant again");
        let due = claim(1, 2, &[]);
        assert_eq!(
            (tenants(&due), due.next),
            (vec!["b-quiet".to_string(), "a-busy".to_string()], 1),
            "c's one is claimed already"
        );
        let due = claim(0, 2, &[]);
        assert_eq!(
            (tenants(&due), due.next),
            (vec!["a-busy".to_string(); 2], 1),
            "bounded in all, the next turn is b's"
        );
    }
}
