//! Executors claiming committed actions under leases that fence. Each claim takes a new fencing
//! token, holds a lease on the store's own clock, and (unless it follows up an action that waits on
//! a platform) counts an attempt recorded like any state change. Every later change the claim makes
//! — renewing it, noting the platform's reference, ending the action — names the token, so an
//! executor whose lease passed and whose action was taken up again changes nothing. A process that
//! dies leaves its claims to lapse; once a lease passes, another executor takes the action up.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::transitions::{apply, set_state, unit_entry};
use super::{ACTION_COLUMNS, action, action_row};
use crate::claims::{Ending, Wait, millis};
use crate::sqlite::audit::append as append_audit;
use crate::sqlite::deliveries::insert as insert_delivery;
use crate::{Batch, Claim, ClaimStore, Due, Finish, Following, LeaseKey, Notify, OpenActions, SqliteStore, StoreError};
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

fn runnable(r: &rusqlite::Row<'_>) -> rusqlite::Result<Runnable> {
    Ok(Runnable {
        tenant: r.get(0)?,
        id: r.get(1)?,
        state: r.get(2)?,
        previous: r.get(3)?,
        attempts: r.get(4)?,
        follow_ref: r.get(5)?,
        follow_since: r.get(6)?,
    })
}

/// The states of actions still to be carried out or followed up: the condition of the
/// `actions_due` index, which every query of them repeats word for word so that SQLite uses it.
const OPEN: &str = "state IN ('pending', 'running', 'waiting')";

/// A tenant's running and waiting actions whose lease passed (`?2`: now, `?3`: how many); a
/// pending action has no lease.
pub(in crate::sqlite) const LAPSED_SQL: &str = "SELECT tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms \
     FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND lease_until_ms < ?2 LIMIT ?3";

/// A tenant's pending actions, oldest first (`?2`: how many).
pub(in crate::sqlite) const PENDING_SQL: &str = "SELECT tenant, id, state, lease_owner, attempts, follow_ref, follow_since_ms \
     FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND state = 'pending' \
     ORDER BY lease_until_ms, rowid LIMIT ?2";

/// Whether a tenant has anything runnable (`?2`: now).
pub(in crate::sqlite) const ANY_DUE_SQL: &str = "SELECT EXISTS (SELECT 1 FROM actions \
     WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND state = 'pending') \
     OR EXISTS (SELECT 1 FROM actions WHERE tenant = ?1 AND state IN ('pending', 'running', 'waiting') AND lease_until_ms < ?2)";

fn due_of(tx: &Connection, tenant: &str, now: i64, limit: usize) -> Result<Vec<Runnable>, StoreError> {
    let mut found: Vec<Runnable> = tx
        .prepare_cached(LAPSED_SQL)?
        .query_map(params![tenant, now, limit as i64], runnable)?
        .collect::<Result<_, _>>()?;
    let left = limit - found.len();
    if left > 0 {
        let mut pending = tx.prepare_cached(PENDING_SQL)?;
        for row in pending.query_map(params![tenant, left as i64], runnable)? {
            found.push(row?);
        }
    }
    Ok(found)
}

/// Releases a claim's lease. An action left waiting keeps the platform's reference and is followed
/// up as `wait` says.
fn release(tx: &Connection, tenant: &str, id: &str, wait: Option<Wait<'_>>) -> Result<(), StoreError> {
    let (reference, next, since) = (wait.map(|w| w.reference), wait.map(|w| w.next_ms), wait.map(|w| w.since_ms));
    tx.prepare_cached(
        "UPDATE actions SET lease_owner = NULL, lease_until_ms = ?3, follow_ref = ?4,
                follow_since_ms = CASE WHEN ?4 IS NULL THEN NULL ELSE COALESCE(follow_since_ms, ?5) END
         WHERE tenant = ?1 AND id = ?2",
    )?
    .execute(params![tenant, id, next, reference, since])?;
    Ok(())
}

impl ClaimStore for SqliteStore {
    fn finish_actions(
        &self,
        tenant: &str,
        owner: &str,
        results: &[(LeaseKey, Finish)],
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, StoreError> {
        self.write(|tx| {
            let now = self.clock.tick(tx)?;
            let mut moved = Vec::with_capacity(results.len());
            for (claim, result) in results {
                let held: Option<String> = tx
                    .prepare_cached(
                        "SELECT state FROM actions WHERE tenant = ?1 AND id = ?2 AND lease_token = ?3
                         AND lease_owner = ?4 AND state IN ('running', 'waiting')",
                    )?
                    .query_row(params![tenant, claim.id, claim.token, owner], |r| r.get(0))
                    .optional()?;
                let Some(state) = held else { continue };
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
            for (url, body) in notify(&ended) {
                insert_delivery(tx, tenant, &url, &body)?;
            }
            Ok(ended)
        })
    }

    fn claim_actions(&self, owner: &str, lease: Duration, due: Due<'_>) -> Result<Vec<Claim>, StoreError> {
        self.write(|tx| {
            let now = self.clock.tick(tx)?;
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
                    let mut stmt = tx.prepare_cached(&format!(
                        "SELECT {RUNNABLE_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2 \
                         AND (state = 'pending' OR (state IN ('running', 'waiting') AND lease_until_ms < ?3))"
                    ))?;
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        found.extend(stmt.query_row(params![tenant, id, now], runnable).optional()?);
                    }
                    found
                }
            };
            let mut claims = Vec::with_capacity(found.len());
            let mut moved: Vec<(String, Moved)> = Vec::new();
            for row in found {
                let (claim, change) = claim_one(tx, owner, (now, until), row)?;
                moved.extend(change.map(|c| (claim.key.tenant.clone(), c)));
                claims.push(claim);
            }
            let mut tenants: Vec<&str> = moved.iter().map(|(t, _)| t.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            for tenant in tenants {
                let mine: Vec<_> = moved.iter().filter(|(t, _)| t == tenant).map(|(_, m)| m.clone()).collect();
                append_audit(tx, tenant, &[unit_entry(Actor::EXECUTOR, &mine)])?;
            }
            Ok(claims)
        })
    }

