//! `provhost:plugin/actions`, the same in both versions: each import converts its arguments to a [`Call`] and has the
//! [`Gate`](provhost_gate::Gate) decide it (bounds, scope, exclusions, window budget, plan, decision
//! recorded). Nothing reaches the store here; the plan commits after the plugin returns `ok`, when
//! thresholds are applied.

use super::{CallError, HostState};
use crate::bindings::types::Receipt;
use provhost_core::model::Action;
use provhost_gate::Call;

fn receipt(action: &Action) -> Receipt {
    Receipt { action: action.id.clone(), state: action.state.into() }
}

/// The one receipt of a call that plans one action.
fn one(receipts: Vec<Receipt>) -> Receipt {
    receipts.into_iter().next().expect("a call on one target plans one action")
}

impl HostState {
    /// Makes a call that plans actions: counted and checked first, then decided by the gate.
    fn act(&mut self, call: Call) -> Result<Vec<Receipt>, CallError> {
        self.begin_call(call.import())?;
        Ok(self.gate.decide(&call)?.iter().map(receipt).collect())
    }
}

/// The actions imports, the same in both contract versions: each converts its arguments to a
/// [`Call`] and has the gate decide it.
macro_rules! actions_host {
    ($host:path) => {
        impl $host for HostState {
            fn re_enforce_entitlement(
                &mut self,
                person: String,
                entitlement: String,
                reason: String,
            ) -> Result<Receipt, CallError> {
                self.act(Call::re_enforce(person, entitlement, reason)).map(one)
            }

            fn update_account(
                &mut self,
                person: String,
                account: String,
                reason: String,
            ) -> Result<Receipt, CallError> {
                self.act(Call::update_account(person, account, reason)).map(one)
            }

            fn update_all_accounts(&mut self, person: String, reason: String) -> Result<Vec<Receipt>, CallError> {
                self.act(Call::update_all_accounts(person, reason))
            }

            fn unmanage_entitlement(
                &mut self,
                person: String,
                entitlement: String,
                reason: String,
            ) -> Result<Receipt, CallError> {
                self.act(Call::unmanage(person, entitlement, reason)).map(one)
            }

            fn retry_action(&mut self, action: String, reason: String) -> Result<Receipt, CallError> {
                self.act(Call::retry(action, reason)).map(one)
            }
        }
    };
}

