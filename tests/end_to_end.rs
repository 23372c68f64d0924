//! End to end through the `provhost` binary and real wasm components: the demo event through
//! propagate-mail, dry runs, failing systems and retries, the compile cache, bad input, and a
//! store written by a newer provhost.

mod support;

use serde_json::{Value, json};
use support::{Demo, JAN, json, mail_changed, plugin, stderr};

fn states(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["system"].as_str().unwrap().to_owned(),
                a["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_demo_event_commits_and_executes_updates_re_enforcements_and_the_retry() {
    let demo = Demo::new();
    let before = demo.actions().len();
    let out = demo.run("propagate-mail", &mail_changed(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["committed"], true);
    assert_eq!(report["outcome"]["status"], "completed");
    assert_eq!(report["plugin"]["name"], "propagate-mail");
    assert_eq!(report["plugin"]["compiled"], true);
    let expected: Vec<(String, String, String)> = [
        ("grant", "afas-hr"),
        ("grant", "exchange-online"),
        ("grant", "exchange-online"),
        ("grant", "topdesk"),
        ("update", "afas-hr"),
        ("update", "exchange-online"),
        ("update", "topdesk"),
    ]
    .iter()
    .map(|(k, s)| (k.to_string(), s.to_string(), "success".to_string()))
    .collect();
    assert_eq!(states(&report), expected);
    let retry = report["actions"].as_array().unwrap().iter().find(|a| a["origin"] == "manual retry").expect("a retry");
    assert_eq!(retry["system"], "topdesk");

    let stored = demo.actions();
    assert_eq!(stored.len(), before + 7, "exactly the planned actions are stored");
    let retried = stored.iter().find(|a| a["id"] == retry["id"]).unwrap();
    assert!(retried["retry_of"].is_string(), "the retry names the failed action: {retried}");

    let shown = json(&demo.provhost(&["actions", "show", retry["id"].as_str().unwrap()]));
    let history: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(history, ["pending", "running", "success"]);

    let person = json(&demo.provhost(&["persons", "show", JAN]));
    let exchange = person["accounts"].as_array().unwrap().iter().find(|a| a["system"] == "exchange-online").unwrap();
    let mail = exchange["attributes"].as_array().unwrap().iter().find(|a| a["name"] == "mail").unwrap();
    assert_eq!(mail["values"], json!(["jan.jansen@fabrikam.example"]), "the update carried the new mail downstream");
}

#[test]
fn a_second_run_of_the_same_plugin_uses_the_compile_cache() {
    let demo = Demo::new();
    let first = json(&demo.run("propagate-mail", &mail_changed(), &["--dry-run"]));
    let second = json(&demo.run("propagate-mail", &mail_changed(), &["--dry-run"]));
    assert_eq!(first["plugin"]["compiled"], true);
    assert_eq!(second["plugin"]["compiled"], false);
    assert_eq!(first["plugin"]["sha256"], second["plugin"]["sha256"]);
    let cached = std::fs::read_dir(demo.dir.path().join("cache"))
        .unwrap()
        .filter(|f| f.as_ref().unwrap().path().extension().is_some_and(|e| e == "cwasm"))
        .count();
    assert_eq!(cached, 1, "one compiled component in the cache");
}

#[test]
fn a_dry_run_reports_the_plan_and_commits_nothing() {
    let demo = Demo::new();
    let before = demo.actions();
    let out = demo.run("propagate-mail", &mail_changed(), &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!((report["dry_run"].clone(), report["committed"].clone()), (json!(true), json!(true)));
    assert_eq!(report["actions"].as_array().unwrap().len(), 7);
    assert!(report["actions"].as_array().unwrap().iter().all(|a| a["state"] == "pending"));
    assert_eq!(demo.actions(), before);
}

#[test]
fn configured_systems_narrow_the_plan() {
    let demo = Demo::new();
    let out = demo.run("propagate-mail", &mail_changed(), &["--set", "systems=exchange-online"]);
    let report = json(&out);
    let systems: Vec<&str> =
        report["actions"].as_array().unwrap().iter().map(|a| a["system"].as_str().unwrap()).collect();
    assert_eq!(systems, ["exchange-online"; 3], "{report}");
}

#[test]
fn a_failing_system_ends_in_error_and_the_next_event_retries_it() {
    let demo = Demo::new();
    assert!(
        demo.provhost(&["systems", "fail", "exchange-online", "--message", "mailbox server down"]).status.success()
    );
    let first = json(&demo.run("propagate-mail", &mail_changed(), &["--set", "systems=exchange-online"]));
    assert!(states(&first).iter().all(|(_, _, state)| state == "error"), "{first}");
    assert!(first["actions"][0]["message"].as_str().unwrap().contains("mailbox server down"));

    assert!(demo.provhost(&["systems", "restore", "exchange-online"]).status.success());
    let second = json(&demo.run("propagate-mail", &mail_changed(), &["--set", "systems=exchange-online"]));
    let retries: Vec<&Value> =
        second["actions"].as_array().unwrap().iter().filter(|a| a["origin"] == "manual retry").collect();
    assert_eq!(retries.len(), 3, "each failed action is retried: {second}");
    assert!(retries.iter().all(|a| a["state"] == "success"));
}

#[test]
fn a_change_the_plugin_does_not_watch_commits_an_empty_plan() {
    let demo = Demo::new();
    let before = demo.actions().len();
    let event = demo.event(
        "department.json",
        &json!({"type": "attribute-changed", "person": JAN, "system": "active-directory", "source": "HR sync",
                "changes": [{"attribute": "department", "oldValues": ["Sales"], "newValues": ["Marketing"]}]}),
    );
    let report = json(&demo.run("propagate-mail", &event, &[]));
    assert_eq!(report["outcome"]["summary"], "ignored: no mail attribute changed");
    assert_eq!(report["actions"], json!([]));
    assert_eq!(report["log"][0]["message"], "no mail attribute changed (department); nothing to propagate");
    assert_eq!(demo.actions().len(), before);
}

#[test]
fn bad_input_is_one_line_naming_the_input() {
    let demo = Demo::new();
    let propagate = plugin("propagate-mail");
    let propagate = propagate.to_str().unwrap();
    let key = demo.key.clone();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--event".into(), "/nonexistent/event.json".into()], "cannot read event file /nonexistent/event.json"),
        (
            vec!["--event".into(), demo.event("string.json", &json!("x")).to_str().unwrap().into()],
            "not a provhost event",
        ),
        (
            vec![
                "--event".into(),
                demo.event(
                    "stranger.json",
                    &json!({"type": "attribute-changed", "person": "no-such-person", "system": "active-directory",
                    "changes": [{"attribute": "mail", "newValues": ["x@y"]}]}),
                )
                .to_str()
                .unwrap()
                .into(),
            ],
            "names person 'no-such-person', who is not in tenant 'demo'",
        ),
    ];
    for (event_args, expected) in cases {
        let mut args = vec!["run".to_string(), "--api-key".into(), key.clone(), "--plugin".into(), propagate.into()];
        args.extend(event_args);
        let out = demo.provhost(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(expected), "expected '{expected}' in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }

    std::fs::write(demo.dir.path().join("broken.json"), "{ this is not json").unwrap();
    let out = demo.run("propagate-mail", &demo.dir.path().join("broken.json"), &[]);
    assert!(stderr(&out).contains("broken.json: not valid JSON"), "{}", stderr(&out));

    let not_wasm = demo.run_as(&key, mail_changed().to_str().unwrap(), &mail_changed(), &[]);
    assert!(stderr(&not_wasm).contains("mail-changed.json is not a WebAssembly file"), "{}", stderr(&not_wasm));

    let core = demo.dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = demo.run_as(&key, core.to_str().unwrap(), &mail_changed(), &[]);
    assert!(stderr(&out).contains("core WebAssembly module, not a component"), "{}", stderr(&out));

    let fresh = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provhost"))
        .args([
            "--data-dir",
            fresh.path().to_str().unwrap(),
            "run",
            "--api-key",
            &key,
            "--plugin",
            propagate,
            "--event",
        ])
        .arg(mail_changed())
        .output()
        .unwrap();
    assert!(stderr(&out).contains("run `provhost init --data-dir"), "{}", stderr(&out));
}

#[test]
fn a_plugin_built_for_another_api_version_is_refused_before_compiling() {
    let demo = Demo::new();
    let mut bytes = std::fs::read(plugin("propagate-mail")).unwrap();
    let marker = b"provhost:api-version0.2.0";
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("the SDK writes the version section");
    bytes[at + marker.len() - 5..at + marker.len()].copy_from_slice(b"9.9.9");
    let other = demo.dir.path().join("future-plugin.wasm");
    std::fs::write(&other, bytes).unwrap();
    let out = demo.run_as(&demo.key, other.to_str().unwrap(), &mail_changed(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("was built for provhost plugin API 9.9.9, but this provhost supports 0.1.0, 0.2.0"), "{err}");
    assert!(!demo.dir.path().join("cache").exists(), "refused before compiling: nothing cached");
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let demo = Demo::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = demo.provhost(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["serve", "audit", "completions", "no-wait", "lease-ms"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let refused = demo.provhost(&["completions", "cmd.exe"]);
    assert!(!refused.status.success() && stderr(&refused).contains("invalid value 'cmd.exe'"), "{}", stderr(&refused));
    let man = demo.provhost(&["man"]);
    assert!(man.status.success(), "{}", stderr(&man));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH provhost 1") && page.contains("deliver\\-webhooks"), "{page}");
}

#[test]
fn a_store_migrated_by_a_newer_provhost_is_refused_naming_both_versions() {
    let demo = Demo::new();
    let db = demo.dir.path().join("provhost.db");
    let ours: i64 = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        conn.pragma_update(None, "user_version", version + 1).unwrap();
        version
    };
    let out = demo.provhost(&["persons", "list"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected =
        format!("the store has schema version {} but this provhost supports up to {ours}; upgrade provhost", ours + 1);
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    rusqlite::Connection::open(&db).unwrap().pragma_update(None, "user_version", ours).unwrap();
    let out = demo.provhost(&["persons", "list"]);
    assert!(out.status.success(), "the store at this provhost's version opens: {}", stderr(&out));
}