    fn due_tenants(&self, among: &[String]) -> Result<Vec<String>, StoreError> {
        let conn = self.read()?;
        let now = self.clock.read(&conn)?;
        let mut due = Vec::new();
        for tenant in among {
            if conn.prepare_cached(ANY_DUE_SQL)?.query_row(params![tenant, now], |r| r.get::<_, bool>(0))? {
                due.push(tenant.clone());
            }
        }
        Ok(due)
    }

    fn renew_leases(&self, owner: &str, lease: Duration, claims: &[LeaseKey]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx| {
            let until = self.clock.tick(tx)?.saturating_add(millis(lease));
            let mut renew = tx.prepare_cached(
                "UPDATE actions SET lease_until_ms = ?5 WHERE tenant = ?1 AND id = ?2 AND lease_token = ?3
                 AND lease_owner = ?4 AND state IN ('running', 'waiting')",
            )?;
            claims.iter().map(|k| Ok(renew.execute(params![k.tenant, k.id, k.token, owner, until])? == 1)).collect()
        })
    }

    fn note_follow(&self, owner: &str, claim: &LeaseKey, reference: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE actions SET follow_ref = ?5 WHERE tenant = ?1 AND id = ?2 AND lease_token = ?3
                     AND lease_owner = ?4 AND state = 'running'",
                )?
                .execute(params![claim.tenant, claim.id, claim.token, owner, reference])?;
            Ok(changed == 1)
        })
    }

    fn open_actions_of(&self, tenant: &str) -> Result<u64, StoreError> {
        let conn = self.read()?;
        let sql = format!("SELECT COUNT(*) FROM actions INDEXED BY actions_due WHERE tenant = ?1 AND {OPEN}");
        Ok(conn.prepare_cached(&sql)?.query_row([tenant], |r| r.get::<_, i64>(0))? as u64)
    }

    fn open_actions(&self) -> Result<Vec<OpenActions>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT tenant, COUNT(*) FROM actions INDEXED BY actions_due WHERE {OPEN} GROUP BY tenant"
        ))?;
        let rows = stmt.query_map([], |r| Ok(OpenActions { tenant: r.get(0)?, count: r.get::<_, i64>(1)? as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An action as a claim moved it, with its HelloID name.
type Moved = (Action, &'static str);

/// Claims one runnable action; returns the claim and, for a carry-out, its state change.
fn claim_one(
    tx: &Connection,
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
    if row.state == ActionState::Waiting.as_str() {
        let token: i64 = tx
            .prepare_cached(
                "UPDATE actions SET lease_owner = ?3, lease_until_ms = ?4, lease_token = lease_token + 1
                 WHERE tenant = ?1 AND id = ?2 RETURNING lease_token",
            )?
            .query_row(params![row.tenant, row.id, owner, until], |r| r.get(0))?;
        let found = tx
            .prepare_cached(&format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2"))?
            .query_row([&row.tenant, &row.id], action_row)?;
        let claim = Claim {
            key: LeaseKey { tenant: row.tenant.clone(), id: row.id.clone(), token },
            action: action(found)?,
            attempt: row.attempts.max(1) as u32,
            follow: following(row.follow_ref.clone()),
        };
        return Ok((claim, None));
    }
    let attempt = row.attempts + 1;
    let token: i64 = tx
        .prepare_cached(
            "UPDATE actions SET lease_owner = ?3, lease_until_ms = ?4, attempts = ?5, lease_token = lease_token + 1
             WHERE tenant = ?1 AND id = ?2 RETURNING lease_token",
        )?
        .query_row(params![row.tenant, row.id, owner, until, attempt], |r| r.get(0))?;
    let message = match &row.previous {
        Some(previous) => format!(
            "taken up again by executor {owner} (attempt {attempt}): the lease of executor {previous} passed before it finished"
        ),
        None => format!("picked up by executor {owner} (attempt {attempt})"),
    };
    let (action, name) = set_state(tx, &row.tenant, &row.id, ActionState::Running, &message)?;
    let claim = Claim {
        key: LeaseKey { tenant: row.tenant.clone(), id: row.id.clone(), token },
        action: action.clone(),
        attempt: attempt as u32,
        follow: following(row.follow_ref.clone()),
    };
    Ok((claim, Some((action, name))))
}
