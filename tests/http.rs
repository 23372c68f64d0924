//! The HTTP service end to end: a real `provhost serve` on 127.0.0.1 with an ephemeral port and a
//! reqwest client — every endpoint, authentication and tenancy, governance on the targeted
//! endpoints, idempotency across a restart, SailPoint's published payloads, signed webhook
//! deliveries with retries and dead-lettering, malformed requests, and graceful shutdown.

mod support;

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use support::server::{Receiver, Server};
use support::{Demo, JAN, mail_changed, plugin, stderr};

const WILLIAM: &str = "2c91808568c529c60168cca6f90c1313";

fn config(extra: &str) -> String {
    format!(
        r#"
[tenants.demo.plugins.propagate-mail]
component = "{}"
capabilities = ["persons:read", "accounts:update", "entitlements:re-enforce", "actions:retry"]
triggers = {{ events = ["attribute-changed"], attributes = ["mail", "proxyAddresses", "userPrincipalName"] }}

[tenants.demo.plugins.slow]
component = "{}"
capabilities = ["persons:read", "accounts:update"]
triggers = {{ events = ["attribute-changed"], attributes = ["slowAttribute"] }}
config = {{ mode = "slow" }}

[tenants.demo.plugins.quiet]
component = "{}"
capabilities = ["persons:read"]
triggers = {{ events = ["provisioning-completed"] }}
{extra}
"#,
        plugin("propagate-mail").display(),
        plugin("misbehave").display(),
        plugin("misbehave").display(),
    )
}

fn demo(extra: &str) -> Demo {
    let mut demo = Demo::new();
    demo.configure(&config(extra));
    demo
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

fn auth(request: RequestBuilder, key: &str) -> RequestBuilder {
    let (id, secret) = key.split_once(':').unwrap();
    request.basic_auth(id, Some(secret))
}

fn body(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, kind, value)
}

/// Posts an event and holds the answer until its actions end (`Prefer: wait`).
fn post_event(server: &Server, key: &str, event: &Value) -> (u16, String, Value) {
    body(auth(client().post(server.url("/v1/events")), key).header("prefer", "wait=10").json(event).send().unwrap())
}

/// `/metrics` under `key`, as text.
fn metrics_text(server: &Server, key: &str) -> String {
    let response = auth(client().get(server.url("/metrics")), key).send().unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    response.text().unwrap()
}

