//! Executors on every host claiming committed actions under leases that fence. A claim takes
//! runnable rows with `FOR UPDATE SKIP LOCKED`, so executors on two hosts never wait for each
//! other's rows nor take the same one; each claim takes a new fencing token and holds a lease on
//! the database's clock. Every later change the claim makes names the token, so an executor whose
//! lease passed and whose action was taken up again changes nothing. A host that dies leaves its
//! claims to lapse; once a lease passes, an executor on another host takes the action up.

use std::collections::HashMap;
use std::time::Duration;

use postgres::Row;

use super::ACTION_COLUMNS;
use super::ends::{Moved, end_claims, lock_order};
use super::transitions::{TARGET_KIND, moved_at, record_history, unit_entry};
use crate::claims::millis;
use crate::postgres::audit::append as append_audit;
use crate::postgres::deliveries::insert as insert_deliveries;
use crate::postgres::statements::Tx;
use crate::postgres::{PostgresStore, not_found, now_ms};
use crate::{Batch, Claim, ClaimStore, Due, Finish, Following, LeaseKey, Notify, OpenActions, StoreError};
use provhost_core::audit::Actor;
use provhost_core::model::{Action, ActionState, now_rfc3339};

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
            let moved = end_claims(tx, (tenant, owner), now, results)?;
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
            let mut tenants: Vec<&str> = found.iter().map(|row| row.tenant.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            let mut claims = Vec::with_capacity(found.len());
            for tenant in tenants {
                let rows: Vec<&Runnable> = found.iter().filter(|row| row.tenant == tenant).collect();
                let mut moved: Vec<Moved> = Vec::new();
                for (claim, change) in claim_rows(tx, (tenant, owner), (now, until), &rows)? {
                    moved.extend(change);
                    claims.push(claim);
                }
                if !moved.is_empty() {
                    append_audit(tx, tenant, &[unit_entry(Actor::EXECUTOR, &moved)])?;
                }
            }
            Ok(claims)
        })
    }

    fn due_tenants(&self, among: &[String]) -> Result<Vec<String>, StoreError> {
        let rows = self.read(|c| {
            let now = now_ms(c)?;
            Ok(c.query(
                // One bounded probe of the due index per state, per tenant, stopping at the first
                // action found: a correlated EXISTS would be planned as a hashed scan of every
                // tenant's open actions, and a probe naming all three states at once as a walk
                // over every open action of the tenant whose lease has not passed.
                "SELECT t FROM UNNEST($1::text[]) AS t CROSS JOIN LATERAL (
                     SELECT 1 FROM actions WHERE tenant = t AND state = 'pending'
                     UNION ALL SELECT 1 FROM actions WHERE tenant = t AND state = 'running' AND lease_until_ms < $2
                     UNION ALL SELECT 1 FROM actions WHERE tenant = t AND state = 'waiting' AND lease_until_ms < $2
                     LIMIT 1) AS due",
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

/// Claims the runnable actions `rows` of one tenant in one statement (and their history in
/// another); returns each claim in the order of `rows` with, for a carry-out, its state change.
/// An action waiting on the platform is claimed to be followed up and keeps its state; any other
/// moves to `running` with its attempt counted.
fn claim_rows(
    tx: &mut Tx<'_, '_>,
    (tenant, owner): (&str, &str),
    (now, until): (i64, i64),
    rows: &[&Runnable],
) -> Result<Vec<(Claim, Option<Moved>)>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let notes: Vec<String> = rows.iter().map(|row| pick_up_note(owner, row)).collect();
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let at = now_rfc3339();
    let changed = tx.query(
        &format!(
            "UPDATE actions SET lease_owner = $2, lease_until_ms = $3, lease_token = lease_token + 1,
                    attempts = CASE WHEN state = 'waiting' THEN attempts ELSE attempts + 1 END,
                    message = CASE WHEN state = 'waiting' THEN message ELSE u.note END,
                    updated_at = CASE WHEN state = 'waiting' THEN updated_at ELSE $4 END,
                    state = CASE WHEN state = 'waiting' THEN state ELSE 'running' END
             FROM UNNEST($5::text[], $6::text[]) AS u(claimed, note)
             WHERE tenant = $1 AND id = u.claimed
             RETURNING lease_token, attempts, {TARGET_KIND}, {ACTION_COLUMNS}"
        ),
        &[&tenant, &owner, &until, &at, &ids, &notes],
    )?;
    let mut by_id: HashMap<String, &Row> = changed.iter().map(|r| (r.get::<_, String>(3), r)).collect();
    let mut claims = Vec::with_capacity(rows.len());
    let mut steps = Vec::new();
    for (row, note) in rows.iter().zip(&notes) {
        let found = by_id.remove(&row.id).ok_or_else(|| not_found("action", &row.id, tenant))?;
        let (action, name) = moved_at(found, 2)?;
        let waited = row.follow_since.map_or(0, |since| now.saturating_sub(since).max(0)) as u64;
        let follow =
            row.follow_ref.clone().map(|reference| Following { reference, waited: Duration::from_millis(waited) });
        let waiting = row.state == ActionState::Waiting.as_str();
        let attempts: i64 = found.get(1);
        let claim = Claim {
            key: LeaseKey { tenant: tenant.to_owned(), id: row.id.clone(), token: found.get(0) },
            action: action.clone(),
            attempt: if waiting { attempts.max(1) } else { attempts } as u32,
            follow,
        };
        let change = (!waiting).then(|| {
            steps.push((row.id.as_str(), ActionState::Running.as_str(), note.as_str()));
            (action, name)
        });
        claims.push((claim, change));
    }
    record_history(tx, tenant, &at, &steps)?;
    Ok(claims)
}

/// The history message of an action `row` that a claim by `owner` takes up (unused for one
/// waiting on the platform, whose state and message stay).
fn pick_up_note(owner: &str, row: &Runnable) -> String {
    let attempt = row.attempts + 1;
    match &row.previous {
        Some(previous) => format!(
            "taken up again by executor {owner} (attempt {attempt}): the lease of executor {previous} passed before it finished"
        ),
        None => format!("picked up by executor {owner} (attempt {attempt})"),
    }
}
