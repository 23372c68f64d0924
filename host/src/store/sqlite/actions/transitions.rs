//! Inserting a committed plan's actions, and every later state change, each with its history
//! row and audit record in the same transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ACTION_COLUMNS, action, action_row};
use crate::audit::entries::Change;
use crate::audit::{Actor, AuditEntry, entries, helloid_action};
use crate::model::{Action, ActionState, ActionTarget, now_rfc3339};
use crate::refusal::Refusal;
use crate::store::sqlite::audit::append as append_audit;
use crate::store::sqlite::clock::millis;
use crate::store::sqlite::deliveries::insert as insert_delivery;
use crate::store::sqlite::directory::{not_found, not_found_if_zero, to_json};
use crate::store::{Effect, Finish, LeaseKey, Notify, SqliteStore, StoreError};

/// How HelloID names action `a`, with the entitlement's type read inside `tx`.
fn helloid_name(tx: &Connection, tenant: &str, a: &Action) -> Result<&'static str, StoreError> {
    let entitlement_type = match &a.target {
        ActionTarget::Entitlement(e) => tx
            .prepare_cached("SELECT kind FROM entitlements WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant, e], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
        ActionTarget::Account(_) => None,
    };
    Ok(helloid_action(a.kind, &a.target, entitlement_type))
}

/// Refuses acting on an entitlement the store holds as no longer managed (unmanaged since the
/// action was planned); one the store does not hold (a platform's directory) is the platform's to
/// refuse.
pub(in crate::store::sqlite) fn still_managed(
    tx: &Connection,
    tenant: &str,
    a: &Action,
) -> Result<Result<(), Refusal>, StoreError> {
    let ActionTarget::Entitlement(id) = &a.target else { return Ok(Ok(())) };
    let managed: Option<bool> = tx
        .prepare_cached("SELECT managed FROM entitlements WHERE tenant = ?1 AND id = ?2")?
        .query_row([tenant, id], |r| r.get(0))
        .optional()?;
    Ok(match managed {
        Some(false) => Err(Refusal::Invalid(format!(
            "entitlement '{id}' is no longer managed; provisioning leaves it alone, so action '{}' ({} of it) is not acted on",
            a.id, a.kind
        ))),
        _ => Ok(()),
    })
}

/// The one audit record of a unit of work that moved `moved` (each action with its HelloID name).
pub(super) fn unit_entry(actor: Actor<'_>, moved: &[(Action, &'static str)]) -> AuditEntry {
    let changes: Vec<Change<'_>> = moved.iter().map(|(action, name)| Change { action, audit_action: name }).collect();
    entries::action_states(actor, &changes)
}

/// Inserts actions as committed, with the first entry of their history, inside `tx`. Their audit
/// record is the invocation's, which carries the plan.
pub(in crate::store::sqlite) fn insert_actions(
    tx: &Connection,
    tenant: &str,
    actions: &[Action],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO actions (tenant, {ACTION_COLUMNS}, counted_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             CASE WHEN ?8 IN ('blocked', 'rejected') THEN NULL ELSE ?13 END)"
    ))?;
    for a in actions {
        let (target_type, target_id) = match &a.target {
            ActionTarget::Entitlement(id) => ("entitlement", id),
            ActionTarget::Account(id) => ("account", id),
        };
        insert.execute(params![
            tenant,
            a.id,
            a.person,
            a.system,
            target_type,
            target_id,
            a.kind.as_str(),
            a.state.as_str(),
            a.origin,
            a.message,
            a.retry_of,
            a.invocation,
            a.created_at,
            a.updated_at
        ])?;
        append_history(tx, tenant, &a.id, a.state, &a.message, &a.created_at)?;
    }
    Ok(())
}

fn append_history(
    tx: &Connection,
    tenant: &str,
    action: &str,
    state: ActionState,
    message: &str,
    at: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO action_history (tenant, action, seq, state, message, at)
         VALUES (?1, ?2, (SELECT COUNT(*) FROM action_history WHERE tenant = ?1 AND action = ?2), ?3, ?4, ?5)",
    )?
    .execute(params![tenant, action, state.as_str(), message, at])?;
    Ok(())
}

