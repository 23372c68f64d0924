//! Governance end to end through the binary and real components: scopes (key ∩ manifest),
//! exclusions, thresholds with approval and rejection, window budgets shared across processes,
//! dry runs, pinned plugins and configuration errors; each case on the embedded store and on
//! PostgreSQL.

mod support;

use serde_json::{Value, json};
use support::{Demo, JAN, json, mail_changed, plugin, stderr};

// Every case runs on the embedded store and on PostgreSQL: one body, two stores.
crate::on_both_stores!(
    a_key_without_the_scope_gets_forbidden_naming_it_and_plans_nothing,
    a_key_narrowed_to_one_system_acts_only_there,
    a_configured_plugin_the_event_does_not_trigger_is_refused_and_its_file_runs_whatever_its_triggers,
    the_manifest_bounds_the_key_and_a_key_without_events_submit_cannot_run,
    excluded_persons_and_systems_are_refused_and_keep_what_they_have,
    a_threshold_blocks_its_whole_kind_on_that_system_and_approval_runs_them,
    rejected_actions_end_rejected_and_never_run,
    a_window_budget_is_shared_by_separate_processes,
    a_dry_run_shows_what_a_real_run_then_does,
    a_plugin_file_that_does_not_match_its_pin_is_refused,
    a_broken_configuration_stops_provhost_with_file_and_line,
    a_key_never_reaches_another_tenants_data,
    revoked_keys_stop_working,
    approving_on_the_command_line_notifies_the_webhooks,
    under_four_eyes_the_key_that_caused_a_block_cannot_approve_it,
    an_exclusion_added_after_a_block_refuses_its_approval,
);

/// A configuration installing propagate-mail for the demo tenant, with `extra` TOML appended.
fn config(capabilities: &[&str], extra: &str) -> String {
    let component = plugin("propagate-mail");
    format!(
        r#"
[tenants.demo.plugins.propagate-mail]
component = "{}"
capabilities = {capabilities:?}
triggers = {{ events = ["attribute-changed"], attributes = ["mail", "proxyAddresses", "userPrincipalName"], systems = ["active-directory"] }}
{extra}
"#,
        component.display()
    )
}

const ALL: &[&str] =
    &["persons:read", "accounts:update", "entitlements:re-enforce", "actions:retry", "entitlements:unmanage"];

fn run(demo: &Demo, extra: &[&str]) -> (Value, std::process::Output) {
    let out = demo.run_as(&demo.key, "propagate-mail", &mail_changed(), extra);
    (json(&out), out)
}

fn refusals(report: &Value) -> Vec<(String, String)> {
    report["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["decision"].as_str().unwrap().to_owned(), r["reason"].as_str().unwrap().to_owned()))
        .collect()
}

fn planned(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let target = a.get("account").or(a.get("entitlement")).unwrap().as_str().unwrap().to_owned();
            let s = |k: &str| a[k].as_str().unwrap().to_owned();
            (s("kind"), s("system"), target, if s("state") == "blocked" { "blocked".into() } else { "runs".into() })
        })
        .collect();
    out.sort();
    out
}

fn a_key_without_the_scope_gets_forbidden_naming_it_and_plans_nothing(demo: Demo) {
    let before = demo.actions().len();
    let reader = demo.key_with(&["events:submit", "persons:read"]);
    let component = plugin("propagate-mail");
    let out = demo.run_as(&reader, component.to_str().unwrap(), &mail_changed(), &[]);
    let report = json(&out);
    let refused = refusals(&report);
    assert_eq!(refused.len(), 8, "{refused:?}");
    assert!(refused.iter().all(|(decision, _)| decision == "forbidden"));
    assert!(
        refused.iter().any(|(_, reason)| reason.contains("is not granted accounts:update on system 'exchange-online'"))
    );
    assert!(refused.iter().any(|(_, reason)| reason.contains("is not granted actions:retry on system 'topdesk'")));
    assert_eq!(report["actions"], json!([]));
    assert_eq!(demo.actions().len(), before);
}

