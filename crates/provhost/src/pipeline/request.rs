//! A targeted request on the HTTP API (re-enforce, update account(s), unmanage, retry): the same
//! gate, thresholds, commit and audit as a plugin's call, without a plugin.

use std::sync::Arc;

use super::conclude::{Concluding, conclude};
use super::{Mode, RunError};
use crate::api::{ActionSummary, RequestReport};
use crate::audit::{InvocationRecord, Outcome};
use crate::gate::TenantContext;
use crate::gate::{Bounds, Gate};
use crate::model::{Action, new_id};
use crate::refusal::Refusal;

/// Runs one targeted request for the key in `context`. `summary` names the request (method and
/// path) in its records. A refusal is recorded and returned as [`RunError::Refused`], whether it
/// came while planning or at the commit's re-check (a window budget another request used up
/// meanwhile).
pub fn run_request(
    context: Arc<TenantContext>,
    summary: &str,
    mode: Mode<'_>,
    request: impl FnOnce(&mut Gate) -> Result<Vec<Action>, Refusal>,
) -> Result<RequestReport, RunError> {
    let Mode { dry_run, execution } = mode;
    let id = new_id();
    let mut record = InvocationRecord {
        event_kind: "request".into(),
        key_id: Some(context.permission.key_id.clone()),
        event_summary: summary.to_owned(),
        ..InvocationRecord::starting(id.clone(), &context.parts.tenant, "api", dry_run)
    };
    let mut gate = Gate::new(&id, context.clone(), Bounds::REQUEST);
    let started = std::time::Instant::now();
    let result = request(&mut gate);
    record.duration_us = started.elapsed().as_micros() as u64;
    record.host_calls = gate.journal.calls.len() as u32;
    (record.outcome, record.detail) = match &result {
        Ok(actions) => (Outcome::Completed, format!("{summary}: {} actions planned", actions.len())),
        Err(refusal) => (Outcome::Denied(refusal.code()), format!("{summary}: {refusal}")),
    };
    let plan = gate.plan.take_actions();
    let concluding =
        Concluding { plan, journal: &gate.journal, may_commit: result.is_ok(), observed: None, event: None, execution };
    let done = conclude(&context, &mut record, concluding)?;
    if let Some(refusal) = done.refused_at_commit {
        return Err(refusal.into());
    }
    result?;
    Ok(RequestReport {
        invocation: id,
        committed: done.committed,
        actions: done.actions.iter().map(ActionSummary::from).collect(),
        thresholds: done.thresholds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Call;
    use crate::model::{ActionFilter, ActionKind, ActionState};
    use crate::pipeline::Execution;
    use crate::policy::{Grants, TenantPolicy, WindowBudget};
    use crate::store::DEMO_TENANT;
    use crate::webhook::Tracking;
    use provhost_gate::testing::governed_context;

    const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

    /// The refusal a request ended with.
    fn refused(answer: Result<RequestReport, RunError>) -> Refusal {
        match answer {
            Err(RunError::Refused(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_plan_refused_at_the_commits_recheck_answers_as_a_refusal() {
        let budget = WindowBudget {
            system: "exchange-online".into(),
            kind: ActionKind::Update,
            max: 1,
            per: std::time::Duration::from_secs(3600),
        };
        let policy = TenantPolicy { windows: vec![budget], ..Default::default() };
        let (store, context) = governed_context(Grants::everything(), policy);
        let account =
            store.accounts_of(DEMO_TENANT, JAN).unwrap().into_iter().find(|a| a.system == "exchange-online").unwrap();
        let before = store.actions(DEMO_TENANT, &ActionFilter::default(), 100).unwrap().len();
        let answer = run_request(context.clone(), "POST /test", Mode::commit(Execution::Queued), |gate| {
            let planned = gate.decide(&Call::update_account(JAN, &account.id, "mail changed"))?;
            // Meanwhile another request, elsewhere, takes the window's one update.
            let mut other = Gate::new(&new_id(), context.clone(), Bounds { max_actions: 10, ..Bounds::REQUEST });
            let taken = other.decide(&Call::update_account(JAN, &account.id, "the other request")).unwrap();
            let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "other", "the other request");
            store.commit_invocation(&record, &taken).unwrap();
            Ok(planned)
        });
        let refusal = refused(answer);
        assert_eq!(refusal.code(), "threshold-exceeded", "{refusal}");
        let after = store.actions(DEMO_TENANT, &ActionFilter::default(), 100).unwrap();
        assert_eq!(after.len(), before + 1, "only the other request's action is committed");
    }

    #[test]
    fn of_two_concurrent_retries_of_one_action_exactly_one_commits() {
        let (store, context) = governed_context(Grants::everything(), TenantPolicy::default());
        let failed = store
            .actions(DEMO_TENANT, &ActionFilter { state: Some(ActionState::Error), ..Default::default() }, 1)
            .unwrap()
            .remove(0);
        let first = run_request(context.clone(), "POST retry (first)", Mode::commit(Execution::Queued), |gate| {
            let planned = gate.decide(&Call::retry(&failed.id, "first"))?;
            // The second retry plans and commits while the first is between planning and commit.
            let second = run_request(context.clone(), "POST retry (second)", Mode::commit(Execution::Queued), |p| {
                p.decide(&Call::retry(&failed.id, "second"))
            });
            assert!(second.is_ok(), "the second retry commits");
            Ok(planned)
        });
        let refusal = refused(first);
        assert_eq!(refusal.code(), "conflict");
        assert!(refusal.to_string().contains("was already retried by action"), "{refusal}");
        let all = store.actions(DEMO_TENANT, &ActionFilter::default(), 100).unwrap();
        let retries: Vec<&Action> = all.iter().filter(|a| a.retry_of.as_ref() == Some(&failed.id)).collect();
        assert_eq!(retries.len(), 1, "exactly one retry is committed");
    }

    #[test]
    fn a_retry_of_a_grant_on_an_entitlement_unmanaged_since_is_refused_at_plan_commit_and_carry_out() {
        use crate::executor::{DEFAULT_LEASE, Executor};
        use crate::model::{Action, ActionTarget};
        let executor = Executor::new(DEFAULT_LEASE);
        // A demo store whose first Exchange Online entitlement of Jan has a failed grant.
        let failed_grant = || {
            let (store, context) = governed_context(Grants::everything(), TenantPolicy::default());
            let entitlement =
                store.entitlements_of(DEMO_TENANT, JAN).unwrap().into_iter().find(|e| e.system == "exchange-online");
            let entitlement = entitlement.unwrap();
            let template = store.actions(DEMO_TENANT, &ActionFilter::default(), 1).unwrap().remove(0);
            let failed = Action {
                id: new_id(),
                system: entitlement.system.clone(),
                target: ActionTarget::Entitlement(entitlement.id.clone()),
                kind: ActionKind::Grant,
                state: ActionState::Error,
                retry_of: None,
                ..template
            };
            let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "a failed grant");
            store.commit_invocation(&record, std::slice::from_ref(&failed)).unwrap();
            (store, context, failed.id, entitlement.id)
        };
        let unmanage = |context: &Arc<TenantContext>, entitlement: &str| {
            let done = run_request(context.clone(), "POST unmanage", Mode::commit(Execution::Now(&executor)), |gate| {
                gate.decide(&Call::unmanage(JAN, entitlement, "stop managing it"))
            });
            assert_eq!(done.unwrap().actions[0].state, ActionState::Success);
        };
        let retry = |context: &Arc<TenantContext>, failed: &str, meanwhile: &dyn Fn()| {
            run_request(context.clone(), "POST retry", Mode::commit(Execution::Queued), |gate| {
                let planned = gate.decide(&Call::retry(failed, "try again"))?;
                meanwhile();
                Ok(planned)
            })
        };

        // At plan: unmanaged before the retry is asked for.
        let (_store, context, failed, entitlement) = failed_grant();
        unmanage(&context, &entitlement);
        let refusal = refused(retry(&context, &failed, &|| ()));
        assert_eq!(refusal.code(), "invalid");
        assert!(refusal.to_string().contains("no longer managed"), "{refusal}");

        // At commit: unmanaged between the retry's plan and its commit.
        let (store, context, failed, entitlement) = failed_grant();
        let refusal = refused(retry(&context, &failed, &|| unmanage(&context, &entitlement)));
        assert!(refusal.to_string().contains("is no longer managed"), "{refusal}");
        assert_eq!(store.live_retry(DEMO_TENANT, &failed).unwrap(), None, "nothing committed");

        // At carry-out: unmanaged between the retry's commit and its carry-out.
        let (store, context, failed, entitlement) = failed_grant();
        let committed = retry(&context, &failed, &|| ()).unwrap();
        unmanage(&context, &entitlement);
        let pending = store.action(DEMO_TENANT, &committed.actions[0].id).unwrap();
        let ended = executor.run_now(&context, Tracking::Fixed("test", "test"), &[pending]).unwrap();
        assert_eq!(ended[0].state, ActionState::Error);
        assert!(ended[0].message.contains("no longer managed"), "{}", ended[0].message);
    }
}