/// Moves an action to `state` with its history entry; returns the action as it now is and its
/// HelloID name, for the caller's one audit record of its unit.
pub(super) fn set_state(
    tx: &Connection,
    tenant: &str,
    id: &str,
    (state, message): (ActionState, &str),
) -> Result<(Action, &'static str), StoreError> {
    let at = now_rfc3339();
    let sql = format!(
        "UPDATE actions SET state = ?3, message = ?4, updated_at = ?5 WHERE tenant = ?1 AND id = ?2
         RETURNING {ACTION_COLUMNS}"
    );
    let row = tx
        .prepare_cached(&sql)?
        .query_row(params![tenant, id, state.as_str(), message, at], action_row)
        .optional()?
        .ok_or_else(|| not_found("action", id, tenant))?;
    append_history(tx, tenant, id, state, message, &at)?;
    let changed = action(row)?;
    let name = helloid_name(tx, tenant, &changed)?;
    Ok((changed, name))
}

fn apply(tx: &Connection, tenant: &str, effect: &Effect) -> Result<(), StoreError> {
    let (sql, id, value): (&str, &str, Option<String>) = match effect {
        Effect::Nothing => return Ok(()),
        Effect::AccountAttributes { account, attributes } => {
            ("UPDATE accounts SET attributes = ?3 WHERE tenant = ?1 AND id = ?2", account, Some(to_json(attributes)))
        }
        Effect::AccountEnabled { account } => {
            ("UPDATE accounts SET enabled = 1 WHERE tenant = ?1 AND id = ?2", account, None)
        }
        Effect::Unmanaged { entitlement } => {
            ("UPDATE entitlements SET managed = 0 WHERE tenant = ?1 AND id = ?2", entitlement, None)
        }
        Effect::Revoked { entitlement } => {
            ("DELETE FROM entitlements WHERE tenant = ?1 AND id = ?2", entitlement, None)
        }
    };
    let changed = match value {
        Some(value) => tx.prepare_cached(sql)?.execute(params![tenant, id, value])?,
        None => tx.prepare_cached(sql)?.execute(params![tenant, id])?,
    };
    not_found_if_zero(changed, "target", id, tenant)
}

impl SqliteStore {
    /// Ends the actions of [`ClaimStore::finish_actions`](crate::store::ClaimStore::finish_actions).
    pub(super) fn finish(
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
                let end = match result {
                    Finish::Success(effect, message) => {
                        apply(tx, tenant, effect)?;
                        release(tx, tenant, &claim.id, (None, None))?;
                        (ActionState::Success, message)
                    }
                    Finish::Error(message) => {
                        release(tx, tenant, &claim.id, (None, None))?;
                        (ActionState::Error, message)
                    }
                    Finish::Waiting(message, follow) => {
                        let next = now.saturating_add(millis(follow.after));
                        release(tx, tenant, &claim.id, (Some(&follow.reference), Some((next, now))))?;
                        if state == ActionState::Waiting.as_str() {
                            continue;
                        }
                        (ActionState::Waiting, message)
                    }
                };
                moved.push(set_state(tx, tenant, &claim.id, (end.0, end.1.as_str()))?);
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
}

/// Releases a claim's lease. An action left waiting keeps the platform's reference, is followed
/// up at `next` and waits since `since` (kept from its first wait).
fn release(
    tx: &Connection,
    tenant: &str,
    id: &str,
    (reference, follow): (Option<&str>, Option<(i64, i64)>),
) -> Result<(), StoreError> {
    let (next, since) = follow.unzip();
    tx.prepare_cached(
        "UPDATE actions SET lease_owner = NULL, lease_until_ms = ?3, follow_ref = ?4,
                follow_since_ms = CASE WHEN ?4 IS NULL THEN NULL ELSE COALESCE(follow_since_ms, ?5) END
         WHERE tenant = ?1 AND id = ?2",
    )?
    .execute(params![tenant, id, next, reference, since])?;
    Ok(())
}
