//! The governance core. Every targeted action, whether a plugin asks for it through its WIT
//! imports or an HTTP client through the targeted endpoints, is a [`Call`] decided in one place,
//! [`Gate::decide`]: its arguments bounded, then checked against the API key's and the plugin's
//! scope, the tenant's exclusions and the window budgets, then planned, and the decision written
//! to the [`Journal`]. Thresholds apply to the whole plan when it is concluded. Nothing here
//! touches wasm; nothing here writes to the store, which happens only when the conclusion commits
//! the [`Plan`].
//!
//! - [`call`]: the calls and queries as values, and the WIT imports they come through;
//! - [`context`]: what a tenant's calls run in (built by `provhost::tenant` alone);
//! - [`plan`]: the actions planned so far (the one meaning of "plan" in provhost);
//! - [`journal`]: each call with its decision, the plugin's notes and log lines;
//! - [`reads`]: what the invocation read from the directory, read from the backend once.
//!
//! The pure checks (scope, exclusion, threshold, window) live in `provhost_core::policy`, the refusals in
//! `provhost_core::refusal`; both sit below the gate so the store can use them too.

mod call;
mod context;
mod journal;
mod plan;
mod reads;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use call::{Call, Import, Query};
pub use context::{TenantContext, TenantParts};
pub use journal::{AuditNote, CallRecord, Journal, LogLine};
pub use plan::{Intent, Plan};
pub use reads::Reads;

use std::sync::Arc;

use provhost_core::limits::Limits;
use provhost_core::model::{Account, Action, ActionKind, ActionState, ActionTarget, Entitlement, Person};
use provhost_core::policy::Scope;
use provhost_core::refusal::Refusal;
use provhost_platforms::Backend;

/// The actions planned for one invocation or request, and every decision taken.
pub struct Gate {
    context: Arc<TenantContext>,
    bounds: Bounds,
    /// The tenant's backend, with what this gate's calls and queries read from it so far.
    reads: Reads,
    /// The actions planned so far.
    pub plan: Plan,
    /// Every call and its decision, every note and log line.
    pub journal: Journal,
}

/// What a call decided: the actions it planned, or why it was refused.
pub type Decision = Result<Vec<Action>, Refusal>;

/// How much one invocation's or request's calls may plan and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The most actions planned in all.
    pub max_actions: u32,
    /// The longest id a call may name, in bytes.
    pub max_id_bytes: u32,
    /// The longest reason a call may give, in bytes.
    pub max_reason_bytes: u32,
}

impl Bounds {
    /// A targeted request's: any number of actions, and ids and reason as the server admitted them.
    pub const REQUEST: Bounds = Bounds { max_actions: u32::MAX, max_id_bytes: u32::MAX, max_reason_bytes: u32::MAX };
}

impl From<&Limits> for Bounds {
    fn from(limits: &Limits) -> Self {
        Bounds {
            max_actions: limits.max_actions,
            max_id_bytes: limits.max_id_bytes,
            max_reason_bytes: limits.max_reason_bytes,
        }
    }
}

/// The most actions one `list-actions` call returns.
pub const LIST_ACTIONS_LIMIT: usize = 500;

/// The most bytes (as JSON) one query hands a plugin; a larger answer is refused `unavailable`,
/// so what a read costs the host is bounded whatever the directory holds.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

impl Gate {
    /// An empty plan for `invocation`, its calls held to `bounds`.
    pub fn new(invocation: &str, context: Arc<TenantContext>, bounds: Bounds) -> Self {
        let reads = Reads::new(context.parts.backend.clone());
        Self { plan: Plan::new(invocation, bounds.max_actions), journal: Journal::default(), reads, context, bounds }
    }

    /// Takes what was planned and journaled so far, leaving the gate empty (and forgetting what
    /// it read).
    pub fn take(&mut self) -> (Vec<Action>, Journal) {
        self.reads.forget();
        (self.plan.take_actions(), std::mem::take(&mut self.journal))
    }

    /// The tenant's id.
    pub fn tenant(&self) -> &str {
        &self.context.parts.tenant
    }

    /// The tenant's backend, through what this gate read from it so far: a person, entitlement
    /// or account read once is not read again for the same invocation or request.
    pub fn backend(&self) -> &dyn Backend {
        &self.reads
    }

    /// The shared context.
    pub fn context(&self) -> &TenantContext {
        &self.context
    }