actions_host!(crate::bindings::actions::Host);
actions_host!(crate::bindings::next::actions::Host);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::actions::Host;
    use crate::bindings::types::{ActionState as WitState, Host as _};
    use crate::imports::testing::demo_state;
    use provhost_core::limits::{LimitHit, Limits};
    use provhost_core::model::{ActionFilter, ActionKind, ActionState};
    use provhost_store::DEMO_TENANT;

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
        let planned = &state.gate.plan.actions()[0];
        assert_eq!(
            (planned.id.as_str(), planned.kind, planned.origin.as_str()),
            (r.action.as_str(), ActionKind::Grant, "re-enforce")
        );
        assert_eq!(store.counts(DEMO_TENANT).unwrap(), before, "planning must not write");
        assert_eq!(state.gate.journal.calls[0].decision, "allowed");
    }

    #[test]
    fn another_persons_entitlement_is_not_found_and_recorded() {
        let (store, mut state) = demo_state(Limits::default());
        let other = store.persons(DEMO_TENANT).unwrap().into_iter().find(|p| p.id != JAN).unwrap();
        let theirs = store.entitlements_of(DEMO_TENANT, &other.id).unwrap().remove(0);
        let err = state.re_enforce_entitlement(JAN.into(), theirs.id, "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("does not belong to person"));
        assert!(state.gate.plan.actions().is_empty());
        assert_eq!(state.gate.journal.calls[0].decision, "not-found");
    }

    #[test]
    fn update_all_accounts_plans_one_update_per_account() {
        let (store, mut state) = demo_state(Limits::default());
        let receipts = state.update_all_accounts(JAN.into(), "mail changed".into()).unwrap();
        assert_eq!(receipts.len(), store.accounts_of(DEMO_TENANT, JAN).unwrap().len());
        assert!(state.gate.plan.actions().iter().all(|a| a.kind == ActionKind::Update));
    }

    #[test]
    fn retry_needs_an_action_in_error_and_links_the_new_action_to_it() {
        let (store, mut state) = demo_state(Limits::default());
        let failed = store
            .actions(DEMO_TENANT, &ActionFilter { state: Some(ActionState::Error), ..Default::default() }, 1)
            .unwrap()
            .remove(0);
        state.retry_action(failed.id.clone(), "try again".into()).unwrap();
        let retry = &state.gate.plan.actions()[0];
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
    fn an_oversized_id_or_reason_is_refused_invalid_recorded_cut_and_plans_nothing() {
        let (store, mut state) = demo_state(Limits::default());
        let huge = "j".repeat(50 << 20);
        let err = state.update_all_accounts(huge.clone(), "x".into()).unwrap_err();
        let message = refused(&mut state, err);
        assert!(message.contains("an id is 52428800 bytes long; provhost takes at most 256 bytes"), "{message}");
        let call = &state.gate.journal.calls[0];
        assert_eq!(call.decision, "invalid");
        assert!(call.ids[0].len() < 400 && call.ids[0].ends_with("bytes kept]"), "the recorded id is cut");

        let account = store.accounts_of(DEMO_TENANT, JAN).unwrap().remove(0).id;
        let err = state.update_account(JAN.into(), account.clone(), huge).unwrap_err();
        assert!(refused(&mut state, err).contains("the reason is 52428800 bytes long; provhost takes at most 1024"));
        state.update_account(JAN.into(), account, "r".repeat(1024)).unwrap();
        assert_eq!(state.gate.plan.actions().len(), 1, "a reason of exactly the limit is taken");

        let narrow = Limits { max_id_bytes: 8, ..Limits::default() };
        let (_store, mut state) = demo_state(narrow);
        let err = state.retry_action("123456789".into(), "x".into()).unwrap_err();
        assert!(refused(&mut state, err).contains("at most 8 bytes"), "a plugin's limits can lower the bound");
    }

    #[test]
    fn a_call_after_the_deadline_traps_and_names_the_deadline() {
        let (_store, mut state) = demo_state(Limits { timeout_ms: 0, ..Limits::default() });
        let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
        let trap = state.convert_error(err).unwrap_err();
        assert_eq!(trap.to_string(), "wall-clock deadline of 0 ms passed");
        assert!(state.gate.plan.actions().is_empty());
    }

    mod governed {
        use super::*;
        use crate::imports::testing::governed_state;
        use provhost_core::policy::{AttributeRule, Exclusions, Grants, TenantPolicy, WindowBudget};

        fn account_in(store: &dyn provhost_store::Store, system: &str) -> String {
            store.accounts_of(DEMO_TENANT, JAN).unwrap().into_iter().find(|a| a.system == system).unwrap().id
        }

        #[test]
        fn a_call_outside_the_keys_scope_is_forbidden_names_the_scope_and_plans_nothing() {
            let key = Grants::parse(&["persons:read", "accounts:update@exchange-online"]).unwrap();
            let (store, mut state) = governed_state(Limits::default(), key, TenantPolicy::default());
            let err = state.update_account(JAN.into(), account_in(&*store, "topdesk"), "x".into()).unwrap_err();
            let message = refused(&mut state, err);
            assert!(
                message
                    .contains("Forbidden(\"API key 'phk_test' is not granted accounts:update on system 'topdesk'\")"),
                "{message}"
            );
            state.update_account(JAN.into(), account_in(&*store, "exchange-online"), "x".into()).unwrap();
            assert_eq!(state.gate.plan.actions().len(), 1);
            let decisions: Vec<&str> = state.gate.journal.calls.iter().map(|c| c.decision).collect();
            assert_eq!(decisions, ["forbidden", "allowed"]);
        }

        #[test]
        fn a_refused_update_all_accounts_plans_none_of_them() {
            let key = Grants::parse(&["persons:read", "accounts:update@exchange-online"]).unwrap();
            let (store, mut state) = governed_state(Limits::default(), key, TenantPolicy::default());
            state.update_account(JAN.into(), account_in(&*store, "exchange-online"), "first".into()).unwrap();
            let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
            assert!(refused(&mut state, err).contains("Forbidden"));
            let planned: Vec<&str> = state.gate.plan.actions().iter().map(|a| a.message.as_str()).collect();
            assert_eq!(planned, ["first"], "what was planned before the call stays; nothing of the call does");
            assert_eq!(state.gate.journal.calls[1].decision, "forbidden");
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
            assert!(state.gate.plan.actions().iter().all(|a| a.system != "afas-hr"));
            assert!(state.gate.journal.calls.iter().any(|c| c.decision == "excluded"));

            let rule = AttributeRule { attribute: "department".into(), equals: Some("sales".into()), one_of: None };
            let policy = TenantPolicy {
                exclusions: Exclusions { rules: vec![rule], ..Default::default() },
                ..Default::default()
            };
            let (_store, mut state) = governed_state(Limits::default(), Grants::everything(), policy);
            let err = state.update_all_accounts(JAN.into(), "x".into()).unwrap_err();
            assert!(refused(&mut state, err).contains("excluded by the rule department = sales"));
            assert!(state.gate.plan.actions().is_empty());
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
            state.update_account(JAN.into(), account_in(&*store, "topdesk"), "x".into()).unwrap();
            let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
            let err = state.retry_action(failed.id, "again".into()).unwrap_err();
            let message = refused(&mut state, err);
            assert!(message.contains("ThresholdExceeded") && message.contains("limit: 2, count: 3"), "{message}");
        }
    }
}
