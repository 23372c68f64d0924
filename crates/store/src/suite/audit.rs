//! The audit chain: appended to by every unit of work, verified, exported and imported.

use std::ops::ControlFlow;

use super::Make;
use crate::{DEMO_TENANT, Store, seed_demo};
use provhost_core::audit::InvocationRecord;
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
