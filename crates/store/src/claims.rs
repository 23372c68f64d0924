//! Executors claiming committed actions under leases that fence. Each claim takes a new fencing
//! token and holds a lease on the store's own clock; every later change the claim makes names the
//! token, so an executor whose lease passed and whose action was taken up again changes nothing.

use std::time::Duration;

use super::{Effect, Finish, Notify, StoreError};
use provhost_core::model::{Action, ActionState};

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
/// How many of one tenant's runnable actions one claim takes at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The tenant.
    pub tenant: String,
    /// The most of its actions to claim.
    pub most: usize,
}

/// How many of a tenant's actions wait to be carried out or followed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenActions {
    /// The tenant.
    pub tenant: String,
    /// How many of its actions are pending, running or waiting.
    pub count: u64,
}

/// How a released action that waits on its platform is followed up, as both stores keep it.
#[derive(Clone, Copy)]
pub(crate) struct Wait<'a> {
    /// The platform's reference.
    pub reference: &'a str,
    /// When next, in ms on the store's clock.
    pub next_ms: i64,
    /// Since when it waits, in ms on the store's clock; a wait that goes on keeps its first.
    pub since_ms: i64,
}

/// A duration in whole milliseconds, as both stores' clocks count (saturating).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What finishing a claim does to its action, alike in both stores: the effect to apply first,
/// the wait to keep (an action left waiting on its platform is followed up `after` from `now_ms`,
/// on the store's clock), and the state it ends in with its message.
pub(crate) struct Ending<'a> {
    /// What the action changed in the directory, applied before it is released.
    pub effect: Option<&'a Effect>,
    /// How a waiting action is followed up.
    pub wait: Option<Wait<'a>>,
    /// The state it ends in.
    pub state: ActionState,
    /// The message it ends with.
    pub message: &'a str,
}

impl<'a> Ending<'a> {
    /// How `finish` ends its action at `now_ms`.
    pub(crate) fn of(finish: &'a Finish, now_ms: i64) -> Self {
        match finish {
            Finish::Success(effect, message) => {
                Ending { effect: Some(effect), wait: None, state: ActionState::Success, message }
            }
            Finish::Error(message) => Ending { effect: None, wait: None, state: ActionState::Error, message },
            Finish::Waiting(message, follow) => Ending {
                effect: None,
                wait: Some(Wait {
                    reference: &follow.reference,
                    next_ms: now_ms.saturating_add(millis(follow.after)),
                    since_ms: now_ms,
                }),
                state: ActionState::Waiting,
                message,
            },
        }
    }
}

/// What to claim.
#[derive(Debug, Clone, Copy)]
pub enum Due<'a> {
    /// Of each of these tenants, up to its number of runnable actions: those whose lease passed
    /// (or whose follow-up is due) first, then pending ones, oldest first.
    Tenants(&'a [Batch]),
    /// These actions of one tenant, where they are runnable.
    These(&'a str, &'a [String]),
}

/// Claims on committed actions, their leases and follow-ups, and their ends.
pub trait ClaimStore {
    /// Ends actions that executor `owner` holds claims on, each named by its claim's fencing token:
    /// a success applies its effect and marks the action `success`; a failure marks it `error`
    /// with the target system's message; an action still running on a platform becomes
    /// `waiting`, keeping the platform's reference, to be followed up after its `after`. A
    /// follow-up that finds the action still waiting changes nothing but when it is next followed
    /// up, and records nothing. All in one transaction, which releases the leases and queues the
    /// notifications `notify` builds from the actions that moved. A claim whose lease passed and
    /// whose action was taken up again (a later token) changes nothing. Returns the actions that
    /// moved, in their new states.
    fn finish_actions(
        &self,
        tenant: &str,
        owner: &str,
        results: &[(LeaseKey, Finish)],
        notify: Notify<'_>,
    ) -> Result<Vec<Action>, StoreError>;

    /// Claims runnable actions for executor `owner` until `lease` from now on the store's clock.
    /// A pending or running action becomes `running` with one more attempt, recorded in its history
    /// and the audit trail in the same transaction; one taken up again after a lease passed says
    /// so. A waiting action due for a follow-up stays `waiting`: its claim changes no state and is
    /// not recorded. Every claim takes a new fencing token.
    fn claim_actions(&self, owner: &str, lease: Duration, due: Due<'_>) -> Result<Vec<Claim>, StoreError>;

    /// The tenants of `among` that have an action to claim now: a quick read before a claim.
    fn due_tenants(&self, among: &[String]) -> Result<Vec<String>, StoreError>;

    /// Extends the leases of executor `owner`'s claims to `lease` from now; says of each claim
    /// whether it still holds (`false`: its lease passed and the action was taken up again, or it
    /// ended).
    fn renew_leases(&self, owner: &str, lease: Duration, claims: &[LeaseKey]) -> Result<Vec<bool>, StoreError>;

    /// Records the platform's reference for a claimed action as soon as the platform gave it (a
    /// launched workflow's task result), so that an attempt after a crash follows that work
    /// instead of starting it again. Says whether the claim still holds.
    fn note_follow(&self, owner: &str, claim: &LeaseKey, reference: &str) -> Result<bool, StoreError>;

    /// How many of the tenant's actions wait to be carried out or followed up (pending, running or
    /// waiting).
    fn open_actions_of(&self, tenant: &str) -> Result<u64, StoreError>;

    /// How many actions wait to be carried out or followed up (pending, running or waiting), by
    /// tenant, for the tenants that have any.
    fn open_actions(&self) -> Result<Vec<OpenActions>, StoreError>;
}
