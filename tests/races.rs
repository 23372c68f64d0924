//! Real races on one store: writers that all planned while there was room, released together at
//! their commit. Threads in one process race a window's last slot and a retry of one failed
//! action; two `provhost` processes on one store file race the same, held at their commit by the
//! store's write lock until both are there. Each time exactly one wins, every loser gets the typed
//! refusal, the refusals are audited, and the audit chain verifies.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Barrier};

use provhost::config::Config;
use provhost::gate::{Call, Decision, TenantContext};
use provhost::model::{ActionFilter, ActionState};
use provhost::pipeline::{Execution, Mode, RunError, run_request};
use provhost::policy::Grants;
use provhost::refusal::Refusal;
use provhost::store::{AuditFilter, DEMO_TENANT, SqliteStore, Store, seed_demo};
use provhost::tenant::{Requester, Tenant};
use support::{Demo, JAN, mail_changed, plugin, stderr};

/// How many writers race.
const WRITERS: usize = 8;

/// A demo store in a file, and a request context governed by `policy` (TOML of `[tenants.demo]`).
fn governed(dir: &Path, policy: &str) -> (Arc<dyn Store>, Arc<TenantContext>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("provhost.db")).unwrap());
    seed_demo(store.as_ref()).unwrap();
    let config = Config::parse(Path::new("provhost.toml"), &format!("[tenants.demo]\n{policy}")).unwrap();
    let tenant = Tenant::configured(DEMO_TENANT, &config.tenant(DEMO_TENANT).unwrap(), &store).unwrap();
    let context = tenant.request_context(Requester { key_id: "phk_race", grants: &Grants::everything() }, "api");
    (store, context)
}

