//! SailPoint's triggers end to end through `provhost serve` with `examples/provhost.toml`: each of
//! the three published samples in `examples/events` plans actions; an unmapped source is named; an
//! excluded person's run is refused call by call and still completes; and the event-trigger
//! subscriptions docs/workflows.md shows deliver as SailPoint's trigger service sends them.

mod support;

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use support::server::Server;
use support::{Demo, plugin, repo};

const WILLIAM: &str = "2c91808568c529c60168cca6f90c1313";

/// The demo tenant configured by `examples/provhost.toml`, its components found where
/// `scripts/build-plugins.sh` puts them, with `edit` applied to the configuration's text.
fn example(edit: impl Fn(String) -> String) -> Demo {
    plugin("continue-provisioning"); // builds every example plugin
    let mut demo = Demo::new();
    let text = std::fs::read_to_string(repo().join("examples/provhost.toml")).unwrap();
    demo.configure(&edit(text.replace("../plugins/target", &repo().join("plugins/target").display().to_string())));
    demo
}

fn sample(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo().join("examples/events").join(name)).unwrap()).unwrap()
}

/// Posts `event` as `request` authenticates it, holding the answer until its actions end; the
/// status and the answer.
fn deliver(request: RequestBuilder, event: &Value) -> (u16, Value) {
    let response = request.header("prefer", "wait=10").json(event).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn client() -> Client {
    Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

fn post(server: &Server, key: &str, event: &Value) -> (u16, Value) {
    let (id, secret) = key.split_once(':').unwrap();
    deliver(client().post(server.url("/v1/events")).basic_auth(id, Some(secret)), event)
}

/// Each invocation's plugin with its actions as `kind system origin state`, sorted.
fn plans(answer: &Value) -> Vec<(String, Vec<String>)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    answer["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| {
            assert_eq!(run["committed"], true, "{run}");
            let mut actions: Vec<String> = run["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    format!("{} {} {} {}", text(&a["kind"]), text(&a["system"]), text(&a["origin"]), text(&a["state"]))
                })
                .collect();
            actions.sort();
            (text(&run["plugin"]["name"]), actions)
        })
        .collect()
}

fn plan(plugin: &str, actions: &[&str]) -> Vec<(String, Vec<String>)> {
    vec![(plugin.to_owned(), actions.iter().map(|a| a.to_string()).collect())]
}

#[test]
fn the_example_configuration_plans_actions_for_every_sailpoint_sample() {
    let demo = example(|text| text);
    let server = Server::start(&demo, &[]);

    // Michael Michaels' mail changed in the Active Directory source the tenant maps.
    let (s, r) = post(&server, &demo.key, &sample("sailpoint-account-attributes-changed.json"));
    assert_eq!(s, 200, "{r}");
    let downstream = [
        "grant afas-hr re-enforce success",
        "grant exchange-online re-enforce success",
        "grant exchange-online re-enforce success",
        "grant topdesk re-enforce success",
        "update afas-hr update account success",
        "update exchange-online update account success",
        "update topdesk update account success",
    ];
    assert_eq!(plans(&r), plan("propagate-mail", &downstream), "{r}");

    // His department changed on the identity: every system of his is brought up to date.
    let (s, r) = post(&server, &demo.key, &sample("sailpoint-identity-attributes-changed.json"));
    assert_eq!(s, 200, "{r}");
    let everywhere = [
        "grant active-directory re-enforce success",
        "grant active-directory re-enforce success",
        "grant afas-hr re-enforce success",
        "grant exchange-online re-enforce success",
        "grant exchange-online re-enforce success",
        "grant topdesk re-enforce success",
        "update active-directory update account success",
        "update afas-hr update account success",
        "update exchange-online update account success",
        "update topdesk update account success",
    ];
    assert_eq!(plans(&r), plan("propagate-mail", &everywhere), "{r}");
    assert!(r["invocations"][0]["outcome"]["summary"].as_str().unwrap().contains("department changed"), "{r}");

    // William Wilson was added to a group in Active Directory: what depends on it there is
    // re-enforced, and the run's error, which no failed request accounts for, is noted.
    let (s, r) = post(&server, &demo.key, &sample("sailpoint-provisioning-completed.json"));
    assert_eq!(s, 200, "{r}");
    let dependents = [
        "grant exchange-online re-enforce success",
        "grant exchange-online re-enforce success",
        "grant topdesk re-enforce success",
    ];
    assert_eq!(plans(&r), plan("continue-provisioning", &dependents), "{r}");
    let notes = r["invocations"][0]["audit_notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["is_error"] == true && n["message"].as_str().unwrap().ends_with(": Connector AD Failed")),
        "{r}"
    );
}

#[test]
fn an_unmapped_source_is_named_and_a_source_mapped_by_name_runs() {
    let demo = example(|text| text);
    let server = Server::start(&demo, &[]);
    let account = sample("sailpoint-account-attributes-changed.json");
    let mut elsewhere = account.clone();
    elsewhere["source"] = json!({"id": "0f0f982dddff4267ab12f0f1e72b0f0f", "type": "SOURCE", "name": "Corporate LDAP"});
    let (s, r) = post(&server, &demo.key, &elsewhere);
    assert_eq!((s, r["invocations"].as_array().unwrap().len()), (200, 0), "{r}");
    let note = r["note"].as_str().unwrap();
    assert!(
        note.contains("SailPoint source 'Corporate LDAP' (0f0f982dddff4267ab12f0f1e72b0f0f) is not mapped")
            && note.contains("[tenants.demo.sources]"),
        "{note}"
    );

    let by_name = json!({"identity": account["identity"], "source": {"id": "unknown-id", "type": "SOURCE", "name": "Active Directory"},
        "changes": [{"attribute": "proxyAddresses", "oldValue": ["SMTP:a@contoso.example"], "newValue": ["SMTP:b@contoso.example"]}]});
    let (s, r) = post(&server, &demo.key, &by_name);
    assert_eq!(s, 200, "{r}");
    assert_eq!(plans(&r).len(), 1, "a source mapped by name runs propagate-mail: {r}");
    assert!(!plans(&r)[0].1.is_empty(), "{r}");
}

