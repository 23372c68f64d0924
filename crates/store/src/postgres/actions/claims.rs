//! Executors on every host claiming committed actions under leases that fence. A claim takes
//! runnable rows with `FOR UPDATE SKIP LOCKED`, so executors on two hosts never wait for each
//! other's rows nor take the same one; each claim takes a new fencing token and holds a lease on
//! the database's clock. Every later change the claim makes names the token, so an executor whose
//! lease passed and whose action was taken up again changes nothing. A host that dies leaves its
//! claims to lapse; once a lease passes, an executor on another host takes the action up.

use std::time::Duration;

use postgres::Row;

use super::transitions::{apply, set_state, unit_entry};
use super::{ACTION_COLUMNS, action_from};
use crate::claims::{Ending, Wait, millis};
use crate::postgres::audit::append as append_audit;
use crate::postgres::deliveries::insert as insert_deliveries;
use crate::postgres::statements::Tx;
use crate::postgres::{PostgresStore, now_ms};
use crate::{Batch, Claim, ClaimStore, Due, Finish, Following, LeaseKey, Notify, OpenActions, StoreError};
use provhost_core::audit::Actor;
use provhost_core::model::{Action, ActionState};

/// An action's row as the claim query reads it.
struct Runnable {
    tenant: String,
    id: String,
    state: String,
    previous: Option<String>,
    attempts: i64,
    follow_ref: Option<String>,
    follow_since: Option<i64>,
}

const RUNNABLE_COLUMNS: &str = "tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms";

fn runnable(r: &Row) -> Runnable {
    Runnable {
        tenant: r.get(0),
        id: r.get(1),
        state: r.get(2),
        previous: r.get(3),
        attempts: r.get(4),
        follow_ref: r.get(5),
        follow_since: r.get(6),
    }
}

/// Up to `limit` of the tenant's runnable actions, locked for this claim and skipped by every
/// other: those whose lease passed (or whose follow-up is due) first, then pending ones, oldest
/// first.
fn due_of(tx: &mut Tx<'_, '_>, tenant: &str, now: i64, limit: usize) -> Result<Vec<Runnable>, StoreError> {
    let lapsed = tx.query(
        &format!(
            "SELECT {RUNNABLE_COLUMNS} FROM actions WHERE tenant = $1 AND state IN ('pending', 'running', 'waiting')
             AND lease_until_ms < $2 ORDER BY lease_until_ms LIMIT $3 FOR UPDATE SKIP LOCKED"
        ),
        &[&tenant, &now, &(limit as i64)],
    )?;
    let mut found: Vec<Runnable> = lapsed.iter().map(runnable).collect();
    let left = limit - found.len();
    if left > 0 {
        let pending = tx.query(
            &format!(
                "SELECT {RUNNABLE_COLUMNS} FROM actions WHERE tenant = $1 AND state = 'pending'
                 ORDER BY n LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&tenant, &(left as i64)],
        )?;
        found.extend(pending.iter().map(runnable));
    }
    Ok(found)
}

/// Releases a claim's lease. An action left waiting keeps the platform's reference and is followed
/// up as `wait` says.
fn release(tx: &mut Tx<'_, '_>, tenant: &str, id: &str, wait: Option<Wait<'_>>) -> Result<(), StoreError> {
    let (reference, next, since) = (wait.map(|w| w.reference), wait.map(|w| w.next_ms), wait.map(|w| w.since_ms));
    tx.execute(
        "UPDATE actions SET lease_owner = NULL, lease_until_ms = $3, follow_ref = $4,
                follow_since_ms = CASE WHEN $4::text IS NULL THEN NULL ELSE COALESCE(follow_since_ms, $5) END
         WHERE tenant = $1 AND id = $2",
        &[&tenant, &id, &next, &reference, &since],
    )?;
    Ok(())
}

/// The places of `keys` in the order their actions' rows are locked in every transaction that
/// locks several (by tenant and id), so that an executor's ends and its keeper's renewals,
/// running at once, never wait for each other round a cycle.
fn lock_order<'a>(keys: impl Iterator<Item = &'a LeaseKey>) -> Vec<usize> {
    let keys: Vec<&LeaseKey> = keys.collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&at| (&keys[at].tenant, &keys[at].id));
    order
}

