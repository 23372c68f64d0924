//! A hostile tenant's plugin, through the `provhost` binary and the `hostile` test component:
//! whatever it does, the process lives, the wall time stays within the deadline plus a small
//! margin, nothing commits unless the plugin returned `ok`, the store grows by at most a stated
//! bound, and the audit chain verifies.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use provhost::limits::Limits;
use serde_json::Value;
use support::{Demo, json, mail_changed, plugin, stderr, store_bytes};

/// The deadline most attacks run under.
const DEADLINE_MS: u64 = 1_500;

/// The most the store may grow by for one invocation, whatever the plugin sends: its one record,
/// which holds the journal (at most `max-journal-bytes`, 1 MiB), the output and the plan.
const STORE_GROWTH_BOUND: u64 = 4 << 20;

/// The most `provhost run` may print for one invocation: the same bounded journal, output and
/// plan.
const REPORT_BOUND: usize = 4 << 20;

/// The most provhost's resident memory may grow by for one invocation over a harmless one: the
/// guest's memory (at most `memory-bytes`), one copy of what a single call hands the host (which
/// lives in that memory, so at most as big again), and the bounded journal, record and report.
const HOST_MEMORY_BOUND: u64 = 2 * (256 << 20) + (64 << 20);

/// What one attack left behind.
struct Attack {
    report: Value,
    stderr: String,
    committed_actions: usize,
    /// How much more resident memory the attack took than a harmless run, in bytes.
    memory_growth: u64,
}

/// Runs the hostile plugin in `mode` under the [`DEADLINE_MS`] deadline and checks what holds for
/// every attack.
fn attack(mode: &str, extra: &[&str]) -> Attack {
    let deadline = DEADLINE_MS.to_string();
    let mut args = vec!["--timeout-ms", deadline.as_str()];
    args.extend_from_slice(extra);
    attack_with(&Demo::new(), &plugin("hostile"), mode, &args)
}

/// Runs the component `plugin` in `mode` with `args` on `demo` (under whatever deadline its
/// limits give it) and checks what holds for every attack: the process lives and answers within
/// its deadline, prints a bounded report, grows the store and its own memory by at most the
/// stated bounds, commits nothing unless the plugin returned `ok`, and the audit chain verifies.
fn attack_with(demo: &Demo, plugin: &Path, mode: &str, args: &[&str]) -> Attack {
    let plugin = plugin.to_str().unwrap();
    let event = mail_changed();
    let run = |extra: &[&str]| {
        let mut all = vec!["run", "--api-key", demo.key.as_str(), "--plugin", plugin, "--event"];
        all.push(event.to_str().unwrap());
        all.extend_from_slice(extra);
        demo.provhost_measured(&all)
    };
    // One harmless run first, so the compile cache and the store's pages are in place and there
    // is a resident size to compare with.
    let (harmless, baseline) = run(&[]);
    assert!(harmless.status.success(), "{}", stderr(&harmless));
    let before_actions = demo.actions().len();
    let before_bytes = store_bytes(demo);

    let setting = format!("mode={mode}");
    let mut extra = vec!["--set", setting.as_str()];
    extra.extend_from_slice(args);
    let started = Instant::now();
    let (out, peak) = run(&extra);
    let elapsed = started.elapsed();

    let code = out.status.code();
    assert!(
        matches!(code, Some(0) | Some(3)),
        "{mode}: the process must live and answer, got {code:?}: {}",
        stderr(&out)
    );
    assert!(out.stdout.len() <= REPORT_BOUND, "{mode}: the report is {} bytes", out.stdout.len());
    let report = json(&out);
    let deadline = report["limits"]["timeout-ms"].as_u64().expect("the report names its limits");
    assert!(
        elapsed < Duration::from_millis(deadline) + Duration::from_secs(15),
        "{mode}: the command took {elapsed:?}, far past the {deadline} ms deadline"
    );
    let wall = report["usage"]["wall_time_us"].as_u64().unwrap();
    assert!(wall < (deadline + 500) * 1000, "{mode}: the invocation ran {wall} µs past its {deadline} ms deadline");
    let committed = report["committed"].as_bool().unwrap();
    let completed = report["outcome"]["status"] == "completed";
    assert!(!committed || completed, "{mode}: committed although the plugin did not return ok: {report}");
    let committed_actions = demo.actions().len() - before_actions;
    if !committed {
        assert_eq!(committed_actions, 0, "{mode}: nothing may be committed");
    }
    let growth = store_bytes(demo).saturating_sub(before_bytes);
    assert!(growth <= STORE_GROWTH_BOUND, "{mode}: the store grew by {growth} bytes");
    let memory_growth = peak.saturating_sub(baseline);
    assert!(memory_growth <= HOST_MEMORY_BOUND, "{mode}: provhost's resident memory grew by {memory_growth} bytes");
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{mode}: the audit chain must verify: {}", stderr(&verify));
    Attack { report, stderr: stderr(&out), committed_actions, memory_growth }
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
    assert!(
        detail(&a).contains("call stack exhausted"),
        "the trap is the stack's, not another: {}",
        a.report["outcome"]
    );
}