    /// Decides a call, in this order: its ids and reason bounded; then, by the call, the person,
    /// scope (key ∩ manifest) for the system it touches, exclusions and window budgets; then the
    /// actions planned. The decision is recorded in the journal. A call is all or nothing: one
    /// refused for any of the actions it would plan plans none of them.
    pub fn decide(&mut self, call: &Call) -> Decision {
        let planned_before = self.plan.actions().len();
        let ids = call.ids();
        let decided = self.bounded(&ids, Some(call.reason())).and_then(|()| self.plan_call(call));
        if decided.is_err() {
            self.plan.truncate(planned_before);
        }
        self.journal.record(call.import(), &ids, &decided, |a| a.iter().map(|a| a.id.clone()).collect());
        decided
    }

    /// Runs a read under `persons:read` once its ids are bounded, recording its decision. An
    /// answer of more than [`MAX_ANSWER_BYTES`] is refused `unavailable`.
    pub fn query<T: serde::Serialize>(
        &mut self,
        query: &Query,
        read: impl FnOnce(&Self) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let ids = query.ids();
        let result = self
            .bounded(&ids, None)
            .and_then(|()| self.context.permission.check(Scope::PersonsRead, None).map_err(Refusal::Forbidden))
            .and_then(|()| read(self))
            .and_then(|answer| match journal::json_len(&answer) {
                bytes if bytes > MAX_ANSWER_BYTES => Err(Refusal::Unavailable(format!(
                    "the answer is {bytes} bytes; provhost hands a plugin at most {MAX_ANSWER_BYTES} bytes per query"
                ))),
                _ => Ok(answer),
            });
        self.journal.record(query.import(), &ids, &result, |_| Vec::new());
        result
    }
}

impl Gate {
    /// Refuses, as `invalid`, a call naming an id or giving a reason longer than its bounds allow,
    /// before anything else about the call is looked at.
    fn bounded(&self, ids: &[&str], reason: Option<&str>) -> Result<(), Refusal> {
        let too_long = |what: &str, len: usize, max: u32| {
            (len > max as usize).then(|| format!("{what} is {len} bytes long; provhost takes at most {max} bytes"))
        };
        let refusal = ids
            .iter()
            .find_map(|id| too_long("an id", id.len(), self.bounds.max_id_bytes))
            .or_else(|| reason.and_then(|r| too_long("the reason", r.len(), self.bounds.max_reason_bytes)));
        refusal.map_or(Ok(()), |message| Err(Refusal::Invalid(message)))
    }

    /// Plans what the call asks for, checking it on the way.
    fn plan_call(&mut self, call: &Call) -> Decision {
        let reason = call.reason().to_owned();
        match call {
            Call::ReEnforce { person, entitlement, .. } | Call::Unmanage { person, entitlement, .. } => {
                self.entitlement_intent(call, person, entitlement, reason).map(|a| vec![a])
            }
            Call::UpdateAccount { person, account, .. } => {
                self.update_one(call, person, account, reason).map(|a| vec![a])
            }
            Call::UpdateAllAccounts { person, .. } => self.update_all(call, person, reason),
            Call::Retry { action, .. } => self.retry_intent(call, action, reason).map(|a| vec![a]),
        }
    }

    /// Plans an intent.
    fn plan_intent(&mut self, intent: Intent) -> Result<Action, Refusal> {
        self.plan.add(intent).cloned()
    }

    /// The person, who must exist.
    fn person(&self, person: &str) -> Result<Person, Refusal> {
        Ok(self.backend().person(self.tenant(), person)?)
    }

    /// Refuses the call if the person is excluded.
    fn person_admitted(&self, person: &Person) -> Result<(), Refusal> {
        self.context.parts.policy.exclusions.person(person).map_or(Ok(()), |reason| Err(Refusal::Excluded(reason)))
    }

    /// Refuses an action of `kind` on `system` that the key and manifest do not allow, that
    /// touches an excluded system, or that a window budget has no room for.
    fn system_admitted(&self, scope: Scope, system: &str, kind: ActionKind) -> Result<(), Refusal> {
        let context = &self.context;
        context.permission.check(scope, Some(system)).map_err(Refusal::Forbidden)?;
        if let Some(why) = context.parts.backend.unsupported(kind) {
            return Err(Refusal::Invalid(why));
        }
        if let Some(reason) = context.parts.policy.exclusions.system(system) {
            return Err(Refusal::Excluded(reason));
        }
        for budget in context.parts.policy.windows.iter().filter(|b| b.applies(system, kind)) {
            let used = context
                .parts
                .store
                .window_usage(self.tenant(), system, kind, budget.per)
                .map_err(|e| Refusal::Unavailable(e.to_string()))?;
            let planned = self.plan.actions().iter().filter(|a| a.system == system && a.kind == kind).count() as u32;
            budget.admit(system, used, planned + 1)?;
        }
        Ok(())
    }