/// An action as a claim moved it, with its HelloID name.
type Moved = (Action, &'static str);

impl ClaimStore for PostgresStore {
    fn finish_actions(
        &self,
        tenant: &str,
        owner: &str,
        results: &[(LeaseKey, Finish)],
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, StoreError> {
        // `notify` stays on this thread: executors call this from blocking threads.
        self.write_here(|tx| {
            let now = now_ms(tx)?;
            let mut moved = Vec::with_capacity(results.len());
            for at in lock_order(results.iter().map(|(key, _)| key)) {
                let (claim, result) = &results[at];
                let held = tx.query_opt(
                    "SELECT state FROM actions WHERE tenant = $1 AND id = $2 AND lease_token = $3
                     AND lease_owner = $4 AND state IN ('running', 'waiting') FOR UPDATE",
                    &[&tenant, &claim.id, &claim.token, &owner],
                )?;
                let Some(state) = held.map(|r| r.get::<_, String>(0)) else { continue };
                let ending = Ending::of(result, now);
                if let Some(effect) = ending.effect {
                    apply(tx, tenant, effect)?;
                }
                release(tx, tenant, &claim.id, ending.wait)?;
                if ending.state == ActionState::Waiting && state == ActionState::Waiting.as_str() {
                    continue;
                }
                moved.push(set_state(tx, tenant, &claim.id, ending.state, ending.message)?);
            }
            if moved.is_empty() {
                return Ok(Vec::new());
            }
            append_audit(tx, tenant, &[unit_entry(Actor::EXECUTOR, &moved)])?;
            let ended: Vec<Action> = moved.into_iter().map(|(action, _)| action).collect();
            insert_deliveries(tx, tenant, &notify(&ended))?;
            Ok(ended)
        })
    }

    fn claim_actions(&self, owner: &str, lease: Duration, due: Due<'_>) -> Result<Vec<Claim>, StoreError> {
        self.write(|tx| {
            let now = now_ms(tx)?;
            let until = now.saturating_add(millis(lease));
            let found: Vec<Runnable> = match due {
                Due::Tenants(tenants) => {
                    let mut found = Vec::new();
                    for Batch { tenant, most } in tenants {
                        found.extend(due_of(tx, tenant, now, *most)?);
                    }
                    found
                }
                Due::These(tenant, ids) => {
                    let rows = tx.query(
                        &format!(
                            "SELECT {RUNNABLE_COLUMNS} FROM actions WHERE tenant = $1 AND id = ANY($2)
                             AND (state = 'pending' OR (state IN ('running', 'waiting') AND lease_until_ms < $3))
                             ORDER BY n FOR UPDATE SKIP LOCKED"
                        ),
                        &[&tenant, &ids, &now],
                    )?;
                    rows.iter().map(runnable).collect()
                }
            };
            let mut claims = Vec::with_capacity(found.len());
            let mut moved: Vec<(String, Moved)> = Vec::new();
            for row in found {
                let (claim, change) = claim_one(tx, owner, (now, until), row)?;
                moved.extend(change.map(|c| (claim.key.tenant.clone(), c)));
                claims.push(claim);
            }
            let mut tenants: Vec<String> = moved.iter().map(|(t, _)| t.clone()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            for tenant in tenants {
                let mine: Vec<Moved> = moved.iter().filter(|(t, _)| *t == tenant).map(|(_, m)| m.clone()).collect();
                append_audit(tx, &tenant, &[unit_entry(Actor::EXECUTOR, &mine)])?;
            }
            Ok(claims)
        })
    }

    fn due_tenants(&self, among: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = self.read(|c| {
            let now = now_ms(c)?;
            Ok(c.query(
                "SELECT t FROM UNNEST($1::text[]) AS t WHERE EXISTS (SELECT 1 FROM actions
                     WHERE tenant = t AND state IN ('pending', 'running', 'waiting')
                     AND (state = 'pending' OR lease_until_ms < $2))",
                &[&among, &now],
            )?)
        })?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn renew_leases(&self, owner: &str, lease: Duration, claims: &[LeaseKey]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx| {
            let until = now_ms(tx)?.saturating_add(millis(lease));
            let mut held = vec![false; claims.len()];
            for at in lock_order(claims.iter()) {
                let k = &claims[at];
                let renewed = tx.execute(
                    "UPDATE actions SET lease_until_ms = $5 WHERE tenant = $1 AND id = $2 AND lease_token = $3
                     AND lease_owner = $4 AND state IN ('running', 'waiting')",
                    &[&k.tenant, &k.id, &k.token, &owner, &until],
                )?;
                held[at] = renewed == 1;
            }
            Ok(held)
        })
    }

    fn note_follow(&self, owner: &str, claim: &LeaseKey, reference: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE actions SET follow_ref = $5 WHERE tenant = $1 AND id = $2 AND lease_token = $3
                 AND lease_owner = $4 AND state = 'running'",
                &[&claim.tenant, &claim.id, &claim.token, &owner, &reference],
            )?;
            Ok(changed == 1)
        })
    }

    fn open_actions_of(&self, tenant: &str) -> Result<u64, StoreError> {
        let n: i64 = self.read(|c| {
            Ok(c.query_one(
                "SELECT COUNT(*) FROM actions WHERE tenant = $1 AND state IN ('pending', 'running', 'waiting')",
                &[&tenant],
            )?
            .get(0))
        })?;
        Ok(n as u64)
    }

    fn open_actions(&self) -> Result<Vec<OpenActions>, StoreError> {
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT tenant, COUNT(*) FROM actions WHERE state IN ('pending', 'running', 'waiting')
                 GROUP BY tenant ORDER BY tenant",
                &[],
            )?)
        })?;
        Ok(rows.iter().map(|r| OpenActions { tenant: r.get(0), count: r.get::<_, i64>(1) as u64 }).collect())
    }
}