#[test]
fn a_huge_id_is_refused_invalid_before_any_lookup() {
    let a = attack("huge-id", &[]);
    assert_eq!(a.report["outcome"]["status"], "plugin-error", "{}", a.report["outcome"]);
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
    assert_eq!(a.report["outcome"]["status"], "plugin-error", "{}", a.report["outcome"]);
    let message = detail(&a);
    assert!(message.starts_with("EEEE"), "the plugin's own message: {}", &message[..message.len().min(200)]);
    assert!(message.len() < 4200 && message.ends_with("[…cut: 4096 of 62914560 bytes kept]"), "{}", message.len());
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

/// What the plugin reported in an attack that must complete: its summary.
fn completed(mode: &str, extra: &[&str]) -> String {
    let a = attack(mode, extra);
    assert_eq!(a.report["outcome"]["status"], "completed", "{mode}: {}", a.report["outcome"]);
    detail(&a)
}

#[test]
fn the_file_system_is_out_of_reach() {
    // With no directory granted, WASI resolves no path at all: every one is ENOENT (44 in WASI),
    // where a file system in reach would have listed `/` and `.` and written the file.
    let fs = completed("fs", &[]);
    let tried: Vec<&str> = fs.strip_prefix("fs: ").unwrap_or_else(|| panic!("{fs}")).split(" | ").collect();
    let denied = "No such file or directory (os error 44)";
    let expected: Vec<String> = ["/etc/passwd", ".", "/", "write"].iter().map(|p| format!("{p}: {denied}")).collect();
    assert_eq!(tried, expected, "{fs}");
}

#[test]
fn a_listener_on_loopback_is_out_of_reach() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let target = format!("target={address}");
    let net = completed("net", &["--set", target.as_str()]);
    assert!(net.starts_with(&format!("net: {address}: PermissionDenied")), "the sandbox's own denial: {net}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the listener accepted a connection from the plugin: {other:?}"),
    }
}

