//! Kept events: kept in their invocation's commit or not at all, bounded per event and per tenant,
//! read per tenant and plugin in pages and time ranges, purged by age; a replay's record joins the
//! chain.

use std::time::Duration;

use super::Make;
use crate::{AuditFilter, Commit, DEMO_TENANT, Declined, EventBounds, EventRange, Kept, KeptEvent, seed_demo};
use provhost_core::audit::{AuditEntry, InvocationRecord};
use provhost_core::model::{Action, ActionFilter, ActionState, new_id};
use provhost_core::policy::WindowBudget;

fn event(tenant: &str, plugin: &str, n: u32, at: &str) -> KeptEvent {
    KeptEvent {
        seq: 0,
        tenant: tenant.into(),
        invocation: format!("inv-{tenant}-{n}"),
        plugin: plugin.into(),
        at: at.into(),
        event: format!("{{\"n\":{n:04}}}"),
        decided: "{}".into(),
    }
}

const ROOMY: EventBounds = EventBounds { max_event_bytes: 1 << 20, max_tenant_bytes: 1 << 30 };

fn all(range: EventRange) -> EventRange {
    EventRange { limit: 1000, ..range }
}

pub fn kept_events_hold_their_bounds_dropping_the_oldest_first(make: Make) {
    let store = make();
    let one = event(DEMO_TENANT, "p", 0, "2026-01-01T00:00:00.000Z");
    let size = one.bytes();
    let bounds = EventBounds { max_event_bytes: size, max_tenant_bytes: 3 * size };
    let mut big = one.clone();
    big.event.push(' ');
    assert_eq!(store.keep_event(&big, bounds).unwrap(), Kept::TooLarge { bytes: size + 1 });
    let mut dropped = 0;
    for n in 0..5 {
        let at = format!("2026-01-01T00:00:0{n}.000Z");
        match store.keep_event(&event(DEMO_TENANT, "p", n, &at), bounds).unwrap() {
            Kept::Kept { dropped: d, .. } => dropped += d,
            other => panic!("event {n} was not kept: {other:?}"),
        }
    }
    // A second tenant's events do not count against the first's bound, nor push any out.
    store.keep_event(&event("other", "p", 9, "2026-01-01T00:00:00.000Z"), bounds).unwrap();
    let kept = store.kept_events(DEMO_TENANT, "p", &all(EventRange::default())).unwrap();
    let names: Vec<&str> = kept.iter().map(|k| k.invocation.as_str()).collect();
    assert_eq!(names, ["inv-demo-2", "inv-demo-3", "inv-demo-4"], "the newest three, oldest first");
    assert_eq!(dropped, 2);
    assert_eq!(kept.iter().map(KeptEvent::bytes).sum::<u64>(), 3 * size);
}

pub fn kept_events_are_read_per_tenant_and_plugin_in_pages_and_ranges(make: Make) {
    let store = make();
    for n in 0..6 {
        let at = format!("2026-01-0{}T00:00:00.000Z", n + 1);
        store.keep_event(&event(DEMO_TENANT, if n % 2 == 0 { "a" } else { "b" }, n, &at), ROOMY).unwrap();
        store.keep_event(&event("other", "a", n, &at), ROOMY).unwrap();
    }
    let names = |events: Vec<KeptEvent>| events.into_iter().map(|k| k.invocation).collect::<Vec<_>>();
    let a = store.kept_events(DEMO_TENANT, "a", &all(EventRange::default())).unwrap();
    assert!(a.iter().all(|k| k.tenant == DEMO_TENANT && k.plugin == "a"), "{a:?}");
    assert_eq!(names(a.clone()), ["inv-demo-0", "inv-demo-2", "inv-demo-4"]);
    let first = store.kept_events(DEMO_TENANT, "a", &EventRange { limit: 2, ..Default::default() }).unwrap();
    let rest = store.kept_events(DEMO_TENANT, "a", &EventRange { limit: 2, offset: 2, ..Default::default() }).unwrap();
    assert_eq!(
        (names(first), names(rest)),
        (vec!["inv-demo-0".to_owned(), "inv-demo-2".into()], vec!["inv-demo-4".into()])
    );
    let range = EventRange {
        since: Some("2026-01-03T00:00:00.000Z".into()),
        until: Some("2026-01-05T00:00:00.000Z".into()),
        ..all(EventRange::default())
    };
    assert_eq!(names(store.kept_events(DEMO_TENANT, "a", &range).unwrap()), ["inv-demo-2"]);
    assert!(store.kept_events("nobody", "a", &all(EventRange::default())).unwrap().is_empty());
}

pub fn old_kept_events_are_purged_and_a_replay_is_one_audit_record(make: Make) {
    let store = make();
    seed_demo(&*store).unwrap();
    for n in 0..4 {
        let at = format!("2026-01-0{}T00:00:00.000Z", n + 1);
        store.keep_event(&event(DEMO_TENANT, "a", n, &at), ROOMY).unwrap();
        store.keep_event(&event("other", "a", n, &at), ROOMY).unwrap();
    }
    assert_eq!(store.purge_events(DEMO_TENANT, "2026-01-03T00:00:00.000Z").unwrap(), 2);
    let left = store.kept_events(DEMO_TENANT, "a", &all(EventRange::default())).unwrap();
    assert_eq!(
        left.iter().map(|k| k.at.as_str()).collect::<Vec<_>>(),
        ["2026-01-03T00:00:00.000Z", "2026-01-04T00:00:00.000Z"]
    );
    assert_eq!(store.kept_events("other", "a", &all(EventRange::default())).unwrap().len(), 4, "only the tenant's");
    let filter = AuditFilter { tenant: Some(DEMO_TENANT.into()), kind: Some("replay".into()), ..Default::default() };
    assert!(store.audit(&filter, 10, 0).unwrap().is_empty());
    let entry = AuditEntry {
        kind: "replay".into(),
        decision: "identical".into(),
        message: "replayed".into(),
        ..Default::default()
    };
    store.record_replay(DEMO_TENANT, &entry).unwrap();
    let records = store.audit(&filter, 10, 0).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].entry.message, "replayed");
}

