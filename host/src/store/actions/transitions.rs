//! Inserting a committed plan's actions, and every later state change, each with its history
//! row and audit record in the same transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ACTION_COLUMNS, Effect, Finish, action, action_row};
use crate::audit::{Actor, AuditEntry, entries};
use crate::model::{Action, ActionState, ActionTarget, now_rfc3339};
use crate::store::audit::append as append_audit;
use crate::store::directory::{not_found, not_found_if_zero, to_json};
use crate::store::{Store, StoreError};

/// The audit record of action `a` entering `state`, with the entitlement's type read inside
/// `tx` so that the record names the action as HelloID does.
fn action_entry(
    tx: &Connection,
    tenant: &str,
    a: &Action,
    state: ActionState,
    message: &str,
    actor: Actor<'_>,
) -> Result<AuditEntry, StoreError> {
    let entitlement_type = match &a.target {
        ActionTarget::Entitlement(e) => tx
            .prepare_cached("SELECT kind FROM entitlements WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant, e], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|k| serde_json::from_value(serde_json::Value::String(k)).ok()),
        ActionTarget::Account(_) => None,
    };
    Ok(entries::action_state(a, (state, message), actor, entitlement_type))
}

/// Inserts actions as committed, with the first entry of their history and their audit records,
/// inside `tx`.
pub(in crate::store) fn insert_actions(
    tx: &Connection,
    tenant: &str,
    actions: &[Action],
    actor: Actor<'_>,
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO actions (tenant, {ACTION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
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
    drop(insert);
    let entries = actions
        .iter()
        .map(|a| action_entry(tx, tenant, a, a.state, &a.message, actor))
        .collect::<Result<Vec<_>, _>>()?;
    append_audit(tx, tenant, &entries)
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
/// audit record, for the caller to append with the others of its unit.
pub(super) fn set_state(
    tx: &Connection,
    tenant: &str,
    id: &str,
    (state, message): (ActionState, &str),
    actor: Actor<'_>,
) -> Result<(Action, AuditEntry), StoreError> {
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
    let entry = action_entry(tx, tenant, &changed, state, message, actor)?;
    Ok((changed, entry))
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

impl Store {
    /// Moves actions to `state` with a message, recording each change in its history and the
    /// audit trail, in one transaction.
    pub fn transition(
        &self,
        tenant: &str,
        ids: &[String],
        state: ActionState,
        message: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let entries = ids
                .iter()
                .map(|id| set_state(tx, tenant, id, (state, message), Actor::EXECUTOR).map(|(_, entry)| entry))
                .collect::<Result<Vec<_>, _>>()?;
            append_audit(tx, tenant, &entries)
        })
    }

    /// Ends actions that executor `owner` holds a lease on: each success applies its effect and
    /// marks the action `success`; each failure marks it `error` with the target system's message;
    /// an action still running on a platform becomes `waiting`. All in one transaction, which also
    /// releases the leases. An action whose lease `owner` lost (it expired and another executor
    /// took the action up) is left to that executor and not returned. Returns the actions in
    /// their end states.
    pub fn finish_actions(
        &self,
        tenant: &str,
        results: &[(String, Finish)],
        owner: &str,
    ) -> Result<Vec<Action>, StoreError> {
        self.write(|tx| {
            let mut entries = Vec::with_capacity(results.len());
            let mut ended = Vec::with_capacity(results.len());
            for (id, result) in results {
                let held = tx
                    .prepare_cached(
                        "UPDATE actions SET lease_owner = NULL, lease_until = NULL
                         WHERE tenant = ?1 AND id = ?2 AND state = 'running' AND lease_owner = ?3",
                    )?
                    .execute(params![tenant, id, owner])?;
                if held == 0 {
                    continue;
                }
                let end = match result {
                    Finish::Success(effect, message) => {
                        apply(tx, tenant, effect)?;
                        (ActionState::Success, message)
                    }
                    Finish::Error(message) => (ActionState::Error, message),
                    Finish::Waiting(message) => (ActionState::Waiting, message),
                };
                let (action, entry) = set_state(tx, tenant, id, (end.0, end.1.as_str()), Actor::EXECUTOR)?;
                ended.push(action);
                entries.push(entry);
            }
            append_audit(tx, tenant, &entries)?;
            Ok(ended)
        })
    }
}