/// Claims one runnable action; returns the claim and, for a carry-out, its state change.
fn claim_one(
    tx: &mut Tx<'_, '_>,
    owner: &str,
    (now, until): (i64, i64),
    row: Runnable,
) -> Result<(Claim, Option<Moved>), StoreError> {
    let following = |reference: Option<String>| {
        reference.map(|reference| Following {
            reference,
            waited: Duration::from_millis(row.follow_since.map_or(0, |since| now.saturating_sub(since).max(0)) as u64),
        })
    };
    let key = |token: i64| LeaseKey { tenant: row.tenant.clone(), id: row.id.clone(), token };
    if row.state == ActionState::Waiting.as_str() {
        let found = tx.query_one(
            &format!(
                "UPDATE actions SET lease_owner = $3, lease_until_ms = $4, lease_token = lease_token + 1
                 WHERE tenant = $1 AND id = $2 RETURNING lease_token, {ACTION_COLUMNS}"
            ),
            &[&row.tenant, &row.id, &owner, &until],
        )?;
        let claim = Claim {
            key: key(found.get(0)),
            action: action_from(&found, 1)?,
            attempt: row.attempts.max(1) as u32,
            follow: following(row.follow_ref.clone()),
        };
        return Ok((claim, None));
    }
    let attempt = row.attempts + 1;
    let token: i64 = tx
        .query_one(
            "UPDATE actions SET lease_owner = $3, lease_until_ms = $4, attempts = $5, lease_token = lease_token + 1
             WHERE tenant = $1 AND id = $2 RETURNING lease_token",
            &[&row.tenant, &row.id, &owner, &until, &attempt],
        )?
        .get(0);
    let message = match &row.previous {
        Some(previous) => format!(
            "taken up again by executor {owner} (attempt {attempt}): the lease of executor {previous} passed before it finished"
        ),
        None => format!("picked up by executor {owner} (attempt {attempt})"),
    };
    let (action, name) = set_state(tx, &row.tenant, &row.id, ActionState::Running, &message)?;
    let claim = Claim {
        key: key(token),
        action: action.clone(),
        attempt: attempt as u32,
        follow: following(row.follow_ref.clone()),
    };
    Ok((claim, Some((action, name))))
}
