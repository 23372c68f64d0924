//! `provhost:plugin/actions`: validate the call now, plan the action, record the decision.
//! Nothing reaches the store here; the plan commits after the plugin returns `ok`.

use super::{CallError, HostState};
use crate::bindings::actions::Host;
use crate::bindings::types::Receipt;
use crate::model::{Action, ActionKind, ActionState, ActionTarget};
use crate::plan::Intent;
use crate::refusal::Refusal;
use crate::runtime::LimitHit;

fn receipt(action: &Action) -> Receipt {
    Receipt { action: action.id.clone(), state: action.state.into() }
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

    /// The entitlement, checked to belong to the person and still be managed.
    fn managed_entitlement_of(&self, person: &str, entitlement: &str) -> Result<crate::model::Entitlement, Refusal> {
        self.backend().person(self.tenant(), person)?;
        let found = self.backend().entitlement(self.tenant(), entitlement)?;
        if found.person != person {
            return Err(Refusal::NotFound(format!("entitlement '{entitlement}' does not belong to person '{person}'")));
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
        kind: ActionKind,
        origin: &'static str,
        reason: String,
    ) -> Result<Action, Refusal> {
        let found = self.managed_entitlement_of(person, entitlement)?;
        self.plan_intent(Intent {
            person: person.to_owned(),
            system: found.system,
            target: ActionTarget::Entitlement(found.id),
            kind,
            origin,
            reason,
            retry_of: None,
        })
    }

    fn update_intent(&mut self, account: crate::model::Account, reason: String) -> Result<Action, Refusal> {
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

    fn retry_intent(&mut self, action: &str, reason: String) -> Result<Action, Refusal> {
        let failed = self.backend().action(self.tenant(), action)?;
        if failed.state != ActionState::Error {
            return Err(Refusal::Conflict(format!(
                "action '{action}' is {}; only an action in state error can be retried",
                failed.state
            )));
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

fn ids(actions: &[Action]) -> Vec<String> {
    actions.iter().map(|a| a.id.clone()).collect()
}

impl Host for HostState {
    fn re_enforce_entitlement(
        &mut self,
        person: String,
        entitlement: String,
        reason: String,
    ) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let result = self.entitlement_intent(&person, &entitlement, ActionKind::Grant, "re-enforce", reason);
        self.journal
            .record("actions.re-enforce-entitlement", &[&person, &entitlement], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }

    fn update_account(&mut self, person: String, account: String, reason: String) -> Result<Receipt, CallError> {
        self.begin_call()?;
        let result = (|| {
            self.backend().person(self.tenant(), &person)?;
            let found = self.backend().account(self.tenant(), &account)?;
            if found.person != person {
                return Err(Refusal::NotFound(format!("account '{account}' does not belong to person '{person}'")));
            }
            self.update_intent(found, reason)
        })();
        self.journal.record("actions.update-account", &[&person, &account], &result, |a| vec![a.id.clone()]);
        Ok(receipt(&result?))
    }

    fn update_all_accounts(&mut self, person: String, reason: String) -> Result<Vec<Receipt>, CallError> {
        self.begin_call()?;
        let result = (|| {
            self.backend().person(self.tenant(), &person)?;
            let accounts = self.backend().accounts(self.tenant(), &person)?;
            accounts
                .into_iter()
                .map(|account| self.update_intent(account, reason.clone()))
                .collect::<Result<Vec<_>, _>>()
        })();
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
        let result = self.entitlement_intent(&person, &entitlement, ActionKind::Unmanage, "unmanage", reason);
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
}
