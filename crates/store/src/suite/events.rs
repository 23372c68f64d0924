//! Kept events: bounded per event and per tenant, read per tenant and plugin in pages and time
//! ranges, purged by age; a replay's record joins the chain.

use super::Make;
use crate::{AuditFilter, DEMO_TENANT, EventBounds, EventRange, Kept, KeptEvent, seed_demo};
use provhost_core::audit::AuditEntry;

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
