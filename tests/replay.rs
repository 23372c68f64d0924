//! Replay before deploy, through real components: events kept as propagate-mail ran on them are
//! replayed through a new version as a dry run. An identical version differs in nothing; a version
//! that also updates one more system reports exactly those added actions; a version that traps on
//! some events reports them; the exit status gates on `--allow`; a replay commits nothing and is
//! one audit record; the retention bound holds; another tenant's events are never replayed; a new
//! version's manifest raises neither capabilities nor limits; a body over the bound is a 413.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Demo, json, plugin, stderr};

const SANNE: &str = "7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02";
const PIETER: &str = "c2d8f0a6-1b4e-4f3a-a7c5-9e2b6d8f1a03";
const FATIMA: &str = "e5b7c9d1-3f2a-4c6e-b8d4-1a9f7e5c3b04";
const JAN: &str = support::JAN;

/// The demo tenant and a second one, fabrikam, both with the demo's data, keeping their events,
/// running propagate-mail into Exchange Online and TOPdesk; `retention` goes into both tenants'
/// `[retention]`. The second tenant's key.
fn tenants(retention: &str) -> (Demo, String) {
    let mut demo = Demo::new();
    let propagate = plugin("propagate-mail");
    let mut toml = String::new();
    for tenant in ["demo", "fabrikam"] {
        toml.push_str(&format!(
            "[tenants.{tenant}.retention]\nkeep-events = true\n{retention}\n\n\
             [tenants.{tenant}.plugins.propagate-mail]\ncomponent = \"{}\"\n\
             config = {{ systems = \"exchange-online,topdesk\" }}\n\n",
            propagate.display()
        ));
    }
    demo.configure(&toml);
    let init = demo.provhost(&["init", "--tenant", "fabrikam", "--demo-data"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let key = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    (demo, key)
}

/// `attribute` of `person` changed in Active Directory, run through propagate-mail under `key`.
fn run(demo: &Demo, key: &str, person: &str, attribute: &str) {
    let event = json!({
        "type": "attribute-changed", "person": person, "system": "active-directory", "source": "a workflow",
        "changes": [{"attribute": attribute, "oldValues": ["old@contoso.example"], "newValues": ["new@fabrikam.example"]}]
    });
    let file = demo.event(&format!("{person}-{attribute}.json"), &event);
    let out = demo.run_as(key, "propagate-mail", &file, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The three demo events (Sanne's and Fatima's mail, Pieter's proxyAddresses) and fabrikam's one
/// (Jan's mail), each run and kept.
fn kept_events() -> (Demo, String) {
    let (demo, fabrikam) = tenants("");
    run(&demo, &demo.key, SANNE, "mail");
    run(&demo, &demo.key, PIETER, "proxyAddresses");
    run(&demo, &demo.key, FATIMA, "mail");
    run(&demo, &fabrikam, JAN, "mail");
    (demo, fabrikam)
}

/// The component `name` as a new version of propagate-mail: copied into the data directory with
/// propagate-mail's manifest beside it.
fn candidate(demo: &Demo, name: &str) -> PathBuf {
    let dir = demo.dir.path().join("candidates");
    std::fs::create_dir_all(&dir).unwrap();
    let component = dir.join(format!("{name}.wasm"));
    std::fs::copy(plugin(name), &component).unwrap();
    std::fs::copy(plugin("propagate-mail").with_extension("toml"), component.with_extension("toml")).unwrap();
    component
}

/// `provhost replay` of `component` as propagate-mail under `key` with `extra` flags; its exit
/// status and its JSON report.
fn replay(demo: &Demo, key: &str, component: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["replay", "--api-key", key, "--plugin", "propagate-mail", "--format", "json", "--component"];
    args.push(component.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = demo.provhost(&args);
    let code = out.status.code().unwrap();
    assert!(code == 0 || code == 4, "replay failed: {}", stderr(&out));
    (code, json(&out))
}

/// The persons of the events a report replayed, in order.
fn persons(report: &Value) -> Vec<String> {
    let events = report["events"].as_array().unwrap();
    events
        .iter()
        .map(|e| {
            let summary = e["event"].as_str().unwrap();
            [SANNE, PIETER, FATIMA, JAN].into_iter().find(|p| summary.contains(p)).unwrap().to_owned()
        })
        .collect()
}

fn audit_replays(demo: &Demo) -> Vec<Value> {
    let out = demo.provhost(&["audit", "list", "--tenant", "demo", "--kind", "replay", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    json(&out).as_array().unwrap().clone()
}

#[test]
fn an_identical_version_differs_in_nothing_and_a_replay_commits_nothing_but_its_record() {
    let (demo, _) = kept_events();
    let actions = demo.actions().len();
    let (code, report) = replay(&demo, &demo.key, &candidate(&demo, "propagate-mail"), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(persons(&report), [SANNE, PIETER, FATIMA], "the tenant's own events, oldest first");
    let summary = &report["summary"];
    assert_eq!((summary["compared"].as_u64(), summary["identical"].as_u64()), (Some(3), Some(3)), "{report:#}");
    for event in report["events"].as_array().unwrap() {
        assert_eq!(event["differences"], json!([]), "{event:#}");
        assert_eq!(event["old"]["actions"], event["new"]["actions"], "{event:#}");
        assert!(!event["old"]["actions"].as_array().unwrap().is_empty(), "each event planned actions: {event:#}");
    }
    assert!(report["against"].as_str().unwrap().contains("as it stands now"), "{report:#}");
    assert_eq!(demo.actions().len(), actions, "a replay commits no action");
    let records = audit_replays(&demo);
    assert_eq!(records.len(), 1, "one record per replay: {records:#?}");
    assert!(records[0]["message"].as_str().unwrap().contains("replayed over 3 kept events"), "{:#}", records[0]);
    assert_eq!(records[0]["details"]["summary"]["identical"], 3);
}

#[test]
fn a_version_that_updates_one_more_system_reports_exactly_those_added_actions() {
    let (demo, _) = kept_events();
    let next = candidate(&demo, "propagate-mail-next");
    let (code, report) = replay(&demo, &demo.key, &next, &[]);
    assert_eq!(code, 4, "plans that differ fail the replay: {report:#}");
    assert_eq!(report["summary"]["different"], 3, "{report:#}");
    for (event, person) in report["events"].as_array().unwrap().iter().zip([SANNE, PIETER, FATIMA]) {
        assert_eq!(event["differences"], json!(["added"]), "{event:#}");
        let added = event["added"].as_array().unwrap();
        assert_eq!(added.len(), 1, "{event:#}");
        assert_eq!((added[0]["system"].as_str(), added[0]["kind"].as_str()), (Some("afas-hr"), Some("update")));
        assert_eq!(added[0]["person"], person);
        assert_eq!((&event["removed"], &event["changed"]), (&json!([]), &json!([])), "{event:#}");
    }
    let (code, report) = replay(&demo, &demo.key, &next, &["--allow", "added"]);
    assert_eq!(code, 0, "added actions allowed: {report:#}");
    assert_eq!(report["summary"]["disallowed"], 0);
}

#[test]
fn a_version_that_traps_on_some_events_reports_them_as_new_errors() {
    let (demo, _) = kept_events();
    let (code, report) = replay(&demo, &demo.key, &candidate(&demo, "propagate-mail-trap"), &["--allow", "removed"]);
    assert_eq!(code, 4, "{report:#}");
    let summary = &report["summary"];
    assert_eq!((summary["new_errors"].as_u64(), summary["identical"].as_u64()), (Some(1), Some(2)), "{report:#}");
    let trapped: Vec<&Value> =
        report["events"].as_array().unwrap().iter().filter(|e| e["new"]["outcome"] == "trap").collect();
    assert_eq!(trapped.len(), 1, "{report:#}");
    assert!(trapped[0]["event"].as_str().unwrap().contains(PIETER), "the proxyAddresses change: {:#}", trapped[0]);
    assert_eq!(trapped[0]["differences"], json!(["removed", "errors"]));
    assert!(trapped[0]["new"]["detail"].as_str().unwrap().contains("cannot handle a proxyAddresses change"));
    assert_eq!(trapped[0]["removed"], trapped[0]["old"]["actions"], "nothing of the old plan is left");
}

#[test]
fn another_tenants_events_are_never_replayed() {
    let (demo, fabrikam) = kept_events();
    let (_, report) = replay(&demo, &fabrikam, &candidate(&demo, "propagate-mail"), &[]);
    assert_eq!(report["tenant"], "fabrikam");
    assert_eq!(persons(&report), [JAN], "{report:#}");
    // Against the directory as it stands: Jan's failed TOPdesk action, which the old version
    // retried, has been retried since, so the same version is refused the retry now and updates
    // the account instead.
    let jan = &report["events"][0];
    assert_eq!(jan["differences"], json!(["added", "removed", "refusals"]), "{jan:#}");
    assert!(jan["refusals_added"][0].as_str().unwrap().starts_with("actions.retry-action"), "{jan:#}");
    assert!(audit_replays(&demo).is_empty(), "fabrikam's replay is in fabrikam's chain");
}

#[test]
fn an_event_over_the_retention_bound_is_not_kept_and_nothing_is_replayed() {
    let (demo, _) = tenants("max-event-bytes = 200\nmax-tenant-bytes = 200");
    run(&demo, &demo.key, SANNE, "mail");
    let (code, report) = replay(&demo, &demo.key, &candidate(&demo, "propagate-mail-next"), &[]);
    assert_eq!((code, report["summary"]["compared"].as_u64()), (0, Some(0)), "{report:#}");
}

#[test]
fn a_replay_needs_its_scope_and_a_configured_plugin() {
    let (demo, _) = tenants("");
    let reader = demo.key_with(&["persons:read", "events:submit"]);
    let component = candidate(&demo, "propagate-mail");
    let component = component.to_str().unwrap();
    let out = demo.provhost(&["replay", "--api-key", &reader, "--plugin", "propagate-mail", "--component", component]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not granted plugins:replay"), "{}", stderr(&out));
    let out = demo.provhost(&["replay", "--api-key", &demo.key, "--plugin", "nope", "--component", component]);
    assert!(
        stderr(&out).contains("no plugin 'nope' is configured for tenant 'demo' (configured: propagate-mail)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_same_replay_over_http_pages_through_the_kept_events() {
    let (demo, _) = kept_events();
    let server = support::server::Server::start(&demo, &[]);
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let (id, secret) = demo.key.split_once(':').unwrap();
    let component = std::fs::read(plugin("propagate-mail-next")).unwrap();
    let post = |query: &str, kind: &str| {
        let url = server.url(&format!("/v1/plugins/propagate-mail/replay{query}"));
        let response = client
            .post(url)
            .basic_auth(id, Some(secret))
            .header("content-type", kind)
            .body(component.clone())
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap())
    };
    let (status, first) = post("?limit=2&allow=added", "application/wasm");
    assert_eq!(status, 200, "{first:#}");
    assert_eq!((persons(&first), &first["next_offset"]), (vec![SANNE.to_owned(), PIETER.into()], &json!(2)));
    assert!(first["events"].as_array().unwrap().iter().all(|e| e["differences"] == json!(["added"])), "{first:#}");
    assert_eq!(first["summary"]["disallowed"], 0);
    assert_eq!(first["next_after"], first["events"][1]["seq"], "the last event replayed: {first:#}");
    let (status, rest) = post(&format!("?limit=2&after={}", first["next_after"]), "application/wasm");
    assert_eq!(status, 200, "{rest:#}");
    assert_eq!((persons(&rest), &rest["next_offset"]), (vec![FATIMA.to_owned()], &Value::Null));
    assert_eq!(rest["next_after"], Value::Null);
    assert_eq!(rest["summary"]["disallowed"], 1, "added is not allowed on this page: {rest:#}");
    assert_eq!(audit_replays(&demo).len(), 2, "one record per page replayed");

    let (status, problem) = post("?after=soon", "application/wasm");
    assert_eq!(status, 400, "{problem:#}");
    assert!(problem["detail"].as_str().unwrap().contains("after must be a kept event's seq"), "{problem:#}");
    let (status, problem) = post("", "application/json");
    assert_eq!((status, problem["type"].as_str()), (415, Some("/problems/unsupported-media-type")));
    let url = server.url("/v1/plugins/nope/replay");
    let response = client
        .post(url)
        .basic_auth(id, Some(secret))
        .header("content-type", "application/wasm")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let (status, problem) = {
        let url = server.url("/v1/plugins/propagate-mail/replay");
        let response = client
            .post(url)
            .basic_auth(id, Some(secret))
            .header("content-type", "application/wasm")
            .body("not wasm")
            .send()
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap())
    };
    assert_eq!(status, 422, "{problem:#}");
    assert!(problem["type"].as_str().unwrap().ends_with("invalid-component"), "{problem:#}");
}

#[test]
fn a_caller_that_hangs_up_on_a_replay_keeps_its_share_until_the_replay_ends() {
    // One change at a time for the tenant; the kept event's plugin sleeps to its 4 s deadline,
    // and the replaying caller hangs up after 1 s, long before the new version's run ends.
    let mut demo = Demo::new();
    let hostile = plugin("hostile");
    demo.configure(&format!(
        "[tenants.demo.share]\nmax-concurrent-events = 1\n\n\
         [tenants.demo.retention]\nkeep-events = true\n\n\
         [tenants.demo.plugins.sleeper]\ncomponent = \"{}\"\nconfig = {{ mode = \"sleep\" }}\n\
         limits = {{ timeout-ms = 4000 }}\n",
        hostile.display()
    ));
    let kept = demo.run_as(&demo.key, "sleeper", &support::mail_changed(), &[]);
    assert!(kept.status.code().is_some(), "{}", stderr(&kept));
    let server = support::server::Server::start(&demo, &[]);
    let (id, secret) = demo.key.split_once(':').unwrap();
    let impatient = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(1)).build().unwrap();
    let hung_up = impatient
        .post(server.url("/v1/plugins/sleeper/replay"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/wasm")
        .body(std::fs::read(&hostile).unwrap())
        .send();
    assert!(hung_up.is_err(), "the caller hung up before the replay ended: {hung_up:?}");
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
    let event = |client: &reqwest::blocking::Client| {
        let response = client
            .post(server.url("/v1/events"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .unwrap();
        response.status().as_u16()
    };
    // A change that touches nothing: an event that does not parse, 422 once admitted.
    assert_eq!(event(&client), 429, "the replay still holds the tenant's one place");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        match event(&client) {
            429 => assert!(std::time::Instant::now() < deadline, "the share was never given back"),
            status => break status,
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(status, 422, "once the replay ends, the share is free again");
    let records = audit_replays(&demo);
    assert_eq!(records[0]["details"]["summary"]["compared"], 1, "the replay ran to its end: {records:#?}");
}

#[test]
fn events_kept_before_keeping_was_turned_off_are_still_forgotten_after_keep_for() {
    let (mut demo, _) = kept_events();
    demo.configure(&format!(
        "[tenants.demo.retention]\nkeep-events = false\nkeep-for = \"1s\"\n\n\
         [tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\n",
        plugin("propagate-mail").display()
    ));
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let (_, report) = replay(&demo, &demo.key, &candidate(&demo, "propagate-mail"), &[]);
    assert_eq!(report["summary"]["compared"], 3, "the events kept while keeping was on: {report:#}");
    let server = support::server::Server::start(&demo, &[]);
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let (id, secret) = demo.key.split_once(':').unwrap();
    let compared = || {
        let response = client
            .post(server.url("/v1/plugins/propagate-mail/replay"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/wasm")
            .body(std::fs::read(plugin("propagate-mail")).unwrap())
            .send()
            .unwrap();
        response.json::<Value>().unwrap()["summary"]["compared"].as_u64().unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while compared() != 0 {
        assert!(std::time::Instant::now() < deadline, "the events were kept past keep-for");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_new_versions_manifest_raises_neither_the_plugins_capabilities_nor_its_limits() {
    // propagate-mail installed twice: once allowed only to read persons, once with too little fuel
    // to start; the new version is the same component with its full manifest beside it.
    let mut demo = Demo::new();
    let manifest = std::fs::read_to_string(plugin("propagate-mail").with_extension("toml")).unwrap();
    let narrow = manifest.replace(
        r#"capabilities = ["persons:read", "accounts:update", "entitlements:re-enforce", "actions:retry"]"#,
        r#"capabilities = ["persons:read"]"#,
    );
    assert_ne!(narrow, manifest, "the manifest declares its capabilities on one line");
    let starved = manifest.replace("[limits]\n", "[limits]\nfuel = 1000\n");
    assert_ne!(starved, manifest);
    let mut toml = String::from("[tenants.demo.retention]\nkeep-events = true\n\n");
    for (name, manifest) in [("narrow", &narrow), ("starved", &starved)] {
        let dir = demo.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(plugin("propagate-mail"), dir.join("propagate-mail.wasm")).unwrap();
        std::fs::write(dir.join("propagate-mail.toml"), manifest).unwrap();
        toml.push_str(&format!(
            "[tenants.demo.plugins.{name}]\ncomponent = \"{}\"\nconfig = {{ systems = \"exchange-online,topdesk\" }}\n\n",
            dir.join("propagate-mail.wasm").display()
        ));
    }
    demo.configure(&toml);
    let event = json!({
        "type": "attribute-changed", "person": SANNE, "system": "active-directory", "source": "a workflow",
        "changes": [{"attribute": "mail", "oldValues": ["old@contoso.example"], "newValues": ["new@fabrikam.example"]}]
    });
    let file = demo.event("sanne.json", &event);
    for name in ["narrow", "starved"] {
        let out = demo.run_as(&demo.key, name, &file, &[]);
        assert!(out.status.code().is_some(), "{}", stderr(&out));
    }
    let component = candidate(&demo, "propagate-mail");
    let replayed = |name: &str| {
        let args = ["replay", "--api-key", &demo.key, "--plugin", name, "--format", "json", "--component"];
        let out = demo.provhost(&[&args[..], &[component.to_str().unwrap()]].concat());
        assert_eq!(out.status.code(), Some(0), "the same decisions as installed: {}", stderr(&out));
        json(&out)["events"][0].clone()
    };
    let narrow = replayed("narrow");
    assert!(!narrow["old"]["refused"].as_array().unwrap().is_empty(), "the installed version was refused: {narrow:#}");
    assert_eq!(narrow["new"]["refused"], narrow["old"]["refused"], "and so is the new one: {narrow:#}");
    assert_eq!(narrow["new"]["actions"], json!([]), "{narrow:#}");
    let starved = replayed("starved");
    assert_eq!(
        (starved["old"]["outcome"].as_str(), starved["new"]["outcome"].as_str()),
        (Some("limit"), Some("limit"))
    );
    assert!(starved["new"]["detail"].as_str().unwrap().contains("fuel"), "{starved:#}");
}

#[test]
fn a_replay_body_over_the_bound_is_refused_413_with_a_problem_and_nothing_runs() {
    let (demo, _) = kept_events();
    let server = support::server::Server::start(&demo, &[]);
    let client = reqwest::blocking::Client::builder().timeout(std::time::Duration::from_secs(120)).build().unwrap();
    let (id, secret) = demo.key.split_once(':').unwrap();
    let response = client
        .post(server.url("/v1/plugins/propagate-mail/replay"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/wasm")
        .body(vec![0u8; (64 << 20) + 1])
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().unwrap();
    assert_eq!(problem["type"], "/problems/body-too-large", "{problem:#}");
    assert!(problem["detail"].as_str().unwrap().contains("larger than the 67108864 bytes"), "{problem:#}");
    assert!(audit_replays(&demo).is_empty(), "nothing was replayed");
}