#[test]
fn the_environment_is_empty() {
    let env = completed("env", &[]);
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

#[test]
fn a_flood_of_refused_calls_is_counted_and_ends_at_the_host_call_budget() {
    // Under provhost's default limits: a 5 s deadline, 1 000 host calls.
    let a = attack_with(&Demo::new(), &plugin("hostile"), "refused-flood", &[]);
    assert_eq!(limit(&a), "host-calls", "{}", a.report["outcome"]);
    assert_eq!(a.report["usage"]["host_calls"], 1001, "every refused call counted; the one past the budget refused");
    // Its first three calls (two settings read, the accounts planned) were allowed.
    let refused = a.report["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 998);
    assert!(refused[..997].iter().all(|c| c["decision"] == "invalid"), "{}", refused[0]);
    assert_eq!(refused[997]["decision"], "budget-exhausted");
    let wall = a.report["usage"]["wall_time_us"].as_u64().unwrap();
    assert!(wall < 4_000_000, "the flood was ended at the budget, not after its 4 s: {wall} µs");
    assert!(a.memory_growth < 64 << 20, "a flood of refused calls costs the host {} bytes", a.memory_growth);
}

#[test]
fn past_the_journal_ceiling_the_invocation_ends_and_commits_nothing() {
    let mut demo = Demo::new();
    demo.configure("[limits]\nmax-host-calls = 100000\n\n[tenants.demo]\n");
    let a = attack_with(&demo, &plugin("hostile"), "refused-flood", &[]);
    assert_eq!(a.report["outcome"]["hit"], serde_json::json!({"limit": "journal-bytes", "value": 1 << 20}));
    let calls = a.report["usage"]["host_calls"].as_u64().unwrap();
    assert!(calls < 10_000, "the journal filled long before the raised call budget: {calls} calls");
    assert_eq!(a.report["committed"], false);
}

/// The hostile plugin in a folder of its own, beside a manifest that asks for provhost's maximum
/// of every limit.
fn hostile_asking_for_every_maximum(dir: &Path) -> std::path::PathBuf {
    let component = dir.join("hostile.wasm");
    std::fs::copy(plugin("hostile"), &component).unwrap();
    let mut manifest = std::fs::read_to_string(plugin("hostile").with_extension("toml")).unwrap();
    manifest.push_str("\n[limits]\n");
    let maximum = serde_json::to_value(Limits::MAXIMUM).unwrap();
    for (name, value) in maximum.as_object().unwrap() {
        manifest.push_str(&format!("{name} = {value}\n"));
    }
    std::fs::write(component.with_extension("toml"), manifest).unwrap();
    component
}

#[test]
fn a_manifest_asking_for_more_of_every_limit_runs_under_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let component = hostile_asking_for_every_maximum(dir.path());
    let demo = Demo::new();
    let a = attack_with(&demo, &component, "sleep", &[]);
    assert_eq!(a.report["limits"], serde_json::to_value(Limits::default()).unwrap(), "no limit was raised");
    assert_eq!(a.report["outcome"]["hit"], serde_json::json!({"limit": "timeout", "value": 5000}));
    let a = attack_with(&demo, &component, "over-budget", &[]);
    assert_eq!(a.report["outcome"]["hit"], serde_json::json!({"limit": "host-calls", "value": 1000}));
}

#[test]
fn only_the_operator_raises_a_default_and_the_manifest_and_command_line_only_lower_it() {
    let dir = tempfile::tempdir().unwrap();
    let component = hostile_asking_for_every_maximum(dir.path());
    let mut demo = Demo::new();
    demo.configure("[limits]\nmax-host-calls = 1500\n\n[tenants.demo]\n");
    let a = attack_with(&demo, &component, "over-budget", &[]);
    assert_eq!(a.report["limits"]["max-host-calls"], 1500, "the operator's value, not the manifest's 100 000");
    assert_eq!(a.report["outcome"]["hit"], serde_json::json!({"limit": "host-calls", "value": 1500}));
    let a = attack_with(&demo, &component, "over-budget", &["--max-host-calls", "5000"]);
    assert_eq!(a.report["limits"]["max-host-calls"], 1500, "the command line does not raise it either");
    let a = attack_with(&demo, &component, "over-budget", &["--max-host-calls", "40"]);
    assert_eq!(a.report["outcome"]["hit"]["value"], 40, "but lowers it");
}

#[test]
fn a_component_holding_hundreds_of_pool_slots_is_refused_at_load_naming_it_and_the_count() {
    let demo = Demo::new();
    let before = demo.actions().len();
    for (extra, memories, what) in [
        (300, true, "301 linear memories per instance; provhost allows at most 4 per component"),
        (100, false, "103 core module instances per instance; provhost allows at most 32 per component"),
    ] {
        let component = support::hoard::hoarding_plugin(demo.dir.path(), "hoarder", extra, memories);
        let out = demo.run_as(&demo.key, component.to_str().unwrap(), &mail_changed(), &[]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&component.display().to_string()) && err.contains(what), "{err}");
        let check = demo.provhost(&["plugin", "check", component.to_str().unwrap()]);
        assert!(stderr(&check).contains(what) || String::from_utf8_lossy(&check.stdout).contains(what));
    }
    assert_eq!(demo.actions().len(), before, "nothing ran");
}

#[test]
fn a_plugin_hoarding_wasi_resources_hits_their_limit() {
    let a = attack("hoard-resources", &[]);
    assert_eq!(a.report["outcome"]["hit"], serde_json::json!({"limit": "wasi-resources", "value": 1024}));
    assert!(a.memory_growth < 64 << 20, "{} bytes", a.memory_growth);
}