/// `/metrics` under `key`, parsed by a Prometheus text-format parser.
fn scrape(server: &Server, key: &str) -> prometheus_parse::Scrape {
    let text = metrics_text(server, key);
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn mail_event() -> Value {
    serde_json::from_str(&std::fs::read_to_string(mail_changed()).unwrap()).unwrap()
}

#[test]
fn events_run_through_matching_plugins_and_the_reads_show_the_result() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let (status, _, result) = post_event(&server, &demo.key, &mail_event());
    assert_eq!(status, 200, "{result}");
    let invocations = result["invocations"].as_array().unwrap();
    assert_eq!(invocations.len(), 1, "only propagate-mail is triggered by a mail change");
    assert_eq!(invocations[0]["plugin"]["name"], "propagate-mail");
    assert_eq!(invocations[0]["committed"], true);
    assert_eq!(invocations[0]["actions"].as_array().unwrap().len(), 7);

    let get = |path: &str| body(auth(client().get(server.url(path)), &demo.key).send().unwrap());
    let (s, _, persons) = get("/v1/persons?limit=2");
    assert_eq!((s, persons["items"].as_array().unwrap().len(), persons["next_offset"].clone()), (200, 2, json!(2)));
    let (_, _, last) = get("/v1/persons?limit=2&offset=4");
    assert_eq!((last["items"].as_array().unwrap().len(), last["next_offset"].clone()), (2, Value::Null));
    assert_eq!(get(&format!("/v1/persons/{JAN}")).2["display_name"], "Jan Jansen");
    assert_eq!(get(&format!("/v1/persons/{JAN}/entitlements")).2["items"].as_array().unwrap().len(), 6);
    assert_eq!(get(&format!("/v1/persons/{JAN}/accounts")).2["items"].as_array().unwrap().len(), 4);
    let (_, _, updates) = get(&format!("/v1/actions?person={JAN}&state=success&system=exchange-online"));
    assert_eq!(updates["items"].as_array().unwrap().len(), 3);
    let id = updates["items"][0]["id"].as_str().unwrap();
    let (_, _, one) = get(&format!("/v1/actions/{id}"));
    assert_eq!(one["history"].as_array().unwrap().len(), 3);
    let (_, _, trail) = get(&format!("/v1/audit?action={id}"));
    assert!(
        trail["items"].as_array().unwrap().iter().any(|r| r["kind"] == "invocation" && r["details"]["plan"].is_array())
    );
    let metrics = scrape(&server, &demo.key);
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let found = metrics
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)));
        match found.unwrap_or_else(|| panic!("no sample {name} {labels:?}")).value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => buckets.last().map_or(0.0, |b| b.count),
            ref other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(value("provhost_events_total", &[]), 1.0);
    assert_eq!(value("provhost_invocations_total", &[("outcome", "completed")]), 1.0);
    assert_eq!(value("provhost_actions_total", &[("state", "success")]), 7.0);
    let run = [("tenant", "demo"), ("plugin", "propagate-mail"), ("outcome", "completed")];
    assert_eq!(value("provhost_invocation_duration_seconds", &run), 1.0, "one invocation in the histogram");
    let posted = [("method", "POST"), ("route", "/v1/events"), ("status", "200")];
    assert_eq!(value("provhost_request_duration_seconds", &posted), 1.0, "the event's request, by its route");
    // The parser drops samples whose label values hold braces; the route's name is checked as text.
    let text = metrics_text(&server, &demo.key);
    assert!(text.contains(r#"route="/v1/persons/{personId}""#), "a route, never the raw path: {text}");
    assert!(!text.contains(JAN), "no id ever becomes a label");
    let (commits, changes) = (value("provhost_store_commits_total", &[]), value("provhost_store_changes_total", &[]));
    assert!(commits >= 1.0 && changes >= commits, "{commits} commits holding {changes} changes");
    assert_eq!(body(client().get(server.url("/healthz")).send().unwrap()).0, 200);
    let (_, _, ready) = body(auth(client().get(server.url("/readyz")), &demo.key).send().unwrap());
    assert_eq!(ready["plugins"].as_array().unwrap().len(), 3);
    let (_, _, anonymous) = body(client().get(server.url("/readyz")).send().unwrap());
    assert_eq!(anonymous, json!({"status": "ready"}), "an anonymous caller learns nothing of tenants or plugins");
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn metrics_take_a_key_granted_metrics_read_and_show_only_its_own_tenant() {
    let mut demo = Demo::new();
    let base = config("");
    demo.configure(&format!("{base}\n[tenants.fabrikam]\n"));
    let init = demo.provhost(&["init", "--tenant", "fabrikam", "--demo-data"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let fabrikam = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let server = Server::start(&demo, &[]);
    assert_eq!(post_event(&server, &demo.key, &mail_event()).0, 200);

    let (status, kind, problem) = body(client().get(server.url("/metrics")).send().unwrap());
    assert_eq!((status, kind.as_str()), (401, "application/problem+json"), "{problem}");
    let reader = demo.key_with(&["persons:read"]);
    let (status, _, problem) = body(auth(client().get(server.url("/metrics")), &reader).send().unwrap());
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("metrics:read"), "{problem}");

    let own = metrics_text(&server, &demo.key);
    assert!(own.contains(r#"tenant="demo""#) && own.contains("propagate-mail"), "{own}");
    let other = metrics_text(&server, &fabrikam);
    assert!(other.contains("provhost_events_total"), "the host's totals: {other}");
    assert!(!other.contains("demo") && !other.contains("propagate-mail"), "another tenant's names: {other}");
    assert_eq!(server.stop().code(), Some(0));

    let anonymous = Server::start(&demo, &["--anonymous-metrics"]);
    assert_eq!(post_event(&anonymous, &demo.key, &mail_event()).0, 200);
    let response = client().get(anonymous.url("/metrics")).send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().unwrap();
    assert!(text.contains("provhost_invocations_total"), "{text}");
    assert!(!text.contains("tenant=") && !text.contains("propagate-mail"), "no tenant or plugin name: {text}");
}

#[test]
fn an_event_naming_an_unknown_person_is_refused_even_when_no_plugin_is_triggered() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let mut event = mail_event();
    event["person"] = json!("nobody-here");
    event["changes"][0]["attribute"] = json!("telephoneNumber");
    let (status, _, problem) = post_event(&server, &demo.key, &event);
    assert_eq!(status, 404, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("names person 'nobody-here', who is not in tenant 'demo'"));
    let (status, _, problem) = post_event(&server, &demo.key, &json!({"type": "action-failed", "action": "nope"}));
    assert_eq!(status, 404, "{problem}");
    let audit =
        |query: &str| body(auth(client().get(server.url(&format!("/v1/audit{query}"))), &demo.key).send().unwrap());
    let (status, _, problem) = audit("?since=yesterday");
    assert_eq!(status, 400, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("since: 'yesterday' is not an RFC 3339 time"), "{problem}");
    assert_eq!(audit("?since=2020-01-01T00:00:00%2B02:00").0, 200);
    let (status, _, problem) = audit(&format!("?offset={}&limit=500", usize::MAX));
    assert_eq!(status, 400, "{problem}");
}

#[test]
fn async_events_answer_202_with_a_status_url() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let response = auth(client().post(server.url("/v1/events")), &demo.key)
        .header("Prefer", "respond-async")
        .json(&mail_event())
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let done = loop {
        let (_, _, status) = body(auth(client().get(server.url(&location)), &demo.key).send().unwrap());
        if status["status"] == "done" {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the event did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["httpStatus"], 200);
    assert_eq!(done["response"]["invocations"][0]["committed"], true);
    let other = demo.key_with(&["events:submit"]);
    assert_eq!(body(auth(client().get(server.url("/v1/events/nope")), &other).send().unwrap()).0, 404);
}

#[test]
fn the_targeted_endpoints_plan_commit_and_audit_like_plugin_calls() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let accounts =
        body(auth(client().get(server.url(&format!("/v1/persons/{JAN}/accounts"))), &demo.key).send().unwrap()).2;
    let exchange =
        accounts["items"].as_array().unwrap().iter().find(|a| a["system"] == "exchange-online").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let entitlements =
        body(auth(client().get(server.url(&format!("/v1/persons/{JAN}/entitlements"))), &demo.key).send().unwrap()).2;
    let permission =
        entitlements["items"].as_array().unwrap().iter().find(|e| e["kind"] == "permission").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let failed = body(auth(client().get(server.url("/v1/actions?state=error")), &demo.key).send().unwrap()).2["items"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let post = |path: String, payload: Option<Value>| {
        let request = auth(client().post(server.url(&path)), &demo.key).header("prefer", "wait=10");
        body(match payload {
            Some(p) => request.json(&p).send().unwrap(),
            None => request.send().unwrap(),
        })
    };
    let (s, _, r) = post(
        format!("/provisioning/persons/{JAN}/entitlements/{permission}/re-enforce"),
        Some(json!({"reason": "group mail changed"})),
    );
    assert_eq!(
        (s, r["actions"][0]["kind"].as_str(), r["actions"][0]["state"].as_str()),
        (200, Some("grant"), Some("success")),
        "{r}"
    );
    assert_eq!(r["actions"][0]["message"].as_str().map(|m| m.contains("granted")), Some(true));
    let (s, _, r) = post(format!("/provisioning/persons/{JAN}/accounts/{exchange}/update"), None);
    assert_eq!((s, r["actions"].as_array().unwrap().len()), (200, 1));
    let (s, _, r) = post(format!("/provisioning/persons/{JAN}/accounts/update"), Some(json!({"dryRun": true})));
    assert_eq!((s, r["actions"].as_array().unwrap().len()), (200, 4));
    assert!(r["actions"].as_array().unwrap().iter().all(|a| a["state"] == "pending"), "a dry run commits nothing");
    let (s, _, r) = post(format!("/provisioning/entitlement-actions/{failed}/retry"), None);
    assert_eq!((s, r["actions"][0]["origin"].as_str()), (200, Some("manual retry")));
    let (s, kind, problem) = post(format!("/provisioning/entitlement-actions/{failed}/retry"), None);
    assert_eq!((s, kind.as_str(), problem["code"].as_str()), (409, "application/problem+json", Some("conflict")));
    assert!(problem["detail"].as_str().unwrap().contains("was already retried by action"), "{problem}");
    let (s, _, r) = post(format!("/provisioning/persons/{JAN}/entitlements/{permission}/unmanage"), None);
    assert_eq!((s, r["actions"][0]["kind"].as_str()), (200, Some("unmanage")));
    let (s, _, problem) = post(format!("/provisioning/persons/{JAN}/entitlements/{permission}/re-enforce"), None);
    assert_eq!((s, problem["code"].as_str()), (422, Some("invalid")), "{problem}");

    let (_, _, audit) =
        body(auth(client().get(server.url("/v1/audit?kind=invocation&limit=500")), &demo.key).send().unwrap());
    let requests: Vec<&Value> = audit["items"].as_array().unwrap().iter().filter(|r| r["plugin"] == "api").collect();
    assert_eq!(requests.len(), 7, "every request, allowed or refused, has its record");
    assert!(requests.iter().any(|r| r["decision"] == "conflict"));
}

#[test]
fn the_targeted_endpoints_honour_scope_exclusions_and_thresholds() {
    let demo = demo(
        "[[tenants.demo.thresholds]]\nsystem = \"topdesk\"\nkind = \"update\"\ncount = 1\n\
         [tenants.demo.exclusions]\npersons = [\"7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02\"]\n",
    );
    let server = Server::start(&demo, &[]);
    let narrow = demo.key_with(&["persons:read", "accounts:update@exchange-online"]);
    let (s, _, problem) = body(
        auth(client().post(server.url(&format!("/provisioning/persons/{JAN}/accounts/update"))), &narrow)
            .send()
            .unwrap(),
    );
    assert_eq!((s, problem["code"].as_str()), (403, Some("forbidden")));
    assert!(problem["detail"].as_str().unwrap().contains("is not granted accounts:update on system"));

    let (s, _, problem) = body(
        auth(
            client().post(server.url("/provisioning/persons/7a9e2b14-5c3d-4e8f-8b12-6d4a1f0e9c02/accounts/update")),
            &demo.key,
        )
        .send()
        .unwrap(),
    );
    assert_eq!((s, problem["code"].as_str()), (403, Some("excluded")), "{problem}");

    let (s, _, r) = body(
        auth(client().post(server.url(&format!("/provisioning/persons/{JAN}/accounts/update"))), &demo.key)
            .header("prefer", "wait=10")
            .send()
            .unwrap(),
    );
    assert_eq!(s, 200);
    let topdesk: Vec<&Value> = r["actions"].as_array().unwrap().iter().filter(|a| a["system"] == "topdesk").collect();
    assert_eq!(topdesk[0]["state"], "blocked");
    assert!(
        r["actions"].as_array().unwrap().iter().filter(|a| a["system"] != "topdesk").all(|a| a["state"] == "success")
    );

    let (_, _, blocked) = body(auth(client().get(server.url("/v1/actions/blocked")), &demo.key).send().unwrap());
    let id = blocked["items"][0]["id"].as_str().unwrap().to_owned();
    let reader = demo.key_with(&["persons:read"]);
    assert_eq!(
        body(auth(client().post(server.url(&format!("/v1/actions/{id}/approve"))), &reader).send().unwrap()).0,
        403
    );
    let (s, _, approved) =
        body(auth(client().post(server.url(&format!("/v1/actions/{id}/approve"))), &demo.key).send().unwrap());
    assert_eq!((s, approved["actions"][0]["state"].as_str()), (200, Some("success")));
    let (s, _, _) =
        body(auth(client().post(server.url(&format!("/v1/actions/{id}/reject"))), &demo.key).send().unwrap());
    assert_eq!(s, 409, "an approved action cannot be rejected");
}

#[test]
fn credentials_are_required_and_a_key_reaches_only_its_tenant() {
    let demo = demo("\n[tenants.fabrikam]\n");
    for tenant in ["fabrikam", "unconfigured"] {
        assert!(demo.provhost(&["init", "--tenant", tenant, "--empty"]).status.success());
    }
    let other = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    let server = Server::start(&demo, &[]);
    let url = server.url(&format!("/v1/persons/{JAN}"));

    let ungoverned = std::fs::read_to_string(demo.dir.path().join("keys/unconfigured.key")).unwrap();
    let (s, _, problem) = body(auth(client().get(&url), ungoverned.trim()).send().unwrap());
    assert_eq!(s, 403, "a key whose tenant the configuration does not name is refused: {problem}");
    assert!(problem["detail"].as_str().unwrap().starts_with("tenant 'unconfigured' is not in the configuration"));

    let response = client().get(&url).send().unwrap();
    assert_eq!(response.headers()["www-authenticate"].to_str().unwrap(), r#"Basic realm="provhost", Bearer"#);
    assert_eq!(body(response).0, 401);
    let (id, secret) = demo.key.split_once(':').unwrap();
    assert_eq!(body(client().get(&url).basic_auth(id, Some("wrong")).send().unwrap()).0, 401);
    assert_eq!(body(client().get(&url).header("Authorization", "Digest abc").send().unwrap()).0, 401);
    assert_eq!(body(client().get(&url).bearer_auth(format!("{id}.{secret}")).send().unwrap()).0, 200);

    let (s, _, problem) = body(auth(client().get(&url), &other).send().unwrap());
    assert_eq!(s, 404, "another tenant's person does not exist for this key");
    assert!(problem["detail"].as_str().unwrap().contains("not found in tenant 'fabrikam'"));
    let failed = body(auth(client().get(server.url("/v1/actions?state=error")), &demo.key).send().unwrap()).2["items"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _, _) = body(
        auth(client().post(server.url(&format!("/provisioning/entitlement-actions/{failed}/retry"))), &other)
            .send()
            .unwrap(),
    );
    assert_eq!(s, 404);
    let (_, _, still) =
        body(auth(client().get(server.url(&format!("/v1/actions/{failed}"))), &demo.key).send().unwrap());
    assert_eq!(still["state"], "error");
    let no_audit = demo.key_with(&["persons:read"]);
    assert_eq!(body(auth(client().get(server.url("/v1/audit")), &no_audit).send().unwrap()).0, 403);
}

#[test]
fn an_idempotency_key_replays_the_first_response_even_after_a_restart() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let send = |server: &Server, event: &Value| {
        auth(client().post(server.url("/v1/events")), &demo.key)
            .header("Idempotency-Key", "change-42")
            .json(event)
            .send()
            .unwrap()
    };
    let first = send(&server, &mail_event());
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = body(first).2;
    assert_eq!(server.stop().code(), Some(0));
    let actions = demo.actions().len();

    let server = Server::start(&demo, &[]);
    let again = send(&server, &mail_event());
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).2, first, "the same response");
    assert_eq!(demo.actions().len(), actions, "nothing ran again");
    let mut changed = mail_event();
    changed["source"] = json!("another workflow");
    let (s, _, problem) = body(send(&server, &changed));
    assert_eq!((s, problem["type"].as_str()), (422, Some("/problems/idempotency-key-reused")));
    assert_eq!(server.stop().code(), Some(0));

    // Two days on, the key is forgotten by the server's upkeep: the changed request runs as new.
    let db = rusqlite::Connection::open(demo.dir.path().join("provhost.db")).unwrap();
    db.execute("UPDATE requests SET created_at = '2020-01-01T00:00:00.000Z'", []).unwrap();
    let server = Server::start(&demo, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _, answer) = body(send(&server, &changed));
        if s == 200 {
            break;
        }
        assert_eq!(s, 422, "{answer}");
        assert!(std::time::Instant::now() < deadline, "the aged key was never forgotten");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sailpoint_trigger_payloads_are_accepted_as_published() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let provisioning: Value = serde_json::from_str(
        &std::fs::read_to_string(support::repo().join("examples/events/sailpoint-provisioning-completed.json"))
            .unwrap(),
    )
    .unwrap();
    let (s, _, r) = post_event(&server, &demo.key, &provisioning);
    assert_eq!((s, r["event"].as_str()), (200, Some("provisioning-completed")), "{r}");
    assert_eq!(r["invocations"][0]["plugin"]["name"], "quiet");
    assert_eq!(r["invocations"][0]["committed"], true);

    let identity = json!({"identity": {"type": "IDENTITY", "id": "2c7180a46faadee4016fb4e018c20642", "name": "Michael Michaels"},
        "changes": [{"attribute": "mail", "oldValue": "michael.michaels@contoso.example", "newValue": "m.michaels@contoso.example"}]});
    let (s, _, r) = post_event(&server, &demo.key, &identity);
    assert_eq!((s, r["event"].as_str()), (200, Some("attribute-changed")), "{r}");
    assert_eq!(r["invocations"][0]["outcome"]["summary"], "ignored: change in identity, not active-directory");

    let account = json!({"identity": {"type": "IDENTITY", "id": WILLIAM, "name": "William Wilson"},
        "source": {"id": "active-directory", "type": "SOURCE", "name": "Corporate Active Directory"},
        "account": {"id": "52170a74-ca89-11ea-87d0-0242ac130003", "uuid": "1cb1f07d-3e5a-4431-becd-234fa4306108",
                    "name": "william.wilson", "nativeIdentity": "cn=william.wilson,ou=users,dc=acme,dc=com", "type": "ACCOUNT"},
        "changes": [{"attribute": "proxyAddresses", "oldValue": ["SMTP:william.wilson@contoso.example"], "newValue": ["SMTP:w.wilson@contoso.example"]}]});
    let (s, _, r) = post_event(&server, &demo.key, &account);
    assert_eq!(s, 200, "{r}");
    assert!(r["invocations"][0]["actions"].as_array().unwrap().len() >= 3, "{r}");
}

#[test]
fn malformed_requests_are_answered_4xx_with_problem_details() {
    let demo = demo("");
    let server = Server::start(&demo, &["--max-body", "4096"]);
    let event = server.url("/v1/events");
    let cases: Vec<(&str, RequestBuilder, u16)> = vec![
        ("malformed JSON", auth(client().post(&event), &demo.key).header("content-type", "application/json").body("{not json"), 400),
        ("wrong type", auth(client().post(&event), &demo.key).json(&json!({"type": "attribute-changed", "person": 7})), 422),
        ("unknown event type", auth(client().post(&event), &demo.key).json(&json!({"type": "birthday"})), 422),
        ("not JSON at all", auth(client().post(&event), &demo.key).header("content-type", "text/plain").body("hello"), 415),
        ("oversized", auth(client().post(&event), &demo.key).header("content-type", "application/json").body(format!("\"{}\"", "x".repeat(10_000))), 413),
        ("unknown person", auth(client().post(&event), &demo.key).json(&json!({"type": "attribute-changed", "person": "nobody", "system": "active-directory", "changes": [{"attribute": "mail"}]})), 404),
        ("unknown route", auth(client().get(server.url("/v2/nothing")), &demo.key), 404),
        ("wrong method", auth(client().delete(server.url("/v1/persons")), &demo.key), 405),
        ("bad paging", auth(client().get(server.url("/v1/persons?limit=0")), &demo.key), 400),
        ("unknown query field", auth(client().get(server.url("/v1/actions?colour=red")), &demo.key), 400),
        ("bad state", auth(client().get(server.url("/v1/actions?state=sleeping")), &demo.key), 400),
        ("unknown action", auth(client().post(server.url("/provisioning/entitlement-actions/nope/retry")), &demo.key), 404),
        ("unknown body field", auth(client().post(server.url(&format!("/provisioning/persons/{JAN}/accounts/update"))), &demo.key).json(&json!({"reasn": "x"})), 422),
        ("no credentials", client().post(&event).json(&mail_event()), 401),
    ];
    for (name, request, expected) in cases {
        let response = request.send().unwrap();
        let (status, kind, problem) = body(response);
        assert_eq!(status, expected, "{name}: {problem}");
        assert_eq!(kind, "application/problem+json", "{name}");
        assert_eq!(problem["status"], expected, "{name}");
        assert!(!problem["detail"].as_str().unwrap_or("").is_empty(), "{name}: a detail a person can act on");
    }
}

/// The `X-Provhost-Signature` a receiver expects for `body` under `secret` at `t`, computed as
/// docs/http.md tells a receiver to, with the `hmac` crate rather than provhost's own code:
/// `t=<t>,v1=<hex of HMAC-SHA256(secret, "<t>.<body>")>`.
fn expected_signature(secret: &str, t: i64, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn the_expected_signature_agrees_with_one_computed_by_python() {
    // python3 -c 'import hmac, hashlib; print(hmac.new(b"a-secret-of-twenty-chars",
    //     b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest())'
    const PYTHON: &str = "7c745ae3a9ca87a281c9c9e3f17922d8486cff3ea78e98e635754bc34fdb572f";
    let signature = expected_signature("a-secret-of-twenty-chars", 1_700_000_000, r#"{"a":1}"#);
    assert_eq!(signature, format!("t=1700000000,v1={PYTHON}"));
}

#[test]
fn notifications_are_signed_retried_and_dead_lettered() {
    let flaky = Receiver::start(&[500, 500, 200]);
    let dead = Receiver::start(&[500]);
    let demo = demo(&format!(
        "[[tenants.demo.webhooks]]\nurl = \"{}\"\nsecret = \"a-secret-of-twenty-chars\"\nmax-attempts = 3\nretry-base-ms = 30\n\
         [[tenants.demo.webhooks]]\nurl = \"{}\"\nsecret = \"another-secret-of-twenty\"\nmax-attempts = 2\nretry-base-ms = 30\n\
         filter = \"$.accountRequests[?@.source.id == 'exchange-online']\"\n",
        flaky.url, dead.url
    ));
    let server = Server::start(&demo, &[]);
    assert_eq!(post_event(&server, &demo.key, &mail_event()).0, 200);

    let got = flaky.wait_for(3, Duration::from_secs(20));
    assert_eq!(got.len(), 3, "two failures, then delivered");
    let last = &got[2];
    assert_eq!(last.header("x-provhost-attempt"), Some("3"));
    let signature = last.header("x-provhost-signature").unwrap();
    let t: i64 = signature.strip_prefix("t=").and_then(|s| s.split(',').next()).and_then(|t| t.parse().ok()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - t).abs() < 300, "the signature's time {t} is the time it was sent, not {now}");
    assert_eq!(signature, expected_signature("a-secret-of-twenty-chars", t, &last.body), "the signature verifies");
    let payload: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(payload["recipient"]["id"], JAN);
    assert_eq!(payload["accountRequests"].as_array().unwrap().len(), 7);
    assert!(payload["accountRequests"].as_array().unwrap().iter().all(|r| r["provisioningResult"] == "SUCCESS"));

    assert_eq!(dead.wait_for(2, Duration::from_secs(20)).len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let dead_letters = loop {
        let (_, _, list) =
            body(auth(client().get(server.url("/v1/webhooks/deliveries?status=dead")), &demo.key).send().unwrap());
        if !list["items"].as_array().unwrap().is_empty() || std::time::Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let letter = &dead_letters["items"][0];
    assert_eq!((letter["attempts"].as_u64(), letter["url"].as_str()), (Some(2), Some(dead.url.as_str())));
    assert!(letter["last_error"].as_str().unwrap().contains("500"));

    dead.answer(200);
    let id = letter["id"].as_str().unwrap();
    let (s, _, _) = body(
        auth(client().post(server.url(&format!("/v1/webhooks/deliveries/{id}/redrive"))), &demo.key).send().unwrap(),
    );
    assert_eq!(s, 200);
    assert_eq!(dead.wait_for(3, Duration::from_secs(30)).len(), 3, "re-driven and delivered");
}

/// How many events the server has received, from its metrics.
fn events_received(server: &Server, key: &str) -> u64 {
    let text = auth(client().get(server.url("/metrics")), key).send().unwrap().text().unwrap();
    let line = text.lines().find_map(|l| l.strip_prefix("provhost_events_total ")).expect("the events counter");
    line.trim().parse().unwrap()
}

#[test]
fn sigterm_during_a_slow_plugin_lets_it_finish_and_commit() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let before = demo.actions().len();
    let url = server.url("/v1/events");
    let key = demo.key.clone();
    let slow = json!({"type": "attribute-changed", "person": JAN, "system": "active-directory", "source": "test",
                      "changes": [{"attribute": "slowAttribute", "newValues": ["x"]}]});
    let request = std::thread::spawn(move || body(auth(client().post(url), &key).json(&slow).send().unwrap()));
    // The event is in: its slow plugin (1.5 s) runs when SIGTERM arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while events_received(&server, &demo.key) == 0 {
        assert!(std::time::Instant::now() < deadline, "the event never reached the server");
        std::thread::sleep(Duration::from_millis(10));
    }
    let base = server.base.clone();
    let status = server.stop();
    let (s, _, r) = request.join().unwrap();
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["invocations"][0]["committed"], true);
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert_eq!(demo.actions().len(), before + 4, "the slow plugin's plan committed whole");
    assert!(client().get(format!("{base}/healthz")).send().is_err(), "no longer accepting");
    let log = demo.provhost(&["audit", "verify"]);
    assert!(log.status.success(), "{}", stderr(&log));
}

#[test]
fn sigterm_sent_as_soon_as_the_server_listens_is_a_clean_stop() {
    let demo = demo("");
    for _ in 0..5 {
        let server = Server::start(&demo, &[]);
        assert_eq!(server.stop().code(), Some(0), "a stop sent at once is a graceful one, not the signal's kill");
    }
}

#[test]
fn an_idempotency_key_whose_caller_disconnected_still_gets_its_answer_and_only_for_its_key() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let slow = json!({"type": "attribute-changed", "person": JAN, "system": "active-directory", "source": "test",
                      "changes": [{"attribute": "slowAttribute", "newValues": ["x"]}]});
    // It hangs up after 1 s: its request is in by then, and the plugin sleeps 1.5 s.
    let impatient = Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    let sent = auth(impatient.post(server.url("/v1/events")), &demo.key)
        .header("Idempotency-Key", "hang-up-1")
        .json(&slow)
        .send();
    assert!(sent.is_err(), "the caller hangs up before the slow plugin ends");
    // Sent again while the first still runs, it is answered 409; once that ends, its answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let again = loop {
        let again = auth(client().post(server.url("/v1/events")), &demo.key)
            .header("Idempotency-Key", "hang-up-1")
            .json(&slow)
            .send()
            .unwrap();
        if again.status().as_u16() != 409 {
            break again;
        }
        let (_, _, problem) = body(again);
        assert_eq!(problem["type"], "/problems/request-in-progress", "{problem}");
        assert!(std::time::Instant::now() < deadline, "the first request never ended");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let (s, _, r) = body(again);
    assert_eq!(s, 200, "the repeat gets the answer the first request ended with, not 409: {r}");
    assert_eq!(r["invocations"][0]["committed"], true);

    let other = demo.key_with(&["events:submit", "persons:read"]);
    let (s, _, problem) = body(
        auth(client().post(server.url("/v1/events")), &other)
            .header("Idempotency-Key", "hang-up-1")
            .json(&slow)
            .send()
            .unwrap(),
    );
    assert_eq!(
        (s, problem["type"].as_str()),
        (422, Some("/problems/idempotency-key-reused")),
        "never replayed to another key"
    );
}

#[test]
fn the_targeted_endpoints_take_an_idempotency_key() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let url = server.url(&format!("/provisioning/persons/{JAN}/accounts/update"));
    let send = |reason: &str| {
        auth(client().post(&url), &demo.key)
            .header("Idempotency-Key", "update-jan-1")
            .json(&json!({"reason": reason}))
            .send()
            .unwrap()
    };
    let before = demo.actions().len();
    let first = send("mail changed");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = body(first).2;
    assert_eq!(first["actions"].as_array().unwrap().len(), 4);
    let again = send("mail changed");
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).2, first);
    assert_eq!(demo.actions().len(), before + 4, "the accounts were updated once");
    let (s, _, problem) = body(send("another reason"));
    assert_eq!((s, problem["type"].as_str()), (422, Some("/problems/idempotency-key-reused")));
}

