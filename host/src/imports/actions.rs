//! `provhost:plugin/actions`: check the call (scope, exclusions, window budget), plan the action,
//! record the decision. Nothing reaches the store here; the plan commits after the plugin returns
//! `ok`, when thresholds are applied.

use super::{CallError, HostState};
use crate::bindings::actions::Host;
use crate::bindings::types::Receipt;
use crate::model::{Account, Action, ActionKind, ActionState, ActionTarget, Entitlement, Person};
use crate::plan::Intent;
use crate::policy::Scope;
use crate::refusal::Refusal;
use crate::runtime::LimitHit;

fn receipt(action: &Action) -> Receipt {
    Receipt { action: action.id.clone(), state: action.state.into() }
}

fn ids(actions: &[Action]) -> Vec<String> {
    actions.iter().map(|a| a.id.clone()).collect()
}

impl HostState {
    /// Plans an intent; a refused plan (the action budget) also ends the invocation's chance to commit.
    fn plan_intent(&mut self, intent: Intent) -> Result<Action, Refusal> {
        let planned = self.plan.add(intent).cloned();
        if planned.is_err() {
            self.limit_hit = Some(LimitHit::Actions(self.limits.max_actions));
        }
        planned
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
        self.system_admitted(Scope::ActionsRetry, &failed.system, failed.kind)?;
        let person = self.person(&failed.person)?;
        self.person_admitted(&person)?;
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

impl Host for HostState {
    fn re_enforce_entitlement(
        &mut self,
        person: String,
        entitlement: String,
        reason: String,
    ) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let how = (Scope::EntitlementsReEnforce, ActionKind::Grant, "re-enforce");
        let result = self.entitlement_intent(&person, &entitlement, how, reason);
        self.journal
            .record("actions.re-enforce-entitlement", &[&person, &entitlement], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }

    fn update_account(&mut self, person: String, account: String, reason: String) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let result = self.update_one(&person, &account, reason);
        self.journal.record("actions.update-account", &[&person, &account], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }

    fn update_all_accounts(&mut self, person: String, reason: String) -> Result<Vec<Receipt>, CallError> {
        self.begin_call()?;
        let result = self.update_all(&person, reason);
        self.journal.record("actions.update-all-accounts", &[&person], &result, |a| ids(a));
        Ok(result?.iter().map(receipt).collect())
    }

    fn unmanage_entitlement(
        &mut self,
        person: String,
        entitlement: String,
        reason: String,
    ) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let how = (Scope::EntitlementsUnmanage, ActionKind::Unmanage, "unmanage");
        let result = self.entitlement_intent(&person, &entitlement, how, reason);
        self.journal.record("actions.unmanage-entitlement", &[&person, &entitlement], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }

    fn retry_action(&mut self, action: String, reason: String) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let result = self.retry_intent(&action, reason);
        self.journal.record("actions.retry-action", &[&action], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::{ActionState as WitState, Host as _};
    use crate::imports::testing::demo_state;
    use crate::model::ActionFilter;
    use crate::runtime::Limits;
    use crate::store::DEMO_TENANT;

    const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

    fn refused(state: &mut HostState, err: CallError) -> String {
        match state.convert_error(err) {
            Ok(e) => format!("{e:?}"),
            Err(trap) => panic!("expected a refusal, got a trap: {trap}"),
        }
    }

    #[test]
    fn re_enforce_plans_a_pending_grant_without_touching_the_store() {
        let (store, mut state) = demo_state(Limits::default());
        let entitlement = store.entitlements_of(DEMO_TENANT, JAN).unwrap().remove(0);
        let before = store.counts(DEMO_TENANT).unwrap();
        let r = state.re_enforce_entitlement(JAN.into(), entitlement.id.clone(), "mail changed".into()).unwrap();
        assert_eq!(r.state, WitState::Pending);
        let planned = &state.plan.actions()[0];
        assert_eq!(
            (planned.id.as_str(), planned.kind, planned.origin.as_str()),
            (r.action.as_str(), ActionKind::Grant, "re-enforce")
        );
        assert_eq!(store.counts(DEMO_TENANT).unwrap(), before, "planning must not write");
        assert_eq!(state.journal.calls[0].decision, "allowed");
    }

    #[test]
    fn another_persons_entitlement_is_not_found_and_recorded() {
        let (store, mut state) = demo_state(Limits::default());
        let other = store.persons(DEMO_TENANT).unwrap().into_iter().find(|p| p.id != JAN).unwrap();
        let theirs = store.entitlements_of(DEMO_TENANT, &other.id).unwrap().remove(0);
        let err = state.re_enforce_entitlement(JAN.into(), theirs.id, "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("does not belong to person"));
        assert!(state.plan.actions().is_empty());
        assert_eq!(state.journal.calls[0].decision, "not-found");
    }

    #[test]
    fn update_all_accounts_plans_one_update_per_account() {
        let (store, mut state) = demo_state(Limits::default());
        let receipts = state.update_all_accounts(JAN.into(), "mail changed".into()).unwrap();
        assert_eq!(receipts.len(), store.accounts_of(DEMO_TENANT, JAN).unwrap().len());
        assert!(state.plan.actions().iter().all(|a| a.kind == ActionKind::Update));
    }

    #[test]
    fn retry_needs_an_action_in_error_and_links_the_new_action_to_it() {
        let (store, mut state) = demo_state(Limits::default());
        let failed = store
            .actions(DEMO_TENANT, &ActionFilter { state: Some(ActionState::Error), ..Default::default() }, 1)
            .unwrap()
            .remove(0);
        state.retry_action(failed.id.clone(), "try again".into()).unwrap();
        let retry = &state.plan.actions()[0];
        assert_eq!((retry.origin.as_str(), retry.retry_of.as_deref()), ("manual retry", Some(failed.id.as_str())));
        assert_ne!(retry.id, failed.id);

        let planned_id = retry.id.clone();
        let err = state.retry_action(planned_id, "again".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("NotFound"), "an uncommitted action cannot be retried");
    }

    #[test]
    fn unmanaged_entitlements_cannot_be_re_enforced() {
        let (store, mut state) = demo_state(Limits::default());
        let mut e = store.entitlements_of(DEMO_TENANT, JAN).unwrap().remove(0);
        e.id = format!("{}-unmanaged", e.id);
        e.managed = false;
        store.insert_entitlement(DEMO_TENANT, &e).unwrap();
        let err = state.re_enforce_entitlement(JAN.into(), e.id.clone(), "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("no longer managed"));
        let err = state.unmanage_entitlement(JAN.into(), e.id, "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("no longer managed"));
    }

    #[test]
    fn the_host_call_budget_refuses_once_then_traps() {
        let limits = Limits { max_host_calls: 1, ..Limits::default() };
        let (_store, mut state) = demo_state(limits);
        state.update_all_accounts(JAN.into(), "x".into()).unwrap();
        let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("host-call limit of 1 calls exceeded"));
        assert_eq!(state.limit_hit, Some(LimitHit::HostCalls(1)));
        let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
        assert!(state.convert_error(err).is_err(), "a call after the budget is gone traps");
    }

    #[test]
    fn a_call_after_the_deadline_traps_and_names_the_deadline() {
        let (_store, mut state) = demo_state(Limits { timeout_ms: 0, ..Limits::default() });
        let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
        let trap = state.convert_error(err).unwrap_err();
        assert_eq!(trap.to_string(), "wall-clock deadline of 0 ms passed");
        assert!(state.plan.actions().is_empty());
    }

    mod governed {
        use super::*;
        use crate::imports::testing::governed_state;
        use crate::policy::{AttributeRule, Exclusions, Grants, TenantPolicy, WindowBudget};

        fn account_in(store: &crate::store::Store, system: &str) -> String {
            store.accounts_of(DEMO_TENANT, JAN).unwrap().into_iter().find(|a| a.system == system).unwrap().id
        }

        #[test]
        fn a_call_outside_the_keys_scope_is_forbidden_names_the_scope_and_plans_nothing() {
            let key = Grants::parse(&["persons:read", "accounts:update@exchange-online"]).unwrap();
            let (store, mut state) = governed_state(Limits::default(), key, TenantPolicy::default());
            let err = state.update_account(JAN.into(), account_in(&store, "topdesk"), "x".into()).unwrap_err();
            let message = refused(&mut state, err);
            assert!(
                message
                    .contains("Forbidden(\"API key 'phk_test' is not granted accounts:update on system 'topdesk'\")"),
                "{message}"
            );
            state.update_account(JAN.into(), account_in(&store, "exchange-online"), "x".into()).unwrap();
            assert_eq!(state.plan.actions().len(), 1);
            let decisions: Vec<&str> = state.journal.calls.iter().map(|c| c.decision).collect();
            assert_eq!(decisions, ["forbidden", "allowed"]);
        }

        #[test]
        fn excluded_persons_are_refused_and_excluded_systems_skipped_by_update_all() {
            let policy = TenantPolicy {
                exclusions: Exclusions { systems: vec!["afas-hr".into()], ..Default::default() },
                ..Default::default()
            };
            let (_store, mut state) = governed_state(Limits::default(), Grants::everything(), policy);
            let receipts = state.update_all_accounts(JAN.into(), "x".into()).unwrap();
            assert_eq!(receipts.len(), 3, "four accounts, one in an excluded system");
            assert!(state.plan.actions().iter().all(|a| a.system != "afas-hr"));
            assert!(state.journal.calls.iter().any(|c| c.decision == "excluded"));

            let rule = AttributeRule { attribute: "department".into(), equals: Some("sales".into()), one_of: None };
            let policy = TenantPolicy {
                exclusions: Exclusions { rules: vec![rule], ..Default::default() },
                ..Default::default()
            };
            let (_store, mut state) = governed_state(Limits::default(), Grants::everything(), policy);
            let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
            assert!(refused(&mut state, err).contains("excluded by the rule department = sales"));
            assert!(state.plan.actions().is_empty());
        }

        #[test]
        fn a_window_budget_counts_committed_and_planned_actions() {
            let budget = WindowBudget {
                system: "topdesk".into(),
                kind: ActionKind::Update,
                max: 2,
                per: std::time::Duration::from_secs(3600),
            };
            let policy = TenantPolicy { windows: vec![budget], ..Default::default() };
            let (store, mut state) = governed_state(Limits::default(), Grants::everything(), policy);
            // The demo's failed TOPdesk update was committed just now: one of the two is used.
            state.update_account(JAN.into(), account_in(&store, "topdesk"), "x".into()).unwrap();
            let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
            let err = state.retry_action(failed.id, "again".into()).unwrap_err();
            let message = refused(&mut state, err);
            assert!(message.contains("ThresholdExceeded") && message.contains("limit: 2, count: 3"), "{message}");
        }
    }
}
