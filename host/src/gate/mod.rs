//! The governance core. Every targeted action, whether a plugin asks for it through its WIT
//! imports or an HTTP client through the targeted endpoints, passes through one [`Gate`]: it is
//! checked against the API key's and the plugin's scope, the tenant's exclusions and thresholds,
//! and the window budgets, then planned. Every decision is written to the [`Journal`]. Nothing
//! here touches wasm; nothing here writes to the store, which happens only when the conclusion
//! commits the [`Plan`].
//!
//! - [`context`]: what a tenant's calls run in (built by `crate::tenant` alone);
//! - [`plan`]: the actions planned so far (the one meaning of "plan" in provhost);
//! - [`journal`]: each call with its decision, the plugin's notes and log lines.
//!
//! The pure checks (scope, exclusion, threshold, window) live in `crate::policy`, the refusals in
//! `crate::refusal`; both sit below the gate so the store can use them too.

mod context;
mod journal;
mod plan;

pub use context::TenantContext;
pub use journal::{AuditNote, CallRecord, Journal, LogLine};
pub use plan::{Intent, Plan};

use std::sync::Arc;

use crate::backend::Backend;
use crate::model::{Account, Action, ActionKind, ActionState, ActionTarget, Entitlement, Person};
use crate::policy::Scope;
use crate::refusal::Refusal;

/// The actions planned for one invocation or request, and every decision taken.
pub struct Gate {
    context: Arc<TenantContext>,
    /// The actions planned so far.
    pub plan: Plan,
    /// Every call and its decision, every note and log line.
    pub journal: Journal,
}

/// The most actions one `list-actions` call returns.
pub const LIST_ACTIONS_LIMIT: usize = 500;

/// The most bytes (as JSON) one query hands a plugin; a larger answer is refused `unavailable`,
/// so what a read costs the host is bounded whatever the directory holds.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

impl Gate {
    /// An empty plan for `invocation` holding at most `max_actions`.
    pub fn new(invocation: &str, context: Arc<TenantContext>, max_actions: u32) -> Self {
        Self { plan: Plan::new(invocation, max_actions), journal: Journal::default(), context }
    }

    /// Takes what was planned and journaled so far, leaving the gate empty.
    pub fn take(&mut self) -> (Vec<Action>, Journal) {
        (self.plan.take_actions(), std::mem::take(&mut self.journal))
    }

    /// The tenant's id.
    pub fn tenant(&self) -> &str {
        &self.context.tenant
    }

    /// The tenant's backend.
    pub fn backend(&self) -> &dyn Backend {
        self.context.backend.as_ref()
    }

    /// The shared context.
    pub fn context(&self) -> &TenantContext {
        &self.context
    }

    /// Re-enforces an entitlement (scope `entitlements:re-enforce`), recording the decision.
    pub fn re_enforce(&mut self, person: &str, entitlement: &str, reason: String) -> Result<Action, Refusal> {
        let how = (Scope::EntitlementsReEnforce, ActionKind::Grant, "re-enforce");
        let result = self.entitlement_intent(person, entitlement, how, reason);
        self.journal.record("actions.re-enforce-entitlement", &[person, entitlement], &result, |a| vec![a.id.clone()]);
        result
    }

    /// Updates one account (scope `accounts:update`), recording the decision.
    pub fn update_account(&mut self, person: &str, account: &str, reason: String) -> Result<Action, Refusal> {
        let result = self.update_one(person, account, reason);
        self.journal.record("actions.update-account", &[person, account], &result, |a| vec![a.id.clone()]);
        result
    }

    /// Updates every account of the person (scope `accounts:update`), recording the decision.
    /// All or nothing: a refusal for any account plans none of them.
    pub fn update_all_accounts(&mut self, person: &str, reason: String) -> Result<Vec<Action>, Refusal> {
        let planned_before = self.plan.actions().len();
        let result = self.update_all(person, reason);
        if result.is_err() {
            self.plan.truncate(planned_before);
        }
        self.journal
            .record("actions.update-all-accounts", &[person], &result, |a| a.iter().map(|a| a.id.clone()).collect());
        result
    }

    /// Unmanages an entitlement (scope `entitlements:unmanage`), recording the decision.
    pub fn unmanage(&mut self, person: &str, entitlement: &str, reason: String) -> Result<Action, Refusal> {
        let how = (Scope::EntitlementsUnmanage, ActionKind::Unmanage, "unmanage");
        let result = self.entitlement_intent(person, entitlement, how, reason);
        self.journal.record("actions.unmanage-entitlement", &[person, entitlement], &result, |a| vec![a.id.clone()]);
        result
    }

    /// Retries a failed action (scope `actions:retry`), recording the decision.
    pub fn retry(&mut self, action: &str, reason: String) -> Result<Action, Refusal> {
        let result = self.retry_intent(action, reason);
        self.journal.record("actions.retry-action", &[action], &result, |a| vec![a.id.clone()]);
        result
    }

