//! Entitlement actions: how a row maps to an [`Action`], what executing one changed, and the
//! claims executors hold on them. Inserting a committed plan and the ends of claims live in
//! [`transitions`], claims under leases that fence in [`claims`], approvals of blocked actions in
//! [`approvals`], reads in [`reads`].

mod approvals;
mod claims;
mod reads;
mod transitions;

pub(super) use reads::{check_windows, live_retry};
pub(super) use transitions::{insert_actions, still_managed};
#[cfg(test)]
pub(super) use {
    claims::{ANY_DUE_SQL, LAPSED_SQL, PENDING_SQL},
    reads::{LIVE_RETRY_SQL, USAGE_SQL},
};

use rusqlite::Row;

use super::{StoreError, parse_column};
use provhost_core::model::{Action, ActionTarget};

const ACTION_COLUMNS: &str = "id, person, system, target_type, target_id, kind, state, origin, message, \
                              retry_of, invocation, created_at, updated_at";

type ActionRow = [Option<String>; 13];

fn action_row(row: &Row<'_>) -> rusqlite::Result<ActionRow> {
    let mut out: ActionRow = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = row.get(i)?;
    }
    Ok(out)
}

fn action(row: ActionRow) -> Result<Action, StoreError> {
    let [
        id,
        person,
        system,
        target_type,
        target_id,
        kind,
        state,
        origin,
        message,
        retry_of,
        invocation,
        created,
        updated,
    ] = row;
    let text = |v: Option<String>| v.unwrap_or_default();
    let target_id = text(target_id);
    let target = match target_type.as_deref() {
        Some("entitlement") => ActionTarget::Entitlement(target_id),
        Some("account") => ActionTarget::Account(target_id),
        other => {
            return Err(StoreError::Corrupt {
                column: "actions.target_type",
                reason: format!("unknown target type {other:?}"),
            });
        }
    };
    Ok(Action {
        id: text(id),
        person: text(person),
        system: text(system),
        target,
        kind: parse_column("actions.kind", &text(kind))?,
        state: parse_column("actions.state", &text(state))?,
        origin: text(origin),
        message: text(message),
        retry_of,
        invocation,
        created_at: text(created),
        updated_at: text(updated),
    })
}