    /// The entitlement, checked to belong to the person and still be managed.
    fn managed_entitlement_of(&self, person: &Person, entitlement: &str) -> Result<Entitlement, Refusal> {
        let found = self.backend().entitlement(self.tenant(), entitlement)?;
        if found.person != person.id {
            return Err(Refusal::NotFound(format!(
                "entitlement '{entitlement}' does not belong to person '{}'",
                person.id
            )));
        }
        if !found.managed {
            return Err(Refusal::Invalid(format!(
                "entitlement '{}' ({entitlement}) is no longer managed; provisioning leaves it alone",
                found.display_name
            )));
        }
        Ok(found)
    }

    /// Plans the action of `call` (a re-enforce or an unmanage) on the person's entitlement.
    fn entitlement_intent(
        &mut self,
        call: &Call,
        person: &str,
        entitlement: &str,
        reason: String,
    ) -> Result<Action, Refusal> {
        let kind = call.kind().expect("a call on an entitlement plans its own kind");
        let person = self.person(person)?;
        let found = self.managed_entitlement_of(&person, entitlement)?;
        self.system_admitted(call.scope(), &found.system, kind)?;
        self.person_admitted(&person)?;
        self.plan_intent(Intent {
            person: person.id,
            system: found.system,
            target: ActionTarget::Entitlement(found.id),
            kind,
            origin: call.origin(),
            reason,
            retry_of: None,
        })
    }

    /// Plans the update of `call` (one account or all of them) on the account.
    fn update_intent(&mut self, call: &Call, account: Account, reason: String) -> Result<Action, Refusal> {
        let kind = call.kind().expect("an update plans updates");
        self.system_admitted(call.scope(), &account.system, kind)?;
        self.plan_intent(Intent {
            person: account.person,
            system: account.system,
            target: ActionTarget::Account(account.id),
            kind,
            origin: call.origin(),
            reason,
            retry_of: None,
        })
    }

    fn update_one(&mut self, call: &Call, person: &str, account: &str, reason: String) -> Result<Action, Refusal> {
        let person = self.person(person)?;
        let found = self.backend().account(self.tenant(), account)?;
        if found.person != person.id {
            return Err(Refusal::NotFound(format!("account '{account}' does not belong to person '{}'", person.id)));
        }
        self.person_admitted(&person)?;
        self.update_intent(call, found, reason)
    }

    /// Plans an update of every account the key and manifest allow, skipping (and recording)
    /// accounts in excluded systems; any other refusal refuses the whole call.
    fn update_all(&mut self, call: &Call, person: &str, reason: String) -> Result<Vec<Action>, Refusal> {
        let person = self.person(person)?;
        self.person_admitted(&person)?;
        let mut planned = Vec::new();
        for account in self.backend().accounts(self.tenant(), &person.id)? {
            if let Some(reason) = self.context.parts.policy.exclusions.system(&account.system) {
                let skipped: Result<(), Refusal> = Err(Refusal::Excluded(reason));
                self.journal.record(Import::UpdateAllAccounts, &[&person.id, &account.id], &skipped, |_| Vec::new());
                continue;
            }
            planned.push(self.update_intent(call, account, reason.clone())?);
        }
        Ok(planned)
    }

    fn retry_intent(&mut self, call: &Call, action: &str, reason: String) -> Result<Action, Refusal> {
        let failed = self.backend().action(self.tenant(), action)?;
        if failed.state != ActionState::Error {
            return Err(Refusal::Conflict(format!(
                "action '{action}' is {}; only an action in state error can be retried",
                failed.state
            )));
        }
        let live = self
            .context
            .parts
            .store
            .live_retry(self.tenant(), action)
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        if let Some(live) = live {
            return Err(live.refusal(action));
        }
        self.system_admitted(call.scope(), &failed.system, failed.kind)?;
        let person = self.person(&failed.person)?;
        self.person_admitted(&person)?;
        if let ActionTarget::Entitlement(entitlement) = &failed.target {
            // Unmanaged since it failed: provisioning leaves it alone, a retry included.
            self.managed_entitlement_of(&person, entitlement)?;
        }
        self.plan_intent(Intent {
            person: failed.person,
            system: failed.system,
            target: failed.target,
            kind: failed.kind,
            origin: call.origin(),
            reason,
            retry_of: Some(failed.id),
        })
    }
}