#[test]
fn an_event_is_answered_at_commit_and_its_actions_are_carried_out_after() {
    let demo = demo("");
    let server = Server::start(&demo, &[]);
    let (status, _, result) =
        body(auth(client().post(server.url("/v1/events")), &demo.key).json(&mail_event()).send().unwrap());
    assert_eq!(status, 200, "{result}");
    let actions = result["invocations"][0]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 7);
    assert!(actions.iter().all(|a| a["state"] == "pending"), "answered at commit, before execution: {result}");
    let id = actions[0]["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let ended = loop {
        let (_, _, one) = body(auth(client().get(server.url(&format!("/v1/actions/{id}"))), &demo.key).send().unwrap());
        if one["state"] != "pending" && one["state"] != "running" {
            break one;
        }
        assert!(std::time::Instant::now() < deadline, "the executor did not carry the action out: {one}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(ended["state"], "success", "{ended}");
    let states: Vec<&str> = ended["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["pending", "running", "success"]);
}

#[test]
fn run_no_wait_commits_and_a_server_on_the_same_data_carries_the_actions_out() {
    let demo = demo("");
    let out = demo.provhost(&[
        "run",
        "--plugin",
        "propagate-mail",
        "--event",
        mail_changed().to_str().unwrap(),
        "--api-key",
        &demo.key,
        "--no-wait",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = report["actions"].as_array().unwrap();
    assert!(!actions.is_empty() && actions.iter().all(|a| a["state"] == "pending"), "{report}");
    let server = Server::start(&demo, &[]);
    let id = actions[0]["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, _, one) = body(auth(client().get(server.url(&format!("/v1/actions/{id}"))), &demo.key).send().unwrap());
        if one["state"] == "success" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server's executor did not take the action up: {one}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn json_logs_carry_the_event_and_invocation_ids_on_every_line() {
    let demo = demo("");
    let server = Server::start_with(&demo, &["--log-format", "json"], &[("PROVHOST_LOG", "info")]);
    let (status, _, result) = body(
        auth(client().post(server.url("/v1/events")), &demo.key)
            .header("x-request-id", "req-from-the-workflow")
            .json(&mail_event())
            .send()
            .unwrap(),
    );
    assert_eq!(status, 200, "{result}");
    let invocation = result["invocations"][0]["invocation"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let line: Value = loop {
        let logs = server.logs.lock().unwrap().clone();
        let ended = logs
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == "invocation ended");
        if let Some(line) = ended {
            break line;
        }
        assert!(std::time::Instant::now() < deadline, "no JSON line says the invocation ended: {logs:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let spans = line["spans"].as_array().unwrap();
    let event = spans.iter().find(|s| s["name"] == "event").unwrap_or_else(|| panic!("no event span: {line}"));
    let run = spans.iter().find(|s| s["name"] == "invocation").expect("the invocation's span");
    let key_id = demo.key.split(':').next().unwrap();
    assert_eq!((event["tenant"].as_str(), event["request_id"].as_str()), (Some("demo"), Some("req-from-the-workflow")));
    assert_eq!(event["key_id"], key_id);
    assert_eq!(
        (run["plugin"].as_str(), run["invocation"].as_str()),
        (Some("propagate-mail"), Some(invocation.as_str()))
    );
    assert_eq!(run["sha256"], result["invocations"][0]["plugin"]["sha256"]);
    assert_eq!((line["level"].as_str(), line["committed"].as_bool()), (Some("INFO"), Some(true)));
    let secret = demo.key.split(':').nth(1).unwrap();
    assert!(server.logs.lock().unwrap().iter().all(|l| !l.contains(secret)), "never a secret in the log");
}

#[test]
fn a_provisioning_completed_runs_the_plugins_of_the_systems_its_sources_map_to() {
    let watcher = format!(
        "[tenants.demo.plugins.ad-completed]\ncomponent = {:?}\ncapabilities = [\"persons:read\"]\n\
         triggers = {{ events = [\"provisioning-completed\"], systems = [\"active-directory\"] }}\n",
        plugin("misbehave").to_str().unwrap()
    );
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(support::repo().join("examples/events/sailpoint-provisioning-completed.json"))
            .unwrap(),
    )
    .unwrap();
    let ran = |extra: &str| -> Vec<String> {
        let demo = demo(extra);
        let server = Server::start(&demo, &[]);
        let (s, _, r) = post_event(&server, &demo.key, &sample);
        assert_eq!(s, 200, "{r}");
        r["invocations"].as_array().unwrap().iter().map(|i| i["plugin"]["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ran(&watcher), ["quiet"], "SailPoint's source names are not provhost systems until mapped");
    let mapped = format!("{watcher}\n[tenants.demo.sources]\n\"Corporate Active Directory\" = \"active-directory\"\n");
    assert_eq!(ran(&mapped), ["ad-completed", "quiet"], "the mapped account request triggers the watcher");
}
