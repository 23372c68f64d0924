//! The audit chain: appended to by every unit of work, verified, exported and imported.

use std::ops::ControlFlow;

use super::Make;
use crate::{DEMO_TENANT, Store, seed_demo};
use provhost_core::audit::{InvocationRecord, Outcome};
use provhost_core::model::new_id;

/// Seeds the demo tenant into `store` and commits `n` invocation records after it.
pub fn with_records(store: &dyn Store, n: usize) {
    seed_demo(store).unwrap();
    for i in 0..n {
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", &format!("run {i}"));
        store.commit_invocation(&record, &[]).unwrap();
    }
}

pub fn an_archive_imported_from_a_later_record_starts_there(make: Make) {
    let source = make();
    with_records(&*source, 5);
    let mut tail = Vec::new();
    source
        .audit_chain(DEMO_TENANT, 4, &mut |r| {
            tail.push(r);
            Ok(ControlFlow::Continue(()))
        })
        .unwrap();
    let archive = make();
    assert_eq!(archive.import_audit(&tail).unwrap(), tail.len() as u64);
    let v = archive.verify_audit(DEMO_TENANT).unwrap();
    assert_eq!((v.first(), v.verified, v.is_whole()), (Some(4), tail.len() as u64, false));
    assert_eq!(v.start.unwrap().prev_hash, source.audit_hash_at(DEMO_TENANT, 3).unwrap().unwrap());
}

pub fn an_invocation_record_is_found_by_its_invocation_in_its_tenant_only(make: Make) {
    let store = make();
    with_records(&*store, 2);
    let id = new_id();
    let record = InvocationRecord::history(&id, DEMO_TENANT, "test", "the one");
    store.commit_invocation(&record, &[]).unwrap();
    let found = store.invocation_audit(DEMO_TENANT, &id).unwrap().expect("the invocation's record");
    assert_eq!((found.entry.kind.as_str(), found.entry.invocation.as_deref()), ("invocation", Some(id.as_str())));
    assert!(store.invocation_audit("another-tenant", &id).unwrap().is_none(), "not another tenant's");
    assert!(store.invocation_audit(DEMO_TENANT, &new_id()).unwrap().is_none());
}

pub fn a_plugins_outcomes_are_counted_by_hour_in_its_tenant_only(make: Make) {
    let store = make();
    seed_demo(&*store).unwrap();
    let run = |plugin: &str, outcome: Outcome, at: &str| {
        let mut record = InvocationRecord::history(&new_id(), DEMO_TENANT, plugin, "run");
        record.outcome = outcome;
        record.started_at = at.into();
        store.commit_invocation(&record, &[]).unwrap();
    };
    run("mailer", Outcome::Completed, "2026-12-02T10:05:00.000Z");
    run("mailer", Outcome::Completed, "2026-12-02T10:55:00.000Z");
    run("mailer", Outcome::Trap, "2026-12-02T10:30:00.000Z");
    run("mailer", Outcome::Limit, "2026-12-02T11:00:00.000Z");
    run("mailer", Outcome::Completed, "2026-12-01T09:00:00.000Z");
    run("other", Outcome::Trap, "2026-12-02T10:00:00.000Z");
    let counts: Vec<(String, Outcome, u64)> = store
        .plugin_outcomes(DEMO_TENANT, "mailer", "2026-12-02T00:00:00.000Z")
        .unwrap()
        .into_iter()
        .map(|c| (c.hour, c.outcome, c.count))
        .collect();
    let expected = [
        ("2026-12-02T10", Outcome::Completed, 2),
        ("2026-12-02T10", Outcome::Trap, 1),
        ("2026-12-02T11", Outcome::Limit, 1),
    ];
    assert_eq!(counts, expected.map(|(h, o, n)| (h.to_owned(), o, n)));
    assert!(store.plugin_outcomes("another-tenant", "mailer", "2026-01-01T00:00:00.000Z").unwrap().is_empty());
}
