//! The audit chain: appended to by every unit of work, verified, exported and imported, and the
//! checkpoints taken of it.

use std::ops::ControlFlow;

use super::Make;
use crate::{DEMO_TENANT, Store, StoreError, seed_demo};
use provhost_core::audit::{ChainStart, Checkpoint, InvocationRecord, Outcome};
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

/// A checkpoint of the demo tenant's chain as it stands in `store`, signed at `at`.
fn checkpoint_of(store: &dyn Store, at: &str) -> Checkpoint {
    let head = store.audit_head(DEMO_TENANT).unwrap().unwrap();
    Checkpoint::sign(b"a secret of sixteen bytes", DEMO_TENANT, ChainStart::genesis(), head, at)
}

pub fn a_checkpoint_is_one_record_in_its_chain_and_the_last_one_is_found(make: Make) {
    let store = make();
    with_records(&*store, 3);
    assert_eq!(store.last_checkpoint(DEMO_TENANT).unwrap(), None, "none taken yet");
    let first = checkpoint_of(&*store, "2026-12-01T10:00:00.000Z");
    store.record_checkpoint(&first, "alice").unwrap();
    let found = store.last_checkpoint(DEMO_TENANT).unwrap().unwrap();
    assert_eq!((&found.checkpoint, found.by.as_str(), found.recorded_at), (&first, "alice", first.seq + 1));
    let record = store.audit(&crate::AuditFilter { kind: Some("checkpoint".into()), ..Default::default() }, 10, 0);
    let record = record.unwrap().remove(0);
    assert_eq!((record.seq, record.entry.decision.as_str()), (first.seq + 1, "anchored"));
    assert!(record.entry.message.contains(&first.hash) && record.entry.message.contains("alice"), "{record:?}");
    let v = store.verify_audit(DEMO_TENANT).unwrap();
    assert_eq!((v.verified, v.broken), (first.seq + 1, None), "the record of it continues the chain");

    store.commit_invocation(&InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "later"), &[]).unwrap();
    let second = checkpoint_of(&*store, "2026-12-01T11:00:00.000Z");
    store.record_checkpoint(&second, "bob").unwrap();
    let found = store.last_checkpoint(DEMO_TENANT).unwrap().unwrap();
    assert_eq!((found.checkpoint.seq, found.by.as_str()), (second.seq, "bob"), "the newest is the last");
    assert_eq!(store.last_checkpoint("another").unwrap(), None, "per tenant");
}

pub fn a_checkpoint_the_chain_does_not_hold_is_not_recorded(make: Make) {
    let store = make();
    with_records(&*store, 2);
    let head = store.audit_head(DEMO_TENANT).unwrap().unwrap();
    let mut wrong = checkpoint_of(&*store, "2026-12-01T10:00:00.000Z");
    wrong.hash = "f".repeat(64);
    let err = store.record_checkpoint(&wrong, "mallory").unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert!(err.to_string().contains(&format!("that record has hash {}", head.hash)), "{err}");
    let beyond = Checkpoint { seq: head.seq + 5, ..checkpoint_of(&*store, "2026-12-01T10:00:00.000Z") };
    let err = store.record_checkpoint(&beyond, "mallory").unwrap_err();
    assert!(err.to_string().contains("that record is not in the chain"), "{err}");
    assert_eq!(store.audit_head(DEMO_TENANT).unwrap(), Some(head), "nothing was appended");
    assert_eq!(store.last_checkpoint(DEMO_TENANT).unwrap(), None);
}

pub fn headlines_are_a_range_of_the_chain_without_details(make: Make) {
    let store = make();
    with_records(&*store, 4);
    let headlines = store.audit_headlines(DEMO_TENANT, 2..=4).unwrap();
    assert_eq!(headlines.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3, 4]);
    for r in &headlines {
        assert_eq!(r.entry.details, serde_json::Value::Null);
        assert_eq!(Some(&r.hash), store.audit_hash_at(DEMO_TENANT, r.seq).unwrap().as_ref());
        assert!(r.entry.message.starts_with("run "), "{r:?}");
    }
    assert!(store.audit_headlines(DEMO_TENANT, 50..=60).unwrap().is_empty());
    assert!(store.audit_headlines("another", 1..=4).unwrap().is_empty());
}