fn a_key_narrowed_to_one_system_acts_only_there(demo: Demo) {
    let key =
        demo.key_with(&["events:submit", "persons:read", "accounts:update@exchange-online", "entitlements:re-enforce"]);
    let component = plugin("propagate-mail");
    let report = json(&demo.run_as(&key, component.to_str().unwrap(), &mail_changed(), &[]));
    let updates: Vec<&str> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "update")
        .map(|a| a["system"].as_str().unwrap())
        .collect();
    assert_eq!(updates, ["exchange-online"]);
}

fn a_configured_plugin_the_event_does_not_trigger_is_refused_and_its_file_runs_whatever_its_triggers(mut demo: Demo) {
    demo.configure(&config(ALL, ""));
    let event = demo.event(
        "department.json",
        &json!({"type": "attribute-changed", "person": JAN, "system": "active-directory", "source": "HR sync",
                "changes": [{"attribute": "department", "oldValues": ["Sales"], "newValues": ["Marketing"]}]}),
    );
    let before = demo.actions().len();
    let out = demo.run_as(&demo.key, "propagate-mail", &event, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("plugin 'propagate-mail' is not triggered by this event: it watches mail, proxyAddresses, userPrincipalName, and the event changes department"),
        "{}",
        stderr(&out)
    );
    assert_eq!(demo.actions().len(), before, "nothing ran");
    let by_file = json(&demo.run("propagate-mail", &event, &[]));
    assert_eq!(
        by_file["outcome"]["summary"], "ignored: no mail attribute changed",
        "a file's triggers are not checked"
    );
}

