//! Real races on one store: writers that all planned while there was room, released together at
//! their commit. Threads in one process race a window's last slot and a retry of one failed
//! action; two `provhost` processes on one store file race the same, held at their commit by the
//! store's write lock until both are there. Each time exactly one wins, every loser gets the typed
//! refusal, the refusals are audited, and the audit chain verifies.

mod support;

use std::path::Path;
use std::sync::{Arc, Barrier};

use provhost::config::Config;
use provhost::gate::TenantContext;
use provhost::model::{ActionFilter, ActionState};
use provhost::pipeline::{Execution, run_request};
use provhost::policy::Grants;
use provhost::refusal::Refusal;
use provhost::store::{AuditFilter, DEMO_TENANT, Store, seed_demo};
use provhost::tenant::{Caller, Tenant};
use support::JAN;

/// How many writers race.
const WRITERS: usize = 8;

/// A demo store in a file, and a request context governed by `policy` (TOML of `[tenants.demo]`).
fn governed(dir: &Path, policy: &str) -> (Arc<Store>, Arc<TenantContext>) {
    let store = Arc::new(Store::open(&dir.join("provhost.db")).unwrap());
    seed_demo(&store).unwrap();
    let config = Config::parse(Path::new("provhost.toml"), &format!("[tenants.demo]\n{policy}")).unwrap();
    let tenant = Tenant::configured(DEMO_TENANT, &config.tenant(DEMO_TENANT).unwrap(), &store).unwrap();
    let context = tenant.request_context(Caller { key_id: "phk_race", grants: &Grants::everything() }, "api");
    (store, context)
}

/// Runs `WRITERS` targeted requests on threads: each plans with `plan`, waits at a barrier until
/// every one has planned, then commits. Returns what each commit answered.
fn race(
    context: &Arc<TenantContext>,
    plan: impl Fn(&mut provhost::gate::Gate) -> Result<provhost::model::Action, Refusal> + Send + Sync + 'static,
) -> Vec<Result<provhost::api::RequestReport, Refusal>> {
    let barrier = Arc::new(Barrier::new(WRITERS));
    let plan = Arc::new(plan);
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (context, barrier, plan) = (context.clone(), barrier.clone(), plan.clone());
            std::thread::spawn(move || {
                run_request(context, &format!("racing writer {n}"), (false, Execution::Queued), |gate| {
                    let planned = plan(gate);
                    // Every writer planned while there was room; now they commit at once.
                    barrier.wait();
                    Ok(vec![planned?])
                })
                .unwrap()
            })
        })
        .collect();
    writers.into_iter().map(|w| w.join().unwrap()).collect()
}

/// Exactly one commit won and every other was refused with `code`; returns the refusals' texts.
fn one_winner(answers: &[Result<provhost::api::RequestReport, Refusal>], code: &str) -> Vec<String> {
    let won = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(won, 1, "exactly one writer commits: {answers:#?}");
    let refused: Vec<&Refusal> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(refused.iter().all(|r| r.code() == code), "every loser is refused {code}: {refused:#?}");
    refused.iter().map(|r| r.to_string()).collect()
}

/// The chain verifies whole, and holds an audit record of each refusal at commit.
fn audited(store: &Store, refusals: &[String]) {
    let verification = store.verify_audit(DEMO_TENANT).unwrap();
    assert!(verification.broken.is_none() && verification.is_whole(), "{verification:?}");
    let records = serde_json::to_value(store.audit(&AuditFilter::default(), 10_000, 0).unwrap()).unwrap();
    let mut refused: Vec<String> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["decision"] == "refused" && r["details"]["event_summary"].as_str().unwrap().starts_with("racing"))
        .map(|r| r["message"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = refusals.iter().map(|r| format!("not committed: {r}")).collect();
    (refused.sort(), expected.sort());
    assert_eq!(refused, expected, "each refusal at commit is audited, once");
}

#[test]
fn threads_racing_a_windows_last_slot_commit_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let window = "[[tenants.demo.windows]]\nsystem = \"exchange-online\"\nkind = \"update\"\nmax = 2\nper = \"1h\"\n";
    let (store, context) = governed(dir.path(), window);
    let account =
        store.accounts_of(DEMO_TENANT, JAN).unwrap().into_iter().find(|a| a.system == "exchange-online").unwrap();
    // One of the window's two updates is taken: the racers want its last one.
    let first = run_request(context.clone(), "the window's first update", (false, Execution::Queued), |gate| {
        gate.update_account(JAN, &account.id, "first".into()).map(|a| vec![a])
    });
    assert!(first.unwrap().is_ok());
    let before = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    let id = account.id.clone();
    let answers = race(&context, move |gate| gate.update_account(JAN, &id, "racing for the last slot".into()));
    let refusals = one_winner(&answers, "threshold-exceeded");
    let after = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    assert_eq!(after, before + 1, "the window holds its two updates, no more");
    audited(&store, &refusals);
}

#[test]
fn threads_racing_to_retry_one_failed_action_commit_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, context) = governed(dir.path(), "");
    let failed = ActionFilter { state: Some(ActionState::Error), ..Default::default() };
    let failed = store.actions(DEMO_TENANT, &failed, 1).unwrap().remove(0);
    let id = failed.id.clone();
    let answers = race(&context, move |gate| gate.retry(&id, "racing to retry".into()));
    let refusals = one_winner(&answers, "conflict");
    assert!(refusals.iter().all(|r| r.contains("was already retried by action")), "{refusals:#?}");
    assert_eq!(store.retries_of(DEMO_TENANT, &failed.id).unwrap().len(), 1, "exactly one retry is committed");
    audited(&store, &refusals);
}
