//! Entitlement actions: how a row maps to an [`Action`]. Inserting a committed plan and every
//! later state change live in [`transitions`], claims under leases that fence in [`claims`] and their ends in [`ends`],
//! approvals of blocked actions in [`approvals`], reads in [`reads`].

mod approvals;
mod claims;
mod ends;
mod reads;
mod transitions;

pub(super) use reads::{check_windows, live_retry};
pub(super) use transitions::{insert_plan, still_managed};

use postgres::Row;

use super::{StoreError, parse_column};
use provhost_core::model::{Action, ActionTarget};

const ACTION_COLUMNS: &str = "id, person, system, target_type, target_id, kind, state, origin, message, \
                              retry_of, invocation, created_at, updated_at";

fn action(row: &Row) -> Result<Action, StoreError> {
    action_from(row, 0)
}

/// The action whose [`ACTION_COLUMNS`] start at column `at` of the row.
fn action_from(row: &Row, at: usize) -> Result<Action, StoreError> {
    let target_id: String = row.get(at + 4);
    let target = match row.get::<_, &str>(at + 3) {
        "entitlement" => ActionTarget::Entitlement(target_id),
        "account" => ActionTarget::Account(target_id),
        other => {
            return Err(StoreError::Corrupt {
                column: "actions.target_type",
                reason: format!("unknown target type {other:?}"),
            });
        }
    };
    Ok(Action {
        id: row.get(at),
        person: row.get(at + 1),
        system: row.get(at + 2),
        target,
        kind: parse_column("actions.kind", row.get(at + 5))?,
        state: parse_column("actions.state", row.get(at + 6))?,
        origin: row.get(at + 7),
        message: row.get(at + 8),
        retry_of: row.get(at + 9),
        invocation: row.get(at + 10),
        created_at: row.get(at + 11),
        updated_at: row.get(at + 12),
    })
}