#[test]
fn an_excluded_persons_run_is_refused_call_by_call_and_still_completes() {
    let demo = example(|text| {
        let excluded = format!("persons = [\"{WILLIAM}\"]");
        assert!(text.contains("persons = []"), "the example configuration lists excluded persons");
        text.replace("persons = []", &excluded)
    });
    let server = Server::start(&demo, &[]);
    let (s, r) = post(&server, &demo.key, &sample("sailpoint-provisioning-completed.json"));
    assert_eq!(s, 200, "{r}");
    let run = &r["invocations"][0];
    assert_eq!(
        (run["plugin"]["name"].as_str(), run["committed"].as_bool()),
        (Some("continue-provisioning"), Some(true))
    );
    assert_eq!(run["actions"], json!([]), "{r}");
    let refused = run["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 3, "each re-enforcement is refused: {r}");
    assert!(
        refused.iter().all(
            |c| c["function"] == provhost::gate::Import::ReEnforceEntitlement.name() && c["decision"] == "excluded"
        ),
        "{r}"
    );
    assert!(
        run["outcome"]["summary"]
            .as_str()
            .unwrap()
            .ends_with("planned 0 retries, 0 re-enforcements; 1 noted; 3 refused"),
        "{r}"
    );
    let warned = run["log"].as_array().unwrap();
    assert_eq!(warned.len(), 3, "{r}");
    assert!(
        warned.iter().all(|l| l["level"] == "warn" && l["message"].as_str().unwrap().contains("refused: excluded: ")),
        "{r}"
    );
}

/// The `json` blocks of docs/workflows.md that are SailPoint event-trigger subscriptions.
fn subscriptions() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("docs/workflows.md")).unwrap();
    let blocks: Vec<&str> = text.split("```json\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    blocks.iter().map(|b| serde_json::from_str::<Value>(b).unwrap()).filter(|b| b.get("triggerId").is_some()).collect()
}

/// The request SailPoint's trigger service sends for a subscription: a POST of the payload to its
/// URL (here, its path on `server`), authenticated as its `httpConfig` says, with the key's parts
/// for the placeholders `KEY_ID` and `SECRET`.
fn as_sailpoint_sends(server: &Server, subscription: &Value, key: &str) -> RequestBuilder {
    let (id, secret) = key.split_once(':').unwrap();
    let fill = |v: &Value| v.as_str().unwrap().replace("KEY_ID", id).replace("SECRET", secret);
    let http = &subscription["httpConfig"];
    let url = http["url"].as_str().unwrap();
    let path = &url[url.find("/v1/").unwrap_or_else(|| panic!("{url} is not provhost's /v1/events"))..];
    let request = client().post(server.url(path));
    match http["httpAuthenticationType"].as_str().unwrap() {
        "BASIC_AUTH" => request
            .basic_auth(fill(&http["basicAuthConfig"]["userName"]), Some(fill(&http["basicAuthConfig"]["password"]))),
        "BEARER_TOKEN" => request.bearer_auth(fill(&http["bearerTokenAuthConfig"]["bearerToken"])),
        other => panic!("provhost needs a key; a subscription with {other} is refused"),
    }
}

#[test]
fn the_subscriptions_in_the_docs_deliver_as_sailpoints_trigger_service_sends() {
    let demo = example(|text| text);
    let server = Server::start(&demo, &[]);
    let subscriptions = subscriptions();
    let kinds: Vec<&str> =
        subscriptions.iter().map(|s| s["httpConfig"]["httpAuthenticationType"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["BASIC_AUTH", "BEARER_TOKEN"], "docs/workflows.md shows both kinds of HTTP auth");
    for subscription in &subscriptions {
        assert_eq!(subscription["type"], "HTTP");
        let payload = match subscription["triggerId"].as_str().unwrap() {
            "idn:post-provisioning" => sample("sailpoint-provisioning-completed.json"),
            "idn:identity-attributes-changed" => sample("sailpoint-identity-attributes-changed.json"),
            "idn:account-attributes-changed" => sample("sailpoint-account-attributes-changed.json"),
            other => panic!("no sample for trigger {other}"),
        };
        let (s, r) = deliver(as_sailpoint_sends(&server, subscription, &demo.key), &payload);
        assert_eq!(s, 200, "{subscription}: {r}");
        assert!(plans(&r).iter().all(|(_, actions)| !actions.is_empty()) && !plans(&r).is_empty(), "{r}");

        // A subscription with a wrong secret is answered 401, and SailPoint does not deliver again.
        let (id, _) = demo.key.split_once(':').unwrap();
        let (s, r) = deliver(as_sailpoint_sends(&server, subscription, &format!("{id}:not-the-secret")), &payload);
        assert_eq!((s, r["status"].as_u64()), (401, Some(401)), "{r}");
    }
}
