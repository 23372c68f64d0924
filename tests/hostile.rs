//! A hostile tenant's plugin, through the `provhost` binary and the `hostile` test component:
//! whatever it does, the process lives, the wall time stays within the deadline plus a small
//! margin, nothing commits unless the plugin returned `ok`, the store grows by at most a stated
//! bound, and the audit chain verifies.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Demo, json, mail_changed, stderr};

/// The deadline every attack runs under.
const DEADLINE_MS: u64 = 1_500;

/// The most the store may grow by for one invocation, whatever the plugin sends: the bounded
/// journal (host calls × bounded ids and reasons, notes, logs, output) and the plan.
const STORE_GROWTH_BOUND: u64 = 4 << 20;

/// What one attack left behind.
struct Attack {
    report: Value,
    stderr: String,
    committed_actions: usize,
}

fn store_bytes(demo: &Demo) -> u64 {
    ["provhost.db", "provhost.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(demo.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Runs the hostile plugin in `mode` and checks what holds for every attack.
fn attack(mode: &str, extra: &[&str]) -> Attack {
    let demo = Demo::new();
    // One harmless run first, so the compile cache and the store's pages are in place.
    let warm = demo.run("hostile", &mail_changed(), &[]);
    assert!(warm.status.success(), "{}", stderr(&warm));
    let before_actions = demo.actions().len();
    let before_bytes = store_bytes(&demo);

    let setting = format!("mode={mode}");
    let deadline = DEADLINE_MS.to_string();
    let mut args = vec!["--set", setting.as_str(), "--timeout-ms", deadline.as_str()];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = demo.run("hostile", &mail_changed(), &args);
    let elapsed = started.elapsed();

    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(3)),
        "{mode}: the process must live and answer, got {code:?}: {}",
        stderr(&out)
    );
    assert!(
        elapsed < Duration::from_millis(DEADLINE_MS) + Duration::from_secs(15),
        "{mode}: the command took {elapsed:?}, far past the {DEADLINE_MS} ms deadline"
    );
    let report = json(&out);
    let wall = report["usage"]["wall_time_us"].as_u64().unwrap();
    assert!(wall < (DEADLINE_MS + 500) * 1000, "{mode}: the invocation ran {wall} µs past its deadline");
    let committed = report["committed"].as_bool().unwrap();
    let completed = report["outcome"]["status"] == "completed";
    assert!(!committed || completed, "{mode}: committed although the plugin did not return ok: {report}");
    let committed_actions = demo.actions().len() - before_actions;
    if !committed {
        assert_eq!(committed_actions, 0, "{mode}: nothing may be committed");
    }
    let growth = store_bytes(&demo).saturating_sub(before_bytes);
    assert!(growth <= STORE_GROWTH_BOUND, "{mode}: the store grew by {growth} bytes");
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{mode}: the audit chain must verify: {}", stderr(&verify));
    Attack { report, stderr: stderr(&out), committed_actions }
}

fn limit(a: &Attack) -> &str {
    a.report["outcome"]["hit"]["limit"].as_str().unwrap_or("")
}

fn detail(a: &Attack) -> String {
    let outcome = &a.report["outcome"];
    outcome["summary"].as_str().or(outcome["message"].as_str()).unwrap_or_default().to_owned()
}

#[test]
fn a_sleep_in_wasi_is_cut_off_at_the_deadline() {
    let a = attack("sleep", &[]);
    assert_eq!(limit(&a), "timeout", "{}", a.report);
    assert!(a.stderr.contains("wall-clock deadline of 1500 ms passed"), "{}", a.stderr);
}

#[test]
fn a_poll_that_never_resolves_is_cut_off_at_the_deadline() {
    let a = attack("poll-forever", &[]);
    assert_eq!(limit(&a), "timeout", "{}", a.report);
}

#[test]
fn unbounded_recursion_traps_on_the_stack_limit() {
    let a = attack("recurse", &[]);
    assert_eq!(a.report["outcome"]["status"], "trap", "{}", a.report);
}

