//! Ending claims: what an executor carried out, recorded for a whole batch in a few statements
//! whatever its size. The rows still held under their claims are locked in one statement, each
//! one's effect applied, then every lease released and every state moved in one `UPDATE` and their
//! history written in one `INSERT`: each action's row changes once, where a statement per step
//! changed it twice.

use std::collections::HashMap;

use postgres::Row;

use super::ACTION_COLUMNS;
use super::transitions::{TARGET_KIND, apply, moved_at, record_history};
use crate::claims::Ending;
use crate::postgres::budget::lock_budget;
use crate::postgres::not_found;
use crate::postgres::statements::Tx;
use crate::{Effect, Finish, LeaseKey, StoreError};
use provhost_core::model::{Action, ActionState, now_rfc3339};

/// The places of `keys` in the order their actions' rows are locked in every transaction that
/// locks several (by tenant and id), so that an executor's ends and its keeper's renewals,
/// running at once, never wait for each other round a cycle.
pub(super) fn lock_order<'a>(keys: impl Iterator<Item = &'a LeaseKey>) -> Vec<usize> {
    let keys: Vec<&LeaseKey> = keys.collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&at| (&keys[at].tenant, &keys[at].id));
    order
}

/// An action as a claim moved it, with its HelloID name.
pub(super) type Moved = (Action, &'static str);

/// Ends the claims of `owner` in `results`, all of `tenant`, at `now` (ms on the database's
/// clock): returns the actions that moved, in the order their rows were locked. A claim whose
/// lease passed and was taken up again (its token no longer the row's), or one named twice, ends
/// nothing; an action still waiting after a follow-up is released to be followed up again and does
/// not move.
pub(super) fn end_claims(
    tx: &mut Tx<'_, '_>,
    (tenant, owner): (&str, &str),
    now: i64,
    results: &[(LeaseKey, Finish)],
) -> Result<Vec<Moved>, StoreError> {
    // Unmanaging or revoking changes what a commit checks: it waits for the commit under way.
    let governed =
        results.iter().any(|(_, f)| matches!(f, Finish::Success(Effect::Unmanaged { .. } | Effect::Revoked { .. }, _)));
    if governed {
        lock_budget(tx, tenant)?;
    }
    let ids: Vec<&str> = results.iter().map(|(k, _)| k.id.as_str()).collect();
    let tokens: Vec<i64> = results.iter().map(|(k, _)| k.token).collect();
    // Locked in byte order of their ids, the order in which renewals lock them (see `lock_order`).
    let held = tx.query(
        "SELECT a.id, a.state FROM actions a JOIN UNNEST($2::text[], $3::bigint[]) AS u(held, token) ON a.id = u.held
         WHERE a.tenant = $1 AND a.lease_token = u.token AND a.lease_owner = $4 AND a.state IN ('running', 'waiting')
         ORDER BY a.id COLLATE \"C\" FOR UPDATE OF a",
        &[&tenant, &ids, &tokens, &owner],
    )?;
    let mut held: HashMap<String, String> = held.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut ends: Vec<(&str, Ending<'_>, bool)> = Vec::with_capacity(held.len());
    for at in lock_order(results.iter().map(|(key, _)| key)) {
        let (claim, result) = &results[at];
        let Some(state) = held.remove(&claim.id) else { continue };
        let ending = Ending::of(result, now);
        if let Some(effect) = ending.effect {
            apply(tx, tenant, effect)?;
        }
        let moves = !(ending.state == ActionState::Waiting && state == ActionState::Waiting.as_str());
        ends.push((claim.id.as_str(), ending, moves));
    }
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let at = now_rfc3339();
    let changed = release(tx, tenant, &at, &ends)?;
    let mut by_id: HashMap<String, &Row> = changed.iter().map(|r| (r.get::<_, String>(1), r)).collect();
    let mut moved = Vec::with_capacity(ends.len());
    let mut steps = Vec::with_capacity(ends.len());
    for (id, ending, moves) in &ends {
        if !moves {
            continue;
        }
        let row = by_id.remove(*id).ok_or_else(|| not_found("action", id, tenant))?;
        moved.push(moved_at(row, 0)?);
        steps.push((*id, ending.state.as_str(), ending.message));
    }
    record_history(tx, tenant, &at, &steps)?;
    Ok(moved)
}

/// Releases the leases of `ends` and moves those that move to their end state, in one statement;
/// returns the changed rows ([`TARGET_KIND`] and the [`ACTION_COLUMNS`]). An action left waiting
/// keeps the platform's reference and is followed up as its ending says.
fn release(
    tx: &mut Tx<'_, '_>,
    tenant: &str,
    at: &str,
    ends: &[(&str, Ending<'_>, bool)],
) -> Result<Vec<Row>, StoreError> {
    let ids: Vec<&str> = ends.iter().map(|e| e.0).collect();
    let next: Vec<Option<i64>> = ends.iter().map(|e| e.1.wait.map(|w| w.next_ms)).collect();
    let reference: Vec<Option<&str>> = ends.iter().map(|e| e.1.wait.map(|w| w.reference)).collect();
    let since: Vec<Option<i64>> = ends.iter().map(|e| e.1.wait.map(|w| w.since_ms)).collect();
    let state: Vec<Option<&str>> = ends.iter().map(|e| e.2.then(|| e.1.state.as_str())).collect();
    let note: Vec<Option<&str>> = ends.iter().map(|e| e.2.then_some(e.1.message)).collect();
    Ok(tx.query(
        &format!(
            "UPDATE actions SET lease_owner = NULL, lease_until_ms = u.next_ms, follow_ref = u.ref_to,
                    follow_since_ms = CASE WHEN u.ref_to IS NULL THEN NULL ELSE COALESCE(follow_since_ms, u.since_ms) END,
                    state = COALESCE(u.state_to, state), message = COALESCE(u.note, message),
                    updated_at = CASE WHEN u.state_to IS NULL THEN updated_at ELSE $2 END
             FROM UNNEST($3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::text[])
                  AS u(ended, next_ms, ref_to, since_ms, state_to, note)
             WHERE tenant = $1 AND id = u.ended
             RETURNING {TARGET_KIND}, {ACTION_COLUMNS}"
        ),
        &[&tenant, &at, &ids, &next, &reference, &since, &state, &note],
    )?)
}
