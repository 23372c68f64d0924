//! Entitlement actions as the store reads them, and where carrying one out left it.

use std::time::Duration;

use serde::Serialize;

use super::StoreError;
use provhost_core::model::{Action, ActionFilter, ActionKind, ActionState, Attribute};
use provhost_core::refusal::Refusal;

/// A retry of a failed action that is still live: neither failed nor rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRetry {
    /// The retry's id.
    pub id: String,
    /// Its state.
    pub state: ActionState,
}

impl LiveRetry {
    /// Why retrying `failed` again is refused while this retry of it is live.
    pub fn refusal(&self, failed: &str) -> Refusal {
        Refusal::already_retried(failed, &self.id, self.state)
    }
}

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

/// The blocked actions of one system and kind: what an operator approves or rejects together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedGroup {
    /// The target system.
    pub system: String,
    /// The kind of action.
    pub kind: ActionKind,
    /// How many of them are blocked.
    pub count: u64,
    /// The message of the latest one blocked: the threshold that blocked it.
    pub threshold: String,
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

/// Reads of entitlement actions: one, a filtered page, retries, history, window usage.
pub trait ActionStore {
    /// How many of the tenant's actions have ended (`success` or `error`).
    fn actions_ended(&self, tenant: &str) -> Result<u64, StoreError>;

    /// Committed actions of `kind` against `system` within the last `window`.
    fn window_usage(&self, tenant: &str, system: &str, kind: ActionKind, window: Duration) -> Result<u32, StoreError>;

    /// The action with this id.
    fn action(&self, tenant: &str, id: &str) -> Result<Action, StoreError>;

    /// Actions matching the filter, newest first, at most `limit`.
    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, StoreError>;

    /// As [`ActionStore::actions`], skipping the first `offset`.
    fn actions_page(
        &self,
        tenant: &str,
        filter: &ActionFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Action>, StoreError>;

    /// The live retry of `failed` (one neither failed nor rejected), if there is one: a failed
    /// action has at most one.
    fn live_retry(&self, tenant: &str, failed: &str) -> Result<Option<LiveRetry>, StoreError>;

    /// The states an action went through, oldest first.
    fn action_history(&self, tenant: &str, id: &str) -> Result<Vec<HistoryEntry>, StoreError>;

    /// The tenant's blocked actions counted by system and kind, ordered by system, then kind.
    fn blocked_groups(&self, tenant: &str) -> Result<Vec<BlockedGroup>, StoreError>;
}
