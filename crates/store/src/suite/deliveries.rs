//! Webhook deliveries claimed by one sender at a time, under leases that fence.

use std::collections::HashSet;
use std::time::Duration;

use super::Make;
use crate::{Attempt, DEMO_TENANT, DeliveryClaim, Due, DuePage, Effect, Finish, Store, StoreError, seed_demo};
use provhost_core::api::DeliveryStatus;
use provhost_core::audit::InvocationRecord;
use provhost_core::model::{Action, ActionFilter, ActionState, new_id};

/// A demo store with `n` deliveries queued, due now: the notifications of one action's end.
fn queued(make: Make, n: usize) -> Box<dyn Store> {
    let store = make();
    seed_demo(&*store).unwrap();
    let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
    let pending = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed };
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "one pending");
    store.commit_invocation(&record, std::slice::from_ref(&pending)).unwrap();
    let ids = [pending.id];
    let claim = store.claim_actions("executor", Duration::from_secs(60), Due::These(DEMO_TENANT, &ids)).unwrap();
    let end = [(claim[0].key.clone(), Finish::Success(Effect::Nothing, "done".into()))];
    let notify = |_: &[Action]| (0..n).map(|i| ("http://127.0.0.1:1/".to_string(), format!("{{\"n\":{i}}}"))).collect();
    store.finish_actions(DEMO_TENANT, "executor", &end, &notify).unwrap();
    store
}

/// One pass of sender `owner`: up to `limit` claims held for `lease`.
fn claim(store: &dyn Store, owner: &str, lease: Duration, limit: usize) -> Vec<DeliveryClaim> {
    let page = DuePage { start: 0, per_tenant: limit, limit, in_flight: &[] };
    store.claim_deliveries(owner, lease, page).unwrap().claims
}

pub fn two_senders_never_claim_the_same_delivery(make: Make) {
    let store: std::sync::Arc<dyn Store> = queued(make, 60).into();
    let senders: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|owner| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let taken = claim(&*store, owner, Duration::from_secs(60), 4);
                    if taken.is_empty() {
                        return mine;
                    }
                    mine.extend(taken.into_iter().map(|c| c.delivery.id));
                }
            })
        })
        .collect();
    let claimed: Vec<Vec<String>> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    let all: Vec<&String> = claimed.iter().flatten().collect();
    let distinct: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), 60, "every delivery is claimed");
    assert_eq!(distinct.len(), 60, "and none by both senders");
    assert!(claim(&*store, "c", Duration::from_secs(60), 64).is_empty(), "the claims hold");
}

pub fn an_expired_delivery_claim_is_taken_up_again_and_its_late_try_is_refused(make: Make) {
    let store = queued(make, 1);
    let first = claim(&*store, "a", Duration::ZERO, 10);
    assert_eq!(first.len(), 1);
    std::thread::sleep(Duration::from_millis(5));
    let again = claim(&*store, "b", Duration::from_secs(60), 10);
    assert_eq!(again.len(), 1, "a claim whose lease passed is taken up by another sender");
    assert!(again[0].token > first[0].token, "a later claim has a higher fencing token");
    assert!(claim(&*store, "c", Duration::from_secs(60), 10).is_empty(), "b's lease holds");

    let late = store.record_attempt("a", &first[0], &Attempt::Delivered);
    assert!(matches!(late, Err(StoreError::Conflict(_))), "a stale token's try is refused: {late:?}");
    let stolen = DeliveryClaim { token: again[0].token, ..first[0].clone() };
    assert!(store.record_attempt("a", &stolen, &Attempt::Delivered).is_err(), "so is another sender's token");
    let retry = Attempt::Retry { error: "503".into(), retry_at: "2000-01-01T00:00:00Z".into() };
    store.record_attempt("b", &again[0], &retry).unwrap();
    let kept = store.deliveries(DEMO_TENANT, None, 10, 0).unwrap();
    assert_eq!(
        (kept[0].status, kept[0].attempts, kept[0].last_error.as_deref()),
        (DeliveryStatus::Pending, 1, Some("503"))
    );
    assert!(store.record_attempt("b", &again[0], &Attempt::Delivered).is_err(), "a claim records one try");

    let retried = claim(&*store, "c", Duration::from_secs(60), 10);
    assert_eq!(retried.len(), 1, "a try that failed lets the delivery go, due again when its retry is");
    store.record_attempt("c", &retried[0], &Attempt::Delivered).unwrap();
    let delivered = store.deliveries(DEMO_TENANT, Some(DeliveryStatus::Delivered), 10, 0).unwrap();
    assert_eq!((delivered.len(), delivered[0].attempts), (1, 2));
    assert!(claim(&*store, "d", Duration::ZERO, 10).is_empty(), "a delivered one is never claimed");
}
