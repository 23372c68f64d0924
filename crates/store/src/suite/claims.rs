//! Claims under leases that fence, their renewal, follow-ups and ends.

use std::time::Duration;

use super::Make;
use crate::{Batch, Claim, DEMO_TENANT, Due, Effect, Finish, FollowUp, Store, seed_demo};
use provhost_core::audit::InvocationRecord;
use provhost_core::model::{Action, ActionFilter, ActionState, new_id};

/// A demo store with two committed pending copies of the demo's failed action.
fn two_pending(make: Make) -> (Box<dyn Store>, Vec<String>) {
    let store = make();
    seed_demo(&*store).unwrap();
    let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
    let pending: Vec<Action> = (0..2)
        .map(|_| Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() })
        .collect();
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "two pending");
    store.commit_invocation(&record, &pending).unwrap();
    (store, pending.into_iter().map(|a| a.id).collect())
}

fn demo() -> Vec<Batch> {
    vec![Batch { tenant: DEMO_TENANT.to_string(), most: 10 }]
}

fn done(by: &str) -> Finish {
    Finish::Success(Effect::Nothing, format!("done by {by}"))
}

pub fn a_claim_is_held_until_its_lease_passes_and_then_taken_up_again_with_the_attempt_recorded(make: Make) {
    let (store, ids) = two_pending(make);
    let first = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].action.state, first[0].attempt), (ActionState::Running, 1));
    std::thread::sleep(Duration::from_millis(5));
    let held = store.claim_actions("b", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
    let taken: Vec<&str> = held.iter().map(|c| c.action.id.as_str()).collect();
    assert!(taken.contains(&ids[1].as_str()), "the other pending action is claimed");
    assert!(taken.contains(&ids[0].as_str()), "a claim whose lease passed is taken up again");
    let again = held.iter().find(|c| c.action.id == ids[0]).unwrap();
    assert_eq!(again.attempt, 2);
    assert!(again.key.token > first[0].key.token, "a later claim has a higher fencing token");
    assert!(again.action.message.contains("taken up again by executor b (attempt 2)"), "{}", again.action.message);
    assert!(again.action.message.contains("lease of executor a passed"), "{}", again.action.message);
    let more = store.claim_actions("c", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
    assert!(more.is_empty(), "b's leases hold");
    assert!(store.due_tenants(&[DEMO_TENANT.to_string()]).unwrap().is_empty(), "nothing is due while b holds both");

    let late = store.finish_actions(DEMO_TENANT, "a", &[(first[0].key.clone(), done("a"))], &|_| vec![]).unwrap();
    assert!(late.is_empty(), "an executor that lost its lease records nothing");
    assert_eq!(store.renew_leases("a", Duration::from_secs(60), &[first[0].key.clone()]).unwrap(), [false]);
    let ended = store.finish_actions(DEMO_TENANT, "b", &[(again.key.clone(), done("b"))], &|_| vec![]).unwrap();
    assert_eq!((ended[0].state, ended[0].message.as_str()), (ActionState::Success, "done by b"));
    let history: Vec<ActionState> =
        store.action_history(DEMO_TENANT, &ids[0]).unwrap().into_iter().map(|h| h.state).collect();
    use ActionState::*;
    assert_eq!(history, [Pending, Running, Running, Success], "each attempt and the one end are recorded");
    assert!(store.claim_actions("c", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap().is_empty());
    assert!(store.verify_audit(DEMO_TENANT).unwrap().broken.is_none(), "the chain verifies");
}

pub fn a_stale_claim_of_the_same_owner_cannot_end_or_renew_the_action(make: Make) {
    let (store, ids) = two_pending(make);
    let old = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[..1])).unwrap().remove(0);
    std::thread::sleep(Duration::from_millis(5));
    // The same executor takes the action up again after its own lease passed: the owner is
    // the same, the attempt is not.
    let new = store.claim_actions("a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    let new = new.into_iter().next().expect("taken up again");
    assert_eq!(new.attempt, 2);
    assert_eq!(store.renew_leases("a", Duration::from_secs(60), std::slice::from_ref(&old.key)).unwrap(), [false]);
    assert!(!store.note_follow("a", &old.key, "task-1").unwrap(), "the old attempt notes nothing");
    let notify =
        |ended: &[Action]| ended.iter().map(|a| ("http://127.0.0.1:1/".to_string(), a.message.clone())).collect();
    let stale = store.finish_actions(DEMO_TENANT, "a", &[(old.key.clone(), done("old"))], &notify).unwrap();
    assert!(stale.is_empty(), "the old attempt of the same owner ends nothing");
    assert!(store.deliveries(DEMO_TENANT, None, 10, 0).unwrap().is_empty(), "and notifies no one");
    assert_eq!(store.action(DEMO_TENANT, &ids[0]).unwrap().state, ActionState::Running);
    assert_eq!(store.renew_leases("a", Duration::from_secs(60), std::slice::from_ref(&new.key)).unwrap(), [true]);
    let ended = store.finish_actions(DEMO_TENANT, "a", &[(new.key, done("new"))], &notify).unwrap();
    assert_eq!(ended[0].message, "done by new");
    let queued = store.deliveries(DEMO_TENANT, None, 10, 0).unwrap();
    assert_eq!(queued.len(), 1, "the end's notification is queued in its transaction");
    assert_eq!(queued[0].payload, "done by new");
}

pub fn a_waiting_action_is_followed_up_when_due_without_a_record_until_it_ends(make: Make) {
    let (store, ids) = two_pending(make);
    let claim = store.claim_actions("a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    assert!(store.note_follow("a", &claim[0].key, "task-7").unwrap());
    let follow = FollowUp { reference: "task-7".into(), after: Duration::ZERO };
    let waiting = Finish::Waiting("still running there".into(), follow.clone());
    let moved = store.finish_actions(DEMO_TENANT, "a", &[(claim[0].key.clone(), waiting)], &|_| vec![]).unwrap();
    assert_eq!(moved[0].state, ActionState::Waiting);
    let records = store.audit(&Default::default(), 1000, 0).unwrap().len();

    std::thread::sleep(Duration::from_millis(5));
    let up = store.claim_actions("b", Duration::from_secs(60), Due::Tenants(&demo())).unwrap();
    let up: Vec<&Claim> = up.iter().filter(|c| c.action.id == ids[0]).collect();
    assert_eq!(up.len(), 1, "due for its follow-up");
    assert_eq!(up[0].action.state, ActionState::Waiting, "a follow-up is no new attempt");
    assert_eq!((up[0].attempt, up[0].follow.as_ref().unwrap().reference.as_str()), (1, "task-7"));
    let still = Finish::Waiting("still running there".into(), FollowUp { after: Duration::from_secs(3600), ..follow });
    let moved = store.finish_actions(DEMO_TENANT, "b", &[(up[0].key.clone(), still)], &|_| vec![]).unwrap();
    assert!(moved.is_empty(), "nothing changed, nothing is recorded");
    assert_eq!(store.audit(&Default::default(), 1000, 0).unwrap().len(), records + 1, "only b's claim of the other");
    let none = store.claim_actions("c", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    assert!(none.is_empty(), "not due again before its next follow-up");
}

pub fn a_tenant_is_due_while_an_action_is_pending_or_its_lease_or_follow_up_passed(make: Make) {
    let (store, ids) = two_pending(make);
    let named = [DEMO_TENANT.to_string(), "acme".to_string()];
    let due = || store.due_tenants(&named).unwrap();
    assert_eq!(due(), [DEMO_TENANT], "a pending action is due; a tenant without actions is not");
    let held = store.claim_actions("a", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    let lapsing = store.claim_actions("a", Duration::ZERO, Due::These(DEMO_TENANT, &ids[1..])).unwrap();
    assert_eq!((held.len(), lapsing.len()), (1, 1));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(due(), [DEMO_TENANT], "a running action whose lease passed is due");
    let retaken = store.claim_actions("b", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[1..])).unwrap();
    assert_eq!(retaken.len(), 1);
    assert!(due().is_empty(), "running actions whose leases hold are not due");

    let now = FollowUp { reference: "task-7".into(), after: Duration::ZERO };
    let waiting = Finish::Waiting("still running there".into(), now.clone());
    store.finish_actions(DEMO_TENANT, "a", &[(held[0].key.clone(), waiting)], &|_| vec![]).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(due(), [DEMO_TENANT], "a waiting action whose follow-up is due is due");
    let up = store.claim_actions("c", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids[..1])).unwrap();
    let later = Finish::Waiting("still running there".into(), FollowUp { after: Duration::from_secs(3600), ..now });
    store.finish_actions(DEMO_TENANT, "c", &[(up[0].key.clone(), later)], &|_| vec![]).unwrap();
    assert!(due().is_empty(), "a waiting action before its next follow-up is not due");
}
