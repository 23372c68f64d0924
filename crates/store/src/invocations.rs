//! Invocation records: one per plugin run or request, committed together with the actions it
//! planned.

use super::{Declined, StoreError};
use provhost_core::audit::{AuditEntry, InvocationRecord, Outcome};
use provhost_core::event::AttributeChanged;
use provhost_core::model::Action;
use provhost_core::policy::WindowBudget;

/// One plan to commit.
pub struct Commit<'a> {
    /// The invocation that planned it.
    pub record: &'a InvocationRecord,
    /// The actions, in the states they commit in (pending or blocked).
    pub actions: &'a [Action],
    /// The attribute change the event reported, recorded on the person.
    pub observed: Option<&'a AttributeChanged>,
    /// The tenant's window budgets, checked again inside the transaction.
    pub windows: &'a [WindowBudget],
    /// The invocation's audit records (the invocation, its host calls, its notes); the actions'
    /// own records are added as they are inserted.
    pub audit: &'a [AuditEntry],
}

/// Who ran an invocation, as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationSource {
    /// The plugin, or `api` for a targeted request.
    pub plugin: String,
    /// The API key it ran under.
    pub key_id: Option<String>,
}

/// Committing plans with their invocation records and audit entries.
pub trait InvocationStore {
    /// Records an invocation and commits the actions it planned, in one transaction: either both
    /// are stored or neither is.
    /// The invocation's own audit record is written with it.
    fn commit_invocation(&self, record: &InvocationRecord, actions: &[Action]) -> Result<(), StoreError>;

    /// Commits a plan with its invocation record as one unit of a write transaction, after
    /// checking the window budgets, retries and managed entitlements again so that concurrent
    /// processes cannot overrun a budget, retry one action twice, or act on an entitlement
    /// unmanaged since it was planned. When one of them refuses the plan, nothing is written and
    /// the refusal comes back as [`Declined::Refused`].
    fn commit(&self, commit: &Commit<'_>) -> Result<(), Declined>;

    /// Who ran invocation `id` and under which key, if it is on record: the key recorded when its
    /// plan committed is the one that requested the actions it planned.
    fn invocation_source(&self, tenant: &str, id: &str) -> Result<Option<InvocationSource>, StoreError>;

    /// How many invocations and actions the tenant has on record.
    fn counts(&self, tenant: &str) -> Result<Counts, StoreError>;

    /// The tenant's invocations of `plugin` started at or after `since` (RFC 3339 UTC), counted
    /// by the hour they started in and by outcome, oldest hour first.
    fn plugin_outcomes(&self, tenant: &str, plugin: &str, since: &str) -> Result<Vec<OutcomeCount>, StoreError>;
}

/// How many invocations and actions a tenant has on record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Invocations: plugin runs and targeted requests.
    pub invocations: u64,
    /// Actions, in every state.
    pub actions: u64,
}

/// How many invocations of a plugin started in one hour ended one way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// The hour, as the start of an RFC 3339 time: `2026-12-02T19`.
    pub hour: String,
    /// The outcome (`completed`, `trap`, `limit`, a refusal code…).
    pub outcome: Outcome,
    /// How many.
    pub count: u64,
}
