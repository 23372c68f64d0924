//! The sandbox's limits, through the `provhost` binary and the `misbehave` test component: every
//! way a plugin can overrun ends the invocation with an error naming the limit, and commits
//! nothing.

mod support;

use std::process::Output;

use serde_json::Value;
use support::{Demo, json, mail_changed, stderr};

/// Runs misbehave in `mode` with extra flags; asserts nothing was committed and returns the
/// report and stderr.
fn misbehave(mode: &str, extra: &[&str]) -> (Value, String) {
    misbehave_under(Demo::new(), mode, extra)
}

/// [`misbehave`] on a prepared demo (one with an operator's configuration).
fn misbehave_under(demo: Demo, mode: &str, extra: &[&str]) -> (Value, String) {
    let before = demo.actions();
    let setting = format!("mode={mode}");
    let mut args = vec!["--set", setting.as_str()];
    args.extend_from_slice(extra);
    let out: Output = demo.run("misbehave", &mail_changed(), &args);
    assert_eq!(out.status.code(), Some(3), "a plan that was not committed exits 3: {}", stderr(&out));
    assert_eq!(demo.actions(), before, "nothing may be committed after {mode}");
    let report = json(&out);
    assert_eq!(report["committed"], false);
    (report, stderr(&out))
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let (report, err) = misbehave("loop", &["--fuel", "20000000"]);
    assert_eq!(report["outcome"]["hit"]["limit"], "fuel");
    assert!(err.contains("fuel limit of 20000000 units exhausted"), "{err}");
}

#[test]
fn an_endless_loop_with_fuel_to_spare_hits_the_deadline() {
    // Only the operator raises the fuel above provhost's default.
    let mut demo = Demo::new();
    demo.configure("[limits]\nfuel = 100000000000000\n\n[tenants.demo]\n");
    let (report, err) = misbehave_under(demo, "loop", &["--timeout-ms", "300"]);
    assert_eq!(report["limits"]["fuel"], 100_000_000_000_000_u64);
    assert_eq!(report["outcome"]["hit"]["limit"], "timeout");
    assert!(err.contains("wall-clock deadline of 300 ms passed"), "{err}");
    let wall = report["usage"]["wall_time_us"].as_u64().unwrap();
    assert!(wall >= 300_000, "stopped only after the deadline: {wall} µs");
}

#[test]
fn unbounded_memory_growth_hits_the_memory_cap() {
    let (report, err) = misbehave("grow", &["--memory-mb", "32"]);
    assert_eq!(report["outcome"]["hit"]["limit"], "memory");
    assert!(err.contains("memory limit of 33554432 bytes exceeded"), "{err}");
    assert!(report["usage"]["peak_memory"].as_u64().unwrap() <= 32 << 20);
}

#[test]
fn a_panic_after_planning_is_a_trap_that_says_why() {
    let (report, err) = misbehave("panic", &[]);
    assert_eq!(report["outcome"]["status"], "trap");
    assert!(err.contains("deliberate panic after planning"), "{err}");
    assert_eq!(report["actions"].as_array().unwrap().len(), 4, "the plan is reported, not committed");
}

#[test]
fn a_call_storm_exhausts_the_host_call_budget() {
    let (report, err) = misbehave("storm", &["--max-host-calls", "50"]);
    assert_eq!(report["outcome"]["hit"]["limit"], "host-calls");
    assert!(err.contains("host-call limit of 50 calls exceeded"), "{err}");
    assert_eq!(report["usage"]["host_calls"], 51, "the call past the budget is refused, the next one traps");
}

#[test]
fn planning_then_returning_err_commits_nothing() {
    let (report, err) = misbehave("plan-then-err", &[]);
    assert_eq!(report["outcome"]["status"], "plugin-error");
    assert!(err.contains("changed my mind after planning 4 updates"), "{err}");
}

#[test]
fn planning_more_actions_than_allowed_abandons_the_plan() {
    let (report, err) = misbehave("plan-then-err", &["--max-actions", "2"]);
    assert_eq!(report["outcome"]["hit"]["limit"], "actions");
    assert!(err.contains("planned-action limit of 2 actions exceeded"), "{err}");
}

#[test]
fn guest_output_is_captured_and_capped_without_failing_the_plugin() {
    let demo = Demo::new();
    let out = demo.run("misbehave", &mail_changed(), &["--set", "mode=chatter"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let output = report["guest_output"].as_str().unwrap();
    assert!(output.starts_with("line 0 of far too much output"));
    assert!(output.ends_with("[output truncated at 65536 bytes]"), "{}", &output[output.len() - 80..]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("line 99999"),
        "guest output never reaches provhost's stdout directly"
    );
}