fn the_manifest_bounds_the_key_and_a_key_without_events_submit_cannot_run(mut demo: Demo) {
    demo.configure(&config(&["persons:read", "accounts:update"], ""));
    let (report, _) = run(&demo, &[]);
    let refused = refusals(&report);
    assert!(refused.iter().any(|(d, r)| d == "forbidden"
        && r.contains("plugin 'propagate-mail' does not declare the capability actions:retry")));
    assert!(report["actions"].as_array().unwrap().iter().all(|a| a["kind"] == "update"));

    let no_submit = demo.key_with(&["persons:read"]);
    let out = demo.run_as(&no_submit, "propagate-mail", &mail_changed(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not granted events:submit"), "{}", stderr(&out));
}

fn excluded_persons_and_systems_are_refused_and_keep_what_they_have(mut demo: Demo) {
    demo.configure(&config(
        ALL,
        "[tenants.demo.exclusions]\nrules = [{ attribute = \"department\", in = [\"Sales\", \"Board\"] }]\n",
    ));
    let before = demo.actions().len();
    let (report, _) = run(&demo, &[]);
    let refused = refusals(&report);
    assert!(!refused.is_empty() && refused.iter().all(|(d, _)| d == "excluded"), "{refused:?}");
    assert!(
        refused[0].1.contains("person 'Jan Jansen'")
            && refused[0].1.contains("excluded by the rule department in [Sales, Board]")
    );
    assert_eq!(demo.actions().len(), before);
    let person = json(&demo.provhost(&["persons", "show", JAN]));
    assert_eq!(person["entitlements"].as_array().unwrap().len(), 6, "what Jan has stays as it is");

    demo.configure(&config(ALL, "[tenants.demo.exclusions]\nsystems = [\"topdesk\"]\n"));
    let (report, _) = run(&demo, &[]);
    let systems: Vec<&str> =
        report["actions"].as_array().unwrap().iter().map(|a| a["system"].as_str().unwrap()).collect();
    assert!(!systems.contains(&"topdesk") && systems.contains(&"exchange-online"), "{systems:?}");
    assert!(
        refusals(&report).iter().any(|(d, r)| d == "excluded" && r == "excluded: target system 'topdesk' is excluded")
    );
}

fn a_threshold_blocks_its_whole_kind_on_that_system_and_approval_runs_them(mut demo: Demo) {
    demo.configure(&config(
        ALL,
        "[[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncount = 2\n",
    ));
    let (report, out) = run(&demo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blocked: Vec<&Value> =
        report["actions"].as_array().unwrap().iter().filter(|a| a["state"] == "blocked").collect();
    assert_eq!(blocked.len(), 2, "both exchange grants, not just the excess");
    assert!(blocked.iter().all(|a| a["system"] == "exchange-online" && a["kind"] == "grant"));
    assert!(
        report["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] != "blocked")
            .all(|a| a["state"] == "success")
    );
    assert!(
        report["thresholds"][0]
            .as_str()
            .unwrap()
            .contains("2 grant actions on 'exchange-online' reach the threshold of 2")
    );

    let listed = json(&demo.provhost(&["actions", "blocked"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let reader = demo.key_with(&["persons:read"]);
    let out = approve_exchange_grants(&demo, &reader);
    assert!(stderr(&out).contains("is not granted actions:approve"), "{}", stderr(&out));

    let approver = demo.key_with(&["actions:approve"]);
    let out = approve_exchange_grants(&demo, &approver);
    assert!(out.status.success(), "{}", stderr(&out));
    let approved = json(&out);
    assert!(approved.as_array().unwrap().iter().all(|a| a["state"] == "success"));
    let id = blocked[0]["id"].as_str().unwrap();
    let shown = json(&demo.provhost(&["actions", "show", id]));
    let history: Vec<&str> =
        shown["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(history, ["blocked", "pending", "running", "success"]);
    let approver_id = approver.split(':').next().unwrap();
    assert_eq!(shown["history"][1]["message"], format!("approved by API key '{approver_id}'"));
}

fn rejected_actions_end_rejected_and_never_run(mut demo: Demo) {
    demo.configure(&config(ALL, "[[tenants.demo.thresholds]]\nsystem = \"*\"\nkind = \"update\"\npercent = 15\n"));
    let (report, _) = run(&demo, &[]);
    let blocked: Vec<String> = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "blocked")
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    // One update is 16.7% of the 6 entitlements of topdesk and of afas-hr, 8.3% of exchange-online's 12.
    assert_eq!(blocked.len(), 2, "{report}");
    let mut args = vec!["actions", "reject", "--api-key", demo.key.as_str()];
    args.extend(blocked.iter().map(String::as_str));
    let out = demo.provhost(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(json(&out).as_array().unwrap().iter().all(|a| a["state"] == "rejected"));
    let again = demo.provhost(&["actions", "approve", "--api-key", &demo.key, &blocked[0]]);
    assert!(stderr(&again).contains("is rejected, not blocked; nothing was decided"), "{}", stderr(&again));
}

fn a_window_budget_is_shared_by_separate_processes(mut demo: Demo) {
    demo.configure(&config(
        ALL,
        "[[tenants.demo.windows]]\nsystem = \"exchange-online\"\nkind = \"update\"\nmax = 1\nper = \"1h\"\n",
    ));
    let (first, _) = run(&demo, &[]);
    assert_eq!(
        first["actions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == "update" && a["system"] == "exchange-online")
            .count(),
        1
    );
    let (second, out) = run(&demo, &[]);
    assert!(out.status.success());
    let refused = refusals(&second);
    let window: Vec<&(String, String)> = refused.iter().filter(|(d, _)| d == "threshold-exceeded").collect();
    assert_eq!(window.len(), 1, "{refused:?}");
    assert!(window[0].1.contains("the budget of 1 update actions on 'exchange-online' per 1h is used up (1 committed in the window, 0 planned now)"));
}

fn a_dry_run_shows_what_a_real_run_then_does(mut demo: Demo) {
    demo.configure(&config(
        ALL,
        "[[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncount = 2\n\
         [tenants.demo.exclusions]\nsystems = [\"afas-hr\"]\n",
    ));
    let before = demo.actions();
    let (dry, out) = run(&demo, &["--dry-run"]);
    assert!(out.status.success());
    assert_eq!(demo.actions(), before, "a dry run commits no action");
    let (real, _) = run(&demo, &[]);
    assert_eq!(planned(&dry), planned(&real));
    assert_eq!(refusals(&dry), refusals(&real));
    assert!(planned(&real).iter().any(|p| p.3 == "blocked"));
}

fn a_plugin_file_that_does_not_match_its_pin_is_refused(mut demo: Demo) {
    let original = std::fs::read(plugin("propagate-mail")).unwrap();
    let copy = demo.dir.path().join("propagate-mail.wasm");
    let mut tampered = original.clone();
    tampered.extend_from_slice(b"\0\x07\x06extra!");
    std::fs::write(&copy, &tampered).unwrap();
    let pin = json(&demo.run("propagate-mail", &mail_changed(), &["--dry-run"]))["plugin"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    demo.configure(&format!(
        "[tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\nsha256 = \"{pin}\"\ncapabilities = [\"persons:read\"]\n",
        copy.display()
    ));
    let out = demo.run_as(&demo.key, "propagate-mail", &mail_changed(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("but the configuration pins {pin}")), "{err}");

    std::fs::write(&copy, &original).unwrap();
    let out = demo.run_as(&demo.key, "propagate-mail", &mail_changed(), &["--dry-run"]);
    assert!(out.status.success(), "the untampered file runs: {}", stderr(&out));
}

fn a_broken_configuration_stops_provhost_with_file_and_line(mut demo: Demo) {
    demo.configure(&config(
        ALL,
        "[[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncuont = 2\n",
    ));
    let out = demo.provhost(&["persons", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("provhost.toml:9:1: unknown field `cuont`, expected one of `system`, `kind`, `count`, `percent`"),
        "{err}"
    );
}

fn a_key_never_reaches_another_tenants_data(demo: Demo) {
    assert!(demo.provhost(&["init", "--tenant", "fabrikam", "--empty"]).status.success());
    let other = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let component = plugin("propagate-mail");
    let out = demo.run_as(&other, component.to_str().unwrap(), &mail_changed(), &[]);
    assert!(stderr(&out).contains("who is not in tenant 'fabrikam'"), "{}", stderr(&out));

    let failed = demo.actions().into_iter().find(|a| a["state"] == "error").unwrap();
    let event = demo.event("failed.json", &json!({"type": "action-failed", "action": failed["id"]}));
    let out = demo.run_as(&other, component.to_str().unwrap(), &event, &[]);
    assert!(stderr(&out).contains("not found in tenant 'fabrikam'"), "{}", stderr(&out));
}

fn revoked_keys_stop_working(demo: Demo) {
    let key = demo.key_with(&["events:submit", "persons:read"]);
    let id = key.split(':').next().unwrap();
    assert!(demo.provhost(&["keys", "revoke", id]).status.success());
    let component = plugin("propagate-mail");
    let out = demo.run_as(&key, component.to_str().unwrap(), &mail_changed(), &[]);
    assert!(stderr(&out).contains(&format!("API key '{id}' was revoked at")), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&demo.provhost(&["keys", "list"]).stdout).into_owned();
    assert!(listed.contains(id) && !listed.contains(key.split(':').nth(1).unwrap()), "keys list never shows secrets");
}

fn approving_on_the_command_line_notifies_the_webhooks(mut demo: Demo) {
    let receiver = support::server::Receiver::start(&[200]);
    demo.configure(&config(
        ALL,
        &format!(
            "[[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncount = 2\n\
             [[tenants.demo.webhooks]]\nurl = \"{}\"\nsecret = \"a-secret-of-twenty-chars\"\n\
             filter = \"$.accountRequests[?@.source.id == 'exchange-online' && @.provisioningResult == 'SUCCESS']\"\n",
            receiver.url
        ),
    ));
    let (report, out) = run(&demo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(report["actions"].as_array().unwrap().iter().any(|a| a["state"] == "blocked"), "{report}");
    let deliver = || {
        let out = demo.provhost(&["deliver-webhooks"]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    deliver();
    let before = receiver.received.lock().unwrap().len();
    let out = approve_exchange_grants(&demo, &demo.key);
    assert!(out.status.success(), "{}", stderr(&out));
    deliver();
    let got = receiver.wait_for(before + 1, std::time::Duration::from_secs(30));
    assert_eq!(got.len(), before + 1, "the approval's outcome was notified");
    assert!(got[before].body.contains("exchange-online"), "{}", got[before].body);
}

/// `provhost actions approve --system exchange-online --kind grant` under `key`.
fn approve_exchange_grants(demo: &Demo, key: &str) -> std::process::Output {
    demo.provhost(&["actions", "approve", "--system", "exchange-online", "--kind", "grant", "--api-key", key])
}

/// The ids of the run's blocked actions.
fn blocked_ids(report: &Value) -> Vec<String> {
    let actions = report["actions"].as_array().unwrap();
    actions.iter().filter(|a| a["state"] == "blocked").map(|a| a["id"].as_str().unwrap().to_owned()).collect()
}

const EXCHANGE_GRANTS_BLOCKED: &str =
    "[[tenants.demo.thresholds]]\nsystem = \"exchange-online\"\nkind = \"grant\"\ncount = 2\n";

fn under_four_eyes_the_key_that_caused_a_block_cannot_approve_it(mut demo: Demo) {
    demo.configure(&config(ALL, &format!("{EXCHANGE_GRANTS_BLOCKED}[tenants.demo.approvals]\nfour-eyes = true\n")));
    let (report, out) = run(&demo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let blocked = blocked_ids(&report);
    assert_eq!(blocked.len(), 2, "{report}");
    // The demo key ran the event that caused the block, and holds actions:approve.
    let own = approve_exchange_grants(&demo, &demo.key);
    assert!(!own.status.success());
    assert!(stderr(&own).contains("four eyes: API key"), "{}", stderr(&own));
    let still = json(&demo.provhost(&["actions", "blocked"]));
    assert_eq!(still.as_array().unwrap().len(), 2, "nothing was decided");
    let refused = json(&demo.provhost(&["audit", "list", "--kind", "approval", "--format", "json"]));
    let refused = refused.as_array().unwrap();
    assert!(refused.iter().any(|r| r["decision"] == "forbidden"), "the refused approval is on record: {refused:#?}");
    let approver = demo.key_with(&["actions:approve"]);
    let out = approve_exchange_grants(&demo, &approver);
    assert!(out.status.success(), "another key approves: {}", stderr(&out));
    assert!(json(&out).as_array().unwrap().iter().all(|a| a["state"] == "success"));
}

fn an_exclusion_added_after_a_block_refuses_its_approval(mut demo: Demo) {
    demo.configure(&config(ALL, EXCHANGE_GRANTS_BLOCKED));
    let (report, out) = run(&demo, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(blocked_ids(&report).len(), 2, "{report}");
    for exclusion in [
        "[tenants.demo.exclusions]\nsystems = [\"exchange-online\"]\n".to_string(),
        format!("[tenants.demo.exclusions]\npersons = [\"{JAN}\"]\n"),
    ] {
        demo.configure(&config(ALL, &format!("{EXCHANGE_GRANTS_BLOCKED}{exclusion}")));
        let out = approve_exchange_grants(&demo, &demo.key);
        assert!(!out.status.success(), "approved despite {exclusion}");
        assert!(stderr(&out).contains("excluded: action"), "{}", stderr(&out));
        assert_eq!(json(&demo.provhost(&["actions", "blocked"])).as_array().unwrap().len(), 2);
    }
    let refusals = json(&demo.provhost(&["audit", "list", "--kind", "approval", "--format", "json"]));
    let excluded = refusals.as_array().unwrap().iter().filter(|r| r["decision"] == "excluded").count();
    assert_eq!(excluded, 2, "each refused approval is on record");
    demo.configure(&config(ALL, EXCHANGE_GRANTS_BLOCKED));
    let out = approve_exchange_grants(&demo, &demo.key);
    assert!(out.status.success(), "without the exclusion it is approved: {}", stderr(&out));
}
