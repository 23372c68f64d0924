//! Two hosts on one database: each a store of its own (its own pool of connections), as two
//! `provhost serve` processes are. What must hold exactly across them: a window budget is never
//! overrun, the audit chain never forks, one blocked action is decided once, and an action is
//! claimed by one host at a time.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use provhost_core::audit::InvocationRecord;
use provhost_core::model::{Action, ActionFilter, ActionState, new_id};
use provhost_core::policy::{TenantPolicy, WindowBudget};

use super::PostgresStore;
use crate::{
    ActionStore, ApprovalStore, AuditStore, Batch, ClaimStore, Commit, DEMO_TENANT, Declined, Due, InvocationStore,
    StoreError, Verdict,
};

/// Two stores on one fresh database with the demo tenant, and the demo's failed action (a
/// template for new ones); `None` when no test server is named.
fn two_hosts() -> Option<([Arc<PostgresStore>; 2], Action)> {
    let url = super::testing::fresh_database()?;
    let a = Arc::new(PostgresStore::open(&url).unwrap());
    let b = Arc::new(PostgresStore::open(&url).unwrap());
    crate::seed_demo(&*a).unwrap();
    let failed = a.actions(DEMO_TENANT, &ActionFilter::default(), 10).unwrap().remove(0);
    Some(([a, b], failed))
}

fn copy_of(failed: &Action, state: ActionState) -> Action {
    Action { id: new_id(), state, retry_of: None, ..failed.clone() }
}

/// Runs `each(host, n)` on `threads` threads split over the two hosts, all starting together.
fn on_both<T: Send + 'static>(
    hosts: &[Arc<PostgresStore>; 2],
    threads: usize,
    each: impl Fn(&PostgresStore, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let (start, each) = (Arc::new(Barrier::new(threads)), Arc::new(each));
    let running: Vec<_> = (0..threads)
        .map(|n| {
            let (host, start, each) = (hosts[n % 2].clone(), start.clone(), each.clone());
            std::thread::spawn(move || {
                start.wait();
                each(&host, n)
            })
        })
        .collect();
    running.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn two_hosts_never_both_pass_the_last_slot_of_a_window_and_the_chain_never_forks() {
    let Some((hosts, failed)) = two_hosts() else { return };
    let windows = vec![WindowBudget {
        system: failed.system.clone(),
        kind: failed.kind,
        max: 25,
        per: Duration::from_secs(3600),
    }];
    let hour = Duration::from_secs(3600);
    let before = hosts[0].window_usage(DEMO_TENANT, &failed.system, failed.kind, hour).unwrap();
    let template = failed.clone();
    let outcomes = on_both(&hosts, 16, move |host, n| {
        (0..5)
            .map(|i| {
                let action = copy_of(&template, ActionState::Pending);
                let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", &format!("{n}.{i}"));
                let audit = [record.plan_entry(std::slice::from_ref(&action))];
                let commit =
                    Commit { record: &record, actions: &[action], observed: None, windows: &windows, audit: &audit };
                match host.commit(&commit) {
                    Ok(()) => true,
                    Err(Declined::Refused(_)) => false,
                    Err(e) => panic!("the store failed: {e}"),
                }
            })
            .collect::<Vec<bool>>()
    });
    let accepted = outcomes.iter().flatten().filter(|ok| **ok).count();
    assert_eq!(accepted as u32, 25 - before, "of 80 commits, exactly those that fill the window of 25 pass");
    let used = hosts[1].window_usage(DEMO_TENANT, &failed.system, failed.kind, hour).unwrap();
    assert_eq!(used, 25, "the window is full, not past it");
    let chain = hosts[0].verify_audit(DEMO_TENANT).unwrap();
    assert!(chain.broken.is_none(), "{chain:?}");
    let head = hosts[1].audit_head(DEMO_TENANT).unwrap().unwrap().seq;
    assert_eq!(chain.verified, head, "every record from 1 to the head, none missing");
}

#[test]
fn of_two_hosts_deciding_on_one_blocked_action_one_decides_and_the_other_meets_a_conflict() {
    let Some((hosts, failed)) = two_hosts() else { return };
    let blocked = copy_of(&failed, ActionState::Blocked);
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "blocked");
    hosts[0].commit_invocation(&record, std::slice::from_ref(&blocked)).unwrap();
    let ids = vec![blocked.id.clone()];
    let outcomes = on_both(&hosts, 2, move |host, n| {
        host.decide_blocked(
            DEMO_TENANT,
            &ids,
            Verdict::Approve,
            &format!("phk_{n}"),
            &TenantPolicy::default(),
            &|_| vec![],
        )
    });
    let decided = outcomes.iter().filter(|o| o.is_ok()).count();
    let conflicts = outcomes.iter().filter(|o| matches!(o, Err(Declined::Store(StoreError::Conflict(_))))).count();
    assert_eq!((decided, conflicts), (1, 1), "{outcomes:?}");
    assert_eq!(hosts[1].action(DEMO_TENANT, &blocked.id).unwrap().state, ActionState::Pending);
}

#[test]
fn executors_on_two_hosts_claim_each_action_once() {
    let Some((hosts, failed)) = two_hosts() else { return };
    let pending: Vec<Action> = (0..60).map(|_| copy_of(&failed, ActionState::Pending)).collect();
    let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "sixty pending");
    hosts[0].commit_invocation(&record, &pending).unwrap();
    let claimed = on_both(&hosts, 8, |host, n| {
        let mut mine = Vec::new();
        loop {
            let due = [Batch { tenant: DEMO_TENANT.to_string(), most: 4 }];
            let claims =
                host.claim_actions(&format!("executor-{n}"), Duration::from_secs(60), Due::Tenants(&due)).unwrap();
            if claims.is_empty() {
                return mine;
            }
            mine.extend(claims.into_iter().map(|c| c.action.id));
        }
    });
    let mut all: Vec<String> = claimed.into_iter().flatten().collect();
    all.sort();
    let mut expected: Vec<String> = pending.iter().map(|a| a.id.clone()).collect();
    expected.sort();
    assert_eq!(all, expected, "every pending action claimed, none twice");
    assert!(hosts[0].verify_audit(DEMO_TENANT).unwrap().broken.is_none());
}
