//! Inserting a committed plan's actions, and every later state change, each with its history
//! row and audit record in the same transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{ACTION_COLUMNS, action, action_row};
use crate::sqlite::directory::{not_found, not_found_if_zero, to_json};
use crate::{Declined, Effect, StoreError};
use provhost_core::audit::entries::Change;
use provhost_core::audit::{Actor, AuditEntry, entries, helloid_action};
use provhost_core::model::{Action, ActionState, ActionTarget, now_rfc3339};
use provhost_core::refusal::Refusal;

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
pub(in crate::sqlite) fn still_managed(tx: &Connection, tenant: &str, a: &Action) -> Result<(), Declined> {
    let ActionTarget::Entitlement(id) = &a.target else { return Ok(()) };
    let managed: Option<bool> = tx
        .prepare_cached("SELECT managed FROM entitlements WHERE tenant = ?1 AND id = ?2")?
        .query_row([tenant, id], |r| r.get(0))
        .optional()?;
    match managed {
        Some(false) => Err(Declined::Refused(Refusal::Invalid(format!(
            "entitlement '{id}' is no longer managed; provisioning leaves it alone, so action '{}' ({} of it) is not acted on",
            a.id, a.kind
        )))),
        _ => Ok(()),
    }
}

/// The one audit record of a unit of work that moved `moved` (each action with its HelloID name).
pub(super) fn unit_entry(actor: Actor<'_>, moved: &[(Action, &'static str)]) -> AuditEntry {
    let changes: Vec<Change<'_>> = moved.iter().map(|(action, name)| Change { action, audit_action: name }).collect();
    entries::action_states(actor, &changes)
}

/// Inserts actions as committed, with the first entry of their history, inside `tx`, each with
/// the plugin of the invocation that planned it (inserted before them), which the console lists
/// them by. Their audit record is the invocation's, which carries the plan.
pub(in crate::sqlite) fn insert_actions(tx: &Connection, tenant: &str, actions: &[Action]) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO actions (tenant, {ACTION_COLUMNS}, counted_at, plugin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
             CASE WHEN ?8 IN ('blocked', 'rejected') THEN NULL ELSE ?13 END,
             (SELECT plugin_name FROM invocations WHERE tenant = ?1 AND id = ?12))"
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
    state: ActionState,
    message: &str,
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

pub(super) fn apply(tx: &Connection, tenant: &str, effect: &Effect) -> Result<(), StoreError> {
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