/// Runs `WRITERS` targeted requests on threads: each plans with `plan`, waits at a barrier until
/// every one has planned, then commits. Returns what each commit answered.
fn race(
    context: &Arc<TenantContext>,
    plan: impl Fn(&mut provhost::gate::Gate) -> Decision + Send + Sync + 'static,
) -> Vec<Result<provhost::api::RequestReport, Refusal>> {
    let barrier = Arc::new(Barrier::new(WRITERS));
    let plan = Arc::new(plan);
    let writers: Vec<_> = (0..WRITERS)
        .map(|n| {
            let (context, barrier, plan) = (context.clone(), barrier.clone(), plan.clone());
            std::thread::spawn(move || {
                run_request(context, &format!("racing writer {n}"), Mode::commit(Execution::Queued), |gate| {
                    let planned = plan(gate);
                    // Every writer planned while there was room; now they commit at once.
                    barrier.wait();
                    planned
                })
                .map_err(|e| match e {
                    RunError::Refused(refusal) => refusal,
                    other => panic!("writer {n} failed: {other}"),
                })
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
fn audited(store: &dyn Store, refusals: &[String]) {
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
    refused.sort();
    expected.sort();
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
    let first = run_request(context.clone(), "the window's first update", Mode::commit(Execution::Queued), |gate| {
        gate.decide(&Call::update_account(JAN, &account.id, "first"))
    });
    assert!(first.is_ok());
    let before = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    let id = account.id.clone();
    let answers = race(&context, move |gate| gate.decide(&Call::update_account(JAN, &id, "racing for the last slot")));
    let refusals = one_winner(&answers, "threshold-exceeded");
    let after = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    assert_eq!(after, before + 1, "the window holds its two updates, no more");
    audited(store.as_ref(), &refusals);
}

#[test]
fn threads_racing_to_retry_one_failed_action_commit_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let (store, context) = governed(dir.path(), "");
    let failed = ActionFilter { state: Some(ActionState::Error), ..Default::default() };
    let failed = store.actions(DEMO_TENANT, &failed, 1).unwrap().remove(0);
    let before = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    let id = failed.id.clone();
    let answers = race(&context, move |gate| gate.decide(&Call::retry(&id, "racing to retry")));
    let refusals = one_winner(&answers, "conflict");
    assert!(refusals.iter().all(|r| r.contains("was already retried by action")), "{refusals:#?}");
    let after = store.actions(DEMO_TENANT, &ActionFilter::default(), 10_000).unwrap().len();
    assert_eq!(after, before + 1, "exactly one retry is committed");
    assert!(store.live_retry(DEMO_TENANT, &failed.id).unwrap().is_some(), "the committed retry is the live one");
    audited(store.as_ref(), &refusals);
}

/// What one `provhost run` of the race printed, and how it exited.
struct Ran {
    code: Option<i32>,
    report: serde_json::Value,
}

/// Two `provhost run` processes of the `racer` plugin on the demo's one store file. The test holds
/// the store's write lock while they start; each plans and logs that it did, then waits for the
/// lock at its commit. Once both have logged, the lock is let go and they commit at once.
fn two_processes_race(demo: &Demo) -> Vec<Ran> {
    let lock = rusqlite::Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let event = mail_changed();
    let (planned, have_planned) = std::sync::mpsc::channel();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut child = demo
                .command(&["run", "--plugin", "racer", "--no-wait", "--api-key", &demo.key])
                .arg("--event")
                .arg(&event)
                .env("PROVHOST_LOG", "provhost::plugin=debug")
                .env("PROVHOST_LOG_FORMAT", "text")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stderr = BufReader::new(child.stderr.take().unwrap());
            let planned = planned.clone();
            let logged = std::thread::spawn(move || {
                let mut lines = Vec::new();
                for line in stderr.lines().map_while(Result::ok) {
                    if line.contains("returning") {
                        let _ = planned.send(());
                    }
                    lines.push(line);
                }
                lines
            });
            (child, logged)
        })
        .collect();
    for n in 0..2 {
        let deadline = std::time::Duration::from_secs(60);
        have_planned.recv_timeout(deadline).unwrap_or_else(|_| panic!("only {n} of the two processes planned"));
    }
    // Both planned while there was room and wait at their commit: release them together.
    lock.execute_batch("COMMIT").unwrap();
    runs.into_iter()
        .map(|(child, logged)| {
            let out = child.wait_with_output().unwrap();
            let logged = logged.join().unwrap().join("\n");
            let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {logged}"));
            Ran { code: out.status.code(), report }
        })
        .collect()
}

/// The demo with the `racer` plugin (misbehave planning and logging) under `policy`.
fn racing_demo(settings: &str, policy: &str) -> Demo {
    let mut demo = Demo::new();
    let component = plugin("misbehave");
    demo.configure(&format!(
        "[tenants.demo]\n{policy}\n[tenants.demo.plugins.racer]\ncomponent = {:?}\nconfig = {{ mode = \"plan-and-log\"{settings} }}\n",
        component.to_str().unwrap()
    ));
    // Compiled once before the race, so that neither process holds the other up compiling it.
    let warm = demo.provhost(&["plugin", "check", component.to_str().unwrap()]);
    assert!(warm.status.success(), "{}", stderr(&warm));
    demo
}

/// Exactly one process committed, the other was refused `code` at its commit and says so; the
/// refusal is audited once, and the chain verifies.
fn one_process_won(demo: &Demo, runs: &[Ran], code: &str) {
    let won: Vec<&Ran> = runs.iter().filter(|r| r.report["committed"] == true).collect();
    assert_eq!(won.len(), 1, "exactly one process commits: {:#?}", runs.iter().map(|r| &r.report).collect::<Vec<_>>());
    assert_eq!(won[0].code, Some(0));
    let lost = runs.iter().find(|r| r.report["committed"] != true).unwrap();
    assert_ne!(lost.code, Some(0), "the loser's exit says it was refused: {}", lost.report);
    let refusal = lost.report["refused_at_commit"].as_str().unwrap_or_else(|| panic!("{}", lost.report));
    assert!(refusal.contains(code), "{refusal}");
    let list = demo.provhost(&["audit", "list", "--kind", "invocation", "--format", "json"]);
    let records: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let refused: Vec<&serde_json::Value> =
        records.as_array().unwrap().iter().filter(|r| r["decision"] == "refused").collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["message"], format!("not committed: {refusal}"));
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
}

#[test]
fn two_processes_racing_a_windows_last_slot_commit_exactly_one() {
    let window = "[[tenants.demo.windows]]\nsystem = \"exchange-online\"\nkind = \"update\"\nmax = 1\nper = \"1h\"\n";
    let demo = racing_demo("", window);
    let before = demo.actions().len();
    let runs = two_processes_race(&demo);
    one_process_won(&demo, &runs, "threshold");
    let planned =
        runs.iter().find(|r| r.report["committed"] == true).unwrap().report["actions"].as_array().unwrap().len();
    assert_eq!(demo.actions().len(), before + planned, "only the winner's plan is committed");
}

#[test]
fn two_processes_racing_to_retry_one_failed_action_commit_exactly_one() {
    // Jan's failed TOPdesk update in the demo data.
    let failed = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e0900";
    let demo = racing_demo(&format!(", retry = \"{failed}\""), "");
    assert!(demo.actions().iter().any(|a| a["id"] == failed && a["state"] == "error"), "{failed} failed");
    let before = demo.actions().len();
    let runs = two_processes_race(&demo);
    one_process_won(&demo, &runs, "was already retried by action");
    let retries = demo.actions().into_iter().filter(|a| a["retry_of"] == failed).count();
    assert_eq!(retries, 1, "exactly one retry of {failed} is committed");
    assert!(demo.actions().len() > before);
}