pub fn paging_after_the_last_seq_reads_each_kept_event_once_while_the_oldest_go(make: Make) {
    let store = make();
    let size = event(DEMO_TENANT, "p", 0, "2026-01-01T00:00:00.000Z").bytes();
    let bounds = EventBounds { max_event_bytes: size, max_tenant_bytes: 3 * size };
    let keep = |n: u32| store.keep_event(&event(DEMO_TENANT, "p", n, &format!("2026-01-01T00:00:0{n}.000Z")), bounds);
    for n in 0..3 {
        keep(n).unwrap();
    }
    let first = store.kept_events(DEMO_TENANT, "p", &EventRange { limit: 2, ..Default::default() }).unwrap();
    // A new event comes in between the pages and pushes the oldest out.
    assert!(matches!(keep(3).unwrap(), Kept::Kept { dropped: 1, .. }));
    let after = Some(first.last().unwrap().seq);
    let rest = store.kept_events(DEMO_TENANT, "p", &EventRange { limit: 2, after, ..Default::default() }).unwrap();
    let names: Vec<String> = first.into_iter().chain(rest).map(|k| k.invocation).collect();
    assert_eq!(names, ["inv-demo-0", "inv-demo-1", "inv-demo-2", "inv-demo-3"], "each once, none skipped");
}

pub fn an_event_is_kept_in_its_invocations_commit_or_not_at_all(make: Make) {
    let store = make();
    seed_demo(&*store).unwrap();
    let failed = store.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
    let hour = Duration::from_secs(3600);
    let used = store.window_usage(DEMO_TENANT, &failed.system, failed.kind, hour).unwrap();
    // Room for one more action of the failed one's system and kind.
    let windows = [WindowBudget { system: failed.system.clone(), kind: failed.kind, max: used + 1, per: hour }];
    let commit = |record: &InvocationRecord, bounds: EventBounds| {
        let action = Action { id: new_id(), state: ActionState::Pending, retry_of: None, ..failed.clone() };
        let actions = [action];
        let audit = [record.plan_entry(&actions)];
        let commit = Commit { record, actions: &actions, observed: None, windows: &windows, audit: &audit };
        let kept = KeptEvent { invocation: record.id.clone(), ..event(DEMO_TENANT, "p", 0, &record.started_at) };
        store.commit_keeping(&commit, &kept, bounds)
    };
    let kept = || store.kept_events(DEMO_TENANT, "p", &all(EventRange::default())).unwrap();
    let on_record = |record: &InvocationRecord| store.invocation_source(DEMO_TENANT, &record.id).unwrap().is_some();

    let first = InvocationRecord::history(&new_id(), DEMO_TENANT, "p", "the first update");
    assert!(matches!(commit(&first, ROOMY), Ok(Kept::Kept { dropped: 0, .. })));
    assert!(on_record(&first));
    assert_eq!(kept().iter().map(|k| k.invocation.as_str()).collect::<Vec<_>>(), [first.id.as_str()]);

    let refused = InvocationRecord::history(&new_id(), DEMO_TENANT, "p", "one update too many");
    let Err(Declined::Refused(refusal)) = commit(&refused, ROOMY) else { panic!("the window refuses the commit") };
    assert_eq!(refusal.code(), "threshold-exceeded", "{refusal}");
    assert!(!on_record(&refused), "a refused commit records nothing");
    assert_eq!(kept().len(), 1, "and keeps nothing");

    // A commit with no action, so that no window refuses it.
    let bare = |record: &InvocationRecord, event: &KeptEvent, bounds: EventBounds| {
        let audit = [record.plan_entry(&[])];
        let commit = Commit { record, actions: &[], observed: None, windows: &[], audit: &audit };
        store.commit_keeping(&commit, event, bounds)
    };
    // The same invocation committed twice: the second commit fails, and its event goes with it.
    let again = KeptEvent { invocation: first.id.clone(), ..event(DEMO_TENANT, "p", 1, &first.started_at) };
    assert!(bare(&first, &again, ROOMY).is_err(), "an invocation is recorded once");
    assert_eq!(kept().len(), 1, "the failed commit kept no event");

    // An event too large to keep does not stop its invocation from committing.
    let nothing = InvocationRecord::history(&new_id(), DEMO_TENANT, "q", "no action");
    let big = event(DEMO_TENANT, "q", 1, &nothing.started_at);
    let tight = EventBounds { max_event_bytes: big.bytes() - 1, max_tenant_bytes: big.bytes() };
    assert_eq!(bare(&nothing, &big, tight).unwrap(), Kept::TooLarge { bytes: big.bytes() });
    assert!(on_record(&nothing));
    assert!(store.kept_events(DEMO_TENANT, "q", &all(EventRange::default())).unwrap().is_empty());
}