#[test]
fn a_huge_id_is_refused_invalid_before_any_lookup() {
    let a = attack("huge-id", &[]);
    assert_eq!(a.report["outcome"]["status"], "plugin-error");
    assert!(
        detail(&a).contains("Invalid(\"an id is 52428800 bytes long; provhost takes at most 256 bytes\")"),
        "{}",
        detail(&a)
    );
    let refused = &a.report["refused"][0];
    assert_eq!(refused["decision"], "invalid");
    assert!(refused["ids"][0].as_str().unwrap().len() < 400, "the recorded id is cut");
}

#[test]
fn a_huge_reason_is_refused_invalid() {
    let a = attack("huge-reason", &[]);
    assert!(
        detail(&a).contains("the reason is 52428800 bytes long; provhost takes at most 1024 bytes"),
        "{}",
        detail(&a)
    );
}

#[test]
fn a_huge_summary_is_kept_cut_and_marked() {
    let a = attack("huge-summary", &[]);
    assert_eq!(a.report["committed"], true);
    assert_eq!(a.committed_actions, 4);
    let summary = detail(&a);
    assert!(summary.len() < 4200 && summary.ends_with("[…cut: 4096 of 62914560 bytes kept]"), "{}", summary.len());
}

#[test]
fn a_huge_error_is_kept_cut_and_marked() {
    let a = attack("huge-err", &[]);
    assert_eq!(a.report["outcome"]["status"], "plugin-error");
    assert!(detail(&a).len() < 4200);
}

#[test]
fn a_flood_of_audit_notes_ends_the_invocation() {
    let a = attack("note-flood", &[]);
    assert_eq!(limit(&a), "note-bytes", "{}", a.report["outcome"]);
}

#[test]
fn a_flood_of_log_lines_is_kept_to_the_log_bound() {
    let a = attack("log-flood", &[]);
    assert_eq!(a.report["committed"], true);
    let log = a.report["log"].as_array().unwrap();
    let bytes: usize = log.iter().map(|l| l["message"].as_str().unwrap().len()).sum();
    assert!(bytes <= (64 << 10) + 100, "{bytes} bytes of log kept");
    assert!(log.last().unwrap()["message"].as_str().unwrap().starts_with("[log cut"));
}

#[test]
fn abort_and_exit_after_planning_commit_nothing() {
    for mode in ["abort", "exit"] {
        let a = attack(mode, &[]);
        assert_eq!(a.report["outcome"]["status"], "trap", "{mode}: {}", a.report["outcome"]);
        assert_eq!(a.report["actions"].as_array().unwrap().len(), 4, "{mode}: the plan is reported, not committed");
    }
}

#[test]
fn an_allocation_past_the_memory_cap_fails_as_the_memory_limit() {
    let a = attack("alloc-fail", &["--memory-mb", "64"]);
    assert_eq!(limit(&a), "memory", "{}", a.report["outcome"]);
}

#[test]
fn the_file_system_network_and_environment_are_out_of_reach() {
    let fs = detail(&attack("fs", &[]));
    assert!(!fs.contains("readable") && !fs.contains("write: ok"), "{fs}");
    let net = detail(&attack("net", &[]));
    assert!(!net.contains("connected"), "{net}");
    let env = detail(&attack("env", &[]));
    assert!(env.starts_with("env: 0 variables []"), "{env}");
}

#[test]
fn foreign_and_sql_looking_ids_find_nothing() {
    // Sanne's first account: it exists, but not for Jan, and it is neither an action nor a person.
    let someone_elses_account = "7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e0100";
    for target in [someone_elses_account, "x' OR '1'='1", "%", "' ; DROP TABLE actions; --", "../../etc/passwd"] {
        let setting = format!("target={target}");
        let a = attack("sql-id", &["--set", setting.as_str()]);
        assert_eq!(a.committed_actions, 0, "{target}");
        let summary = detail(&a);
        assert_eq!(summary.matches("NotFound").count(), 3, "{target}: {summary}");
    }
}

#[test]
fn planning_past_every_budget_abandons_the_plan() {
    let a = attack("over-budget", &["--max-actions", "3"]);
    assert_eq!(limit(&a), "actions", "{}", a.report["outcome"]);
    let a = attack("over-budget", &["--max-host-calls", "20"]);
    assert_eq!(limit(&a), "host-calls", "{}", a.report["outcome"]);
}
