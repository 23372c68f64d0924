//! Approving and rejecting blocked actions: windows, four eyes, refusals on record.

use std::time::Duration;

use super::Make;
use crate::{Commit, DEMO_TENANT, Declined, Notify, Store, Verdict};
use provhost_core::audit::InvocationRecord;
use provhost_core::model::{Action, ActionFilter, ActionState, new_id, rfc3339};
use provhost_core::policy::{TenantPolicy, WindowBudget};
use provhost_core::refusal::Refusal;

const NONE: Notify<'static> = &|_| Vec::new();

/// A demo store, its failed update (in error, so outside every window), and `n` blocked
/// copies of it committed under key `phk_causer` two hours ago.
fn blocked(make: Make, n: usize) -> (Box<dyn Store>, Action, Vec<String>) {
    let store = make();
    crate::seed_demo(&*store).unwrap();
    let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
    let long_ago = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(2));
    let invocation = new_id();
    let blocked: Vec<Action> = (0..n)
        .map(|i| Action {
            id: new_id(),
            state: ActionState::Blocked,
            message: format!("blocked {i}"),
            retry_of: None,
            invocation: Some(invocation.clone()),
            created_at: long_ago.clone(),
            updated_at: long_ago.clone(),
            ..failed.clone()
        })
        .collect();
    let mut record = InvocationRecord::history(&invocation, DEMO_TENANT, "test", "blocked updates");
    record.key_id = Some("phk_causer".into());
    store.commit_invocation(&record, &blocked).unwrap();
    (store, failed, blocked.into_iter().map(|a| a.id).collect())
}

/// The window usage of the failed action's system and kind over the last hour.
fn used(store: &dyn Store, failed: &Action) -> u32 {
    store.window_usage(DEMO_TENANT, &failed.system, failed.kind, Duration::from_secs(3600)).unwrap()
}

/// The refusal `unit` came back with; anything else fails the test.
fn refusal_of<T: std::fmt::Debug>(unit: Result<T, Declined>) -> Refusal {
    match unit {
        Err(Declined::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn window(failed: &Action, max: u32) -> TenantPolicy {
    let per = Duration::from_secs(3600);
    TenantPolicy {
        windows: vec![WindowBudget { system: failed.system.clone(), kind: failed.kind, max, per }],
        ..Default::default()
    }
}

pub fn an_approval_cannot_push_a_window_past_its_maximum_and_a_refusal_is_recorded(make: Make) {
    let (store, failed, ids) = blocked(make, 3);
    let policy = window(&failed, used(&*store, &failed) + 2);
    let before = store.audit(&Default::default(), 1000, 0).unwrap().len();
    let refused = refusal_of(store.decide_blocked(DEMO_TENANT, &ids, Verdict::Approve, "phk_x", &policy, NONE));
    assert_eq!(refused.code(), "threshold-exceeded");
    assert!(ids.iter().all(|id| store.action(DEMO_TENANT, id).unwrap().state == ActionState::Blocked));
    let records = store.audit(&Default::default(), 1000, 0).unwrap();
    assert_eq!(records.len(), before + 1, "the refused approval is on record");
    let last = &records.last().unwrap().entry;
    assert_eq!((last.decision.as_str(), last.key_id.as_deref()), ("threshold-exceeded", Some("phk_x")));
    let two = store.decide_blocked(DEMO_TENANT, &ids[..2], Verdict::Approve, "phk_x", &policy, NONE).unwrap();
    assert!(two.iter().all(|a| a.state == ActionState::Pending));
    let rejected = store.decide_blocked(DEMO_TENANT, &ids[2..], Verdict::Reject, "phk_x", &policy, NONE).unwrap();
    assert_eq!(rejected[0].state, ActionState::Rejected, "a rejection needs no room");
}

pub fn a_window_used_up_by_approvals_of_old_blocked_actions_refuses_the_next_commit(make: Make) {
    let (store, failed, ids) = blocked(make, 2);
    let base = used(&*store, &failed);
    let policy = window(&failed, base + 2);
    let next = || Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() };
    let commit = |action: Action| {
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one more update");
        let audit = [record.plan_entry(std::slice::from_ref(&action))];
        let actions = [action];
        let commit =
            Commit { record: &record, actions: &actions, observed: None, windows: &policy.windows, audit: &audit };
        store.commit(&commit)
    };
    // Blocked two hours ago, they are older than the window: until approved they use none of it.
    assert_eq!(used(&*store, &failed), base);
    let approved = store.decide_blocked(DEMO_TENANT, &ids, Verdict::Approve, "phk_x", &policy, NONE).unwrap();
    assert_eq!(approved.len(), 2);
    assert_eq!(used(&*store, &failed), base + 2, "approved now, they count now");
    let refused = refusal_of(commit(next()));
    assert_eq!(refused.code(), "threshold-exceeded", "{refused}");
    let roomy = window(&failed, base + 3);
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one more update");
    let actions = [next()];
    let audit = [record.plan_entry(&actions)];
    let commit = Commit { record: &record, actions: &actions, observed: None, windows: &roomy.windows, audit: &audit };
    store.commit(&commit).expect("with room for it, the same commit goes through");
}

pub fn under_four_eyes_the_key_that_caused_the_block_cannot_approve_it_and_another_can(make: Make) {
    let (store, _, ids) = blocked(make, 1);
    let four_eyes = TenantPolicy { four_eyes: true, ..Default::default() };
    let own = store.decide_blocked(DEMO_TENANT, &ids, Verdict::Approve, "phk_causer", &four_eyes, NONE);
    let refusal = refusal_of(own);
    assert_eq!(refusal.code(), "forbidden");
    assert!(refusal.to_string().contains("four eyes: API key 'phk_causer' caused the block"), "{refusal}");
    assert_eq!(store.action(DEMO_TENANT, &ids[0]).unwrap().state, ActionState::Blocked);
    let last = store.audit(&Default::default(), 1000, 0).unwrap().pop().unwrap().entry;
    assert_eq!((last.kind.as_str(), last.decision.as_str()), ("approval", "forbidden"));
    let without = TenantPolicy::default();
    let undecided = blocked(make, 1);
    let mine = undecided.0.decide_blocked(DEMO_TENANT, &undecided.2, Verdict::Approve, "phk_causer", &without, NONE);
    mine.expect("without the rule the same key may approve");
    let other = store.decide_blocked(DEMO_TENANT, &ids, Verdict::Approve, "phk_other", &four_eyes, NONE).unwrap();
    assert_eq!(other[0].state, ActionState::Pending, "another key may");
}

pub fn blocked_actions_are_counted_by_system_and_kind_with_the_latest_threshold(make: Make) {
    let (store, failed, ids) = blocked(make, 3);
    let groups = store.blocked_groups(DEMO_TENANT).unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let group = &groups[0];
    assert_eq!((group.system.as_str(), group.kind, group.count), (failed.system.as_str(), failed.kind, 3));
    assert!(group.threshold.starts_with("blocked "), "{}", group.threshold);
    store.decide_blocked(DEMO_TENANT, &ids[..1], Verdict::Reject, "phk_x", &TenantPolicy::default(), NONE).unwrap();
    assert_eq!(store.blocked_groups(DEMO_TENANT).unwrap()[0].count, 2, "a rejected action is no longer counted");
    assert!(store.blocked_groups("another-tenant").unwrap().is_empty(), "another tenant's are not counted");
}
