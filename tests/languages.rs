//! Plugins in any wasm language: each example plugin (propagate-mail, continue-provisioning) in
//! Rust, Python and JavaScript commits the same plans and passes the same cases; `provhost test`
//! explains a mismatch; `provhost plugin check` says what a component is and how to pin it; a
//! plugin for another API version is refused. (`plugin new` is tested from outside the checkout
//! in `plugin_author.rs`.)

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use support::{Demo, json, mail_changed, plugin, repo, stderr};

/// The example plugins, each written in every language, with an event it plans actions for and
/// the settings of each run of it.
struct Example {
    name: &'static str,
    event: &'static str,
    runs: &'static [&'static [&'static str]],
}

const SOURCES: &str = "sources=Corporate Active Directory=active-directory";

const EXAMPLES: [Example; 2] = [
    Example { name: "propagate-mail", event: "mail-changed.json", runs: &[&[], &["systems=exchange-online,topdesk"]] },
    Example {
        name: "continue-provisioning",
        event: "sailpoint-provisioning-completed.json",
        runs: &[
            &[SOURCES, "dependent-systems=active-directory:memberOf=exchange-online"],
            &[SOURCES, "dependent-systems=active-directory:memberOf=exchange-online,topdesk"],
        ],
    },
];

/// The folders of the Rust, Python and JavaScript versions of a plugin under plugins/.
fn languages(name: &str) -> [String; 3] {
    [name.to_owned(), format!("python/{name}"), format!("js/{name}")]
}

/// A compile cache shared by these tests: Python and JavaScript components take seconds to compile.
fn cache() -> PathBuf {
    repo().join("plugins/target/test-cache")
}

fn provhost(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provhost"))
        .arg("--cache-dir")
        .arg(cache())
        .args(args)
        .env_remove("PROVHOST_CONFIG")
        .output()
        .unwrap()
}

fn cases(name: &str) -> PathBuf {
    repo().join("plugins/cases").join(name)
}

/// How many cases a folder holds: its subfolders with an `event.json`.
fn count_cases(folder: &Path) -> usize {
    std::fs::read_dir(folder).unwrap().filter(|e| e.as_ref().unwrap().path().join("event.json").is_file()).count()
}

/// Runs `provhost test` of the plugin `name` over every case in `folder` and asserts they all pass.
fn passes_every_case(data: &Path, name: &str, folder: &Path) {
    let component = plugin(name);
    let out = provhost(&[
        "--data-dir",
        data.to_str().unwrap(),
        "test",
        component.to_str().unwrap(),
        folder.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{name}:\n{text}{}", stderr(&out));
    assert!(text.ends_with(&format!("{} passed, 0 failed\n", count_cases(folder))), "{name}: {text}");
}

#[test]
fn each_plugin_in_three_languages_passes_the_same_cases() {
    let data = tempfile::tempdir().unwrap();
    for example in &EXAMPLES {
        for name in languages(example.name) {
            passes_every_case(data.path(), &name, &cases(example.name));
        }
    }
}

#[test]
fn a_component_built_for_contract_0_1_0_passes_the_same_cases_unchanged() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let old = plugin("propagate-mail-v0_1");
    let check = provhost(&["--data-dir", d, "plugin", "check", old.to_str().unwrap(), "--json"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert_eq!(json(&check)["api_version"], "0.1.0");
    let imports = json(&check)["imports"].as_array().unwrap().clone();
    assert!(imports.iter().any(|i| i["name"] == "provhost:plugin/log@0.1.0" && i["status"] == "provided"));

    passes_every_case(data.path(), "propagate-mail-v0_1", &cases("propagate-mail"));

    let event = repo().join("examples/events/mail-changed.json");
    for settings in EXAMPLES[0].runs {
        let plan = committed_plan("propagate-mail", &event, settings);
        assert_eq!(committed_plan("propagate-mail-v0_1", &event, settings), plan, "0.1.0 and 0.2.0 differ");
    }
}

fn committed_plan(name: &str, event: &Path, settings: &[&str]) -> Vec<(String, String, String, String, String)> {
    let demo = Demo::new();
    let component = plugin(name);
    let cache = cache();
    let mut args = vec!["--cache-dir", cache.to_str().unwrap()];
    for setting in settings {
        args.extend(["--set", setting]);
    }
    let out = demo.run_as(&demo.key, component.to_str().unwrap(), event, &args);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let mut plan: Vec<_> = demo
        .actions()
        .into_iter()
        .filter(|a| a["invocation"] == json(&out)["invocation"])
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
            (s(&a["kind"]), s(&a["system"]), s(&a["target"]["id"]), s(&a["origin"]), s(&a["state"]))
        })
        .collect();
    plan.sort();
    plan
}

#[test]
fn the_three_languages_commit_identical_plans() {
    for example in &EXAMPLES {
        let event = repo().join("examples/events").join(example.event);
        let [rust, python, js] = languages(example.name);
        for settings in example.runs {
            let plan = committed_plan(&rust, &event, settings);
            assert!(!plan.is_empty(), "{rust} planned nothing ({settings:?})");
            assert_eq!(committed_plan(&python, &event, settings), plan, "{python} differs from {rust} ({settings:?})");
            assert_eq!(committed_plan(&js, &event, settings), plan, "{js} differs from {rust} ({settings:?})");
        }
    }
}

#[test]
fn a_mismatch_is_a_readable_diff_and_update_rewrites_the_expectation() {
    let data = tempfile::tempdir().unwrap();
    let copy = data.path().join("cases");
    std::fs::create_dir_all(copy.join("mail-changed")).unwrap();
    let source = cases("propagate-mail").join("mail-changed");
    std::fs::copy(source.join("event.json"), copy.join("mail-changed/event.json")).unwrap();
    let expected = std::fs::read_to_string(source.join("expected.json")).unwrap().replace("\"success\"", "\"error\"");
    std::fs::write(copy.join("mail-changed/expected.json"), expected).unwrap();
    let component = plugin("propagate-mail");
    let args =
        ["--data-dir", data.path().to_str().unwrap(), "test", component.to_str().unwrap(), copy.to_str().unwrap()];
    let out = provhost(&args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("FAILED  mail-changed") && text.contains("--- expected.json\n+++ actual"), "{text}");
    assert!(text.contains("-      \"state\": \"error\",\n+      \"state\": \"success\","), "{text}");
    assert!(text.ends_with("0 passed, 1 failed\n"));

    let mut update = args.to_vec();
    update.push("--update");
    assert!(provhost(&update).status.success());
    assert!(provhost(&args).status.success(), "the rewritten expectation passes");
}

#[test]
fn plugin_check_reports_what_a_component_is() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let component = plugin("python/propagate-mail");
    let out = provhost(&["--data-dir", d, "plugin", "check", component.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["api_version"], "0.2.0");
    assert_eq!(report["loads"], "yes");
    assert_eq!(report["manifest"]["name"], "propagate-mail");
    assert!(report["pin"].as_str().unwrap().contains(&format!("sha256 = \"{}\"", report["sha256"].as_str().unwrap())));
    let imports = report["imports"].as_array().unwrap();
    assert!(imports.iter().any(|i| i["name"] == "provhost:plugin/settings@0.2.0" && i["status"] == "provided"));
    assert!(
        imports.iter().any(|i| i["name"].as_str().unwrap().starts_with("wasi:filesystem/") && i["status"] == "denied")
    );

    let wants_http = data.path().join("wants_http.wasm");
    std::fs::write(
        &wants_http,
        wat::parse_str(
            r#"(component
                 (import "wasi:http/outgoing-handler@0.2.0" (instance))
                 (instance $h)
                 (export "provhost:plugin/handler@0.1.0" (instance $h)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let out = provhost(&["--data-dir", d, "plugin", "check", wants_http.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("missing   wasi:http/outgoing-handler@0.2.0  (provhost plugins have no HTTP"), "{text}");

    let text_file = provhost(&["--data-dir", d, "plugin", "check", mail_changed().to_str().unwrap()]);
    assert_eq!(text_file.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&text_file.stdout).contains("NOT LOADABLE: it is not a WebAssembly file"));
}

#[test]
fn a_plugin_for_another_api_version_is_refused_naming_both() {
    let demo = Demo::new();
    let future = demo.dir.path().join("future.wasm");
    std::fs::write(
        &future,
        wat::parse_str(r#"(component (instance $h) (export "provhost:plugin/handler@0.3.0" (instance $h)))"#).unwrap(),
    )
    .unwrap();
    let out = demo.run_as(&demo.key, future.to_str().unwrap(), &mail_changed(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("was built for provhost plugin API 0.3.0, but this provhost supports 0.1.0, 0.2.0"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plugin_check_pins_the_component_as_the_configuration_file_resolves_it() {
    let mut demo = Demo::new();
    let component = plugin("propagate-mail");
    let pin = |demo: &Demo| {
        let out = demo.provhost(&["plugin", "check", component.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        json(&out)["pin"].as_str().unwrap().to_owned()
    };
    let named = |pin: &str| {
        let line = pin.lines().find_map(|l| l.strip_prefix("component = ")).expect("a component line");
        serde_json::from_str::<String>(line).unwrap()
    };
    assert_eq!(named(&pin(&demo)), component.to_str().unwrap(), "without a configuration file: the absolute path");

    demo.configure("[tenants.demo]\n");
    let pin = pin(&demo);
    let relative = named(&pin);
    assert!(PathBuf::from(&relative).is_relative(), "{pin}");
    let base = demo.config_path().unwrap().parent().unwrap();
    assert_eq!(base.join(&relative).canonicalize().unwrap(), component.canonicalize().unwrap(), "{pin}");

    // The printed snippet, pasted into that file, pins a plugin that runs.
    demo.configure(&format!("[tenants.demo]\n\n{}", pin.replace("TENANT", "demo")));
    let out = demo.run_as(&demo.key, "propagate-mail", &mail_changed(), &["--dry-run"]);
    assert!(out.status.success(), "{pin}\n{}", stderr(&out));
}
