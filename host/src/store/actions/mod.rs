//! Entitlement actions: how a row maps to an [`Action`], what executing one changed, and the
//! claims executors hold on them. Inserting a committed plan and the ends of claims live in
//! [`transitions`], claims under leases that fence in [`claims`], approvals of blocked actions in
//! [`approvals`], reads in [`reads`].

mod approvals;
mod claims;
mod reads;
mod transitions;

pub use approvals::Decision;
pub use claims::Due;
pub(super) use reads::check_windows;
pub use transitions::Notify;
pub(super) use transitions::{insert_actions, still_managed};
#[cfg(test)]
pub(super) use {
    claims::{ANY_DUE_SQL, LAPSED_SQL, PENDING_SQL},
    reads::USAGE_SQL,
};

use std::time::Duration;

use rusqlite::Row;
use serde::Serialize;

use super::{StoreError, parse_column};
use crate::model::{Action, ActionState, ActionTarget, Attribute};

const ACTION_COLUMNS: &str = "id, person, system, target_type, target_id, kind, state, origin, message, \
                              retry_of, invocation, created_at, updated_at";

/// What executing an action changed in the target system, applied with its final state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing changed beyond the action's state (e.g. a permission granted again).
    Nothing,
    /// The account's attributes were rewritten.
    AccountAttributes {
        /// The account.
        account: String,
        /// Its new attributes.
        attributes: Vec<Attribute>,
    },
    /// The account was enabled.
    AccountEnabled {
        /// The account.
        account: String,
    },
    /// The entitlement is no longer managed.
    Unmanaged {
        /// The entitlement.
        entitlement: String,
    },
    /// The entitlement was revoked and is gone.
    Revoked {
        /// The entitlement.
        entitlement: String,
    },
}

/// Where executing an action left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Done: what it changed in the directory (platform backends: nothing) and the message.
    Success(Effect, String),
    /// The target system's or platform's error.
    Error(String),
    /// Accepted by the platform and not finished yet (still running there, or held for approval
    /// there): the message, and where and when to follow it up.
    Waiting(String, FollowUp),
}

/// Where a platform's work for an action is followed up, and when next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// The platform's reference: a task result, a remote action.
    pub reference: String,
    /// How long until the next follow-up.
    pub after: Duration,
}

/// What names a claim in every change after it: the action and the claim's fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseKey {
    /// The action's tenant.
    pub tenant: String,
    /// The action.
    pub id: String,
    /// The claim's fencing token: a later claim of the same action has a higher one.
    pub token: i64,
}

/// An action a platform accepted and has not finished: where to follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Following {
    /// The platform's reference (a task result, a remote action).
    pub reference: String,
    /// How long the action has been waiting on the platform.
    pub waited: Duration,
}

/// A claimed action.
#[derive(Debug, Clone)]
pub struct Claim {
    /// What names the claim.
    pub key: LeaseKey,
    /// The action as claimed: `running` for a carry-out, `waiting` for a follow-up.
    pub action: Action,
    /// Which attempt to carry it out this is (1 for the first).
    pub attempt: u32,
    /// Where the platform's work for it is followed, when an earlier attempt started it there.
    pub follow: Option<Following>,
}

/// One state an action went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The state entered.
    pub state: ActionState,
    /// Why.
    pub message: String,
    /// When, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub at: String,
}

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