    /// Runs a read under `persons:read`, recording its decision. An answer of more than
    /// [`MAX_ANSWER_BYTES`] is refused `unavailable`.
    pub fn query<T: serde::Serialize>(
        &mut self,
        function: &'static str,
        ids: &[&str],
        read: impl FnOnce(&Self) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let result = self
            .context
            .permission
            .check(Scope::PersonsRead, None)
            .map_err(Refusal::Forbidden)
            .and_then(|()| read(self))
            .and_then(|answer| match journal::json_len(&answer) {
                bytes if bytes > MAX_ANSWER_BYTES => Err(Refusal::Unavailable(format!(
                    "the answer is {bytes} bytes; provhost hands a plugin at most {MAX_ANSWER_BYTES} bytes per query"
                ))),
                _ => Ok(answer),
            });
        self.journal.record(function, ids, &result, |_| Vec::new());
        result
    }
}

impl Gate {
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
        self.context.policy.exclusions.person(person).map_or(Ok(()), |reason| Err(Refusal::Excluded(reason)))
    }

    /// Refuses an action of `kind` on `system` that the key and manifest do not allow, that
    /// touches an excluded system, or that a window budget has no room for.
    fn system_admitted(&self, scope: Scope, system: &str, kind: ActionKind) -> Result<(), Refusal> {
        let context = &self.context;
        context.permission.check(scope, Some(system)).map_err(Refusal::Forbidden)?;
        if let Some(why) = context.backend.unsupported(kind) {
            return Err(Refusal::Invalid(why));
        }
        if let Some(reason) = context.policy.exclusions.system(system) {
            return Err(Refusal::Excluded(reason));
        }
        for budget in context.policy.windows.iter().filter(|b| b.applies(system, kind)) {
            let used = context
                .store
                .window_usage(self.tenant(), system, kind, budget.per)
                .map_err(|e| Refusal::Unavailable(e.to_string()))?;
            let planned = self.plan.actions().iter().filter(|a| a.system == system && a.kind == kind).count() as u32;
            budget.admit(system, used, planned)?;
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

    fn entitlement_intent(
        &mut self,
        person: &str,
        entitlement: &str,
        (scope, kind, origin): (Scope, ActionKind, &'static str),
        reason: String,
    ) -> Result<Action, Refusal> {
        let person = self.person(person)?;
        let found = self.managed_entitlement_of(&person, entitlement)?;
        self.system_admitted(scope, &found.system, kind)?;
        self.person_admitted(&person)?;
        self.plan_intent(Intent {
            person: person.id,
            system: found.system,
            target: ActionTarget::Entitlement(found.id),
            kind,
            origin,
            reason,
            retry_of: None,
        })
    }

    fn update_intent(&mut self, account: Account, reason: String) -> Result<Action, Refusal> {
        self.system_admitted(Scope::AccountsUpdate, &account.system, ActionKind::Update)?;
        self.plan_intent(Intent {
            person: account.person,
            system: account.system,
            target: ActionTarget::Account(account.id),
            kind: ActionKind::Update,
            origin: "update account",
            reason,
            retry_of: None,
        })
    }

    fn update_one(&mut self, person: &str, account: &str, reason: String) -> Result<Action, Refusal> {
        let person = self.person(person)?;
        let found = self.backend().account(self.tenant(), account)?;
        if found.person != person.id {
            return Err(Refusal::NotFound(format!("account '{account}' does not belong to person '{}'", person.id)));
        }
        self.person_admitted(&person)?;
        self.update_intent(found, reason)
    }

    /// Plans an update of every account the key and manifest allow, skipping (and recording)
    /// accounts in excluded systems; any other refusal refuses the whole call.
    fn update_all(&mut self, person: &str, reason: String) -> Result<Vec<Action>, Refusal> {
        let person = self.person(person)?;
        self.person_admitted(&person)?;
        let mut planned = Vec::new();
        for account in self.backend().accounts(self.tenant(), &person.id)? {
            if let Some(reason) = self.context.policy.exclusions.system(&account.system) {
                let skipped: Result<(), Refusal> = Err(Refusal::Excluded(reason));
                self.journal
                    .record("actions.update-all-accounts", &[&person.id, &account.id], &skipped, |_| Vec::new());
                continue;
            }
            planned.push(self.update_intent(account, reason.clone())?);
        }
        Ok(planned)
    }

    fn retry_intent(&mut self, action: &str, reason: String) -> Result<Action, Refusal> {
        let failed = self.backend().action(self.tenant(), action)?;
        if failed.state != ActionState::Error {
            return Err(Refusal::Conflict(format!(
                "action '{action}' is {}; only an action in state error can be retried",
                failed.state
            )));
        }
        let retries =
            self.context.store.retries_of(self.tenant(), action).map_err(|e| Refusal::Unavailable(e.to_string()))?;
        if let Some(live) = retries.iter().find(|r| r.state != ActionState::Error && r.state != ActionState::Rejected) {
            return Err(Refusal::Conflict(format!(
                "action '{action}' was already retried by action '{}', which is {}; retry that one if it fails",
                live.id, live.state
            )));
        }
        self.system_admitted(Scope::ActionsRetry, &failed.system, failed.kind)?;
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
            origin: "manual retry",
            reason,
            retry_of: Some(failed.id),
        })
    }
}
