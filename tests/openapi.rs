//! The served OpenAPI document against what a real `provhost serve` on 127.0.0.1 does. Every
//! documented route is answered and every route answered is documented; every bound the document
//! states on a parameter or a body field is tried just inside (not refused for it) and just
//! outside (refused with a status and problem type the document lists for that route); every
//! scope the document names is the one the route refuses without; every problem answered on the
//! way is one the document lists. `provhost openapi` prints the document served, and
//! docs/http.md's route table lists the document's routes and scopes.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};
use support::server::Server;
use support::{DEMO_UNRATED, Demo, JAN, json as stdout_json, mail_changed, repo};

/// One documented operation.
struct Operation {
    method: Method,
    path: String,
    spec: Value,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path with its ids filled in: Jan and one of his entitlements and accounts, so that the
    /// requests that pass every check reach the gate.
    fn url(&self, server: &Server, ids: &Ids) -> String {
        let path = self
            .path
            .replace("{personId}", JAN)
            .replace("{entitlementId}", &ids.entitlement)
            .replace("{accountId}", &ids.account)
            .replace("{actionId}", &ids.action)
            .replace("{systemId}", "exchange-online")
            .replace("{requestId}", "no-such-request")
            .replace("{deliveryId}", "no-such-delivery");
        server.url(&path)
    }

    /// The scope the document says the route needs, if any.
    fn scope(&self) -> Option<String> {
        let requirements = self.spec["security"].as_array()?;
        requirements.iter().find_map(|r| r["basic"].as_array()?.first()?.as_str().map(str::to_owned))
    }
}

/// Ids of Jan's records.
struct Ids {
    entitlement: String,
    account: String,
    action: String,
}

struct Contract {
    server: Server,
    demo: Demo,
    spec: Value,
    ids: Ids,
    client: Client,
}

impl Contract {
    fn start() -> Self {
        let mut demo = Demo::new();
        demo.configure(DEMO_UNRATED);
        let server = Server::start(&demo, &[]);
        let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let spec: Value = client.get(server.url("/openapi.json")).send().unwrap().json().unwrap();
        let ids = Ids { entitlement: String::new(), account: String::new(), action: String::new() };
        let mut contract = Contract { server, demo, spec, client, ids };
        let first = |path: &str| contract.get(path)["items"][0].clone();
        let (entitlement, account) =
            (first(&format!("/v1/persons/{JAN}/entitlements")), first(&format!("/v1/persons/{JAN}/accounts")));
        // An action that failed, for the routes that take one (a retry needs a failed action).
        let system = account["system"].as_str().unwrap();
        assert!(contract.demo.provhost(&["systems", "fail", system]).status.success());
        let account = account["id"].as_str().unwrap().to_owned();
        let update = format!("/provisioning/persons/{JAN}/accounts/{account}/update");
        let planned = contract
            .send(contract.auth(contract.client.post(contract.server.url(&update))).header("prefer", "wait=20"));
        assert_eq!(planned.2["actions"][0]["state"], "error", "{}", planned.2);
        let action = planned.2["actions"][0]["id"].as_str().unwrap().to_owned();
        contract.ids = Ids { entitlement: entitlement["id"].as_str().unwrap().to_owned(), account, action };
        contract
    }

    fn auth(&self, request: RequestBuilder) -> RequestBuilder {
        with_key(request, &self.demo.key)
    }

    fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.send(self.auth(self.client.get(self.server.url(path))));
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn send(&self, request: RequestBuilder) -> (u16, String, Value) {
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let text = response.text().unwrap();
        (status, kind, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn operations(&self) -> Vec<Operation> {
        let mut all = Vec::new();
        for (path, item) in self.spec["paths"].as_object().unwrap() {
            for (method, spec) in item.as_object().unwrap() {
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                all.push(Operation { method, path: path.clone(), spec: spec.clone() });
            }
        }
        assert!(all.len() >= 26, "{} operations", all.len());
        all
    }

    /// A schema with its `$ref` followed.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let name = reference.strip_prefix("#/components/schemas/").unwrap();
                &self.spec["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    /// Sends `request` for `operation` and checks that whatever it answers is documented for it:
    /// the status, and for a problem its type. The status and the body.
    fn documented(&self, operation: &Operation, request: RequestBuilder, what: &str) -> (u16, Value) {
        let (status, kind, body) = self.send(request);
        let at = format!("{} ({what})", operation.name());
        let response = &operation.spec["responses"][status.to_string()];
        assert!(response.is_object(), "{at}: answered {status}, which the document does not list: {body}");
        if kind.starts_with("application/problem+json") {
            let types =
                &response["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]["type"]["enum"];
            let listed: Vec<&str> = types.as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            let kind = body["type"].as_str().unwrap_or_default();
            assert!(listed.contains(&kind), "{at}: answered {status} {kind}, the document lists {listed:?}: {body}");
        }
        (status, body)
    }

    /// The request for `operation` with a body that passes every check where it takes one: the
    /// example event (the tenant has no plugin it triggers), or a dry run, so that nothing commits.
    fn request(&self, operation: &Operation, query: &str) -> RequestBuilder {
        self.request_as(operation, query, &self.demo.key)
    }

    /// [`Contract::request`] under `key`.
    fn request_as(&self, operation: &Operation, query: &str, key: &str) -> RequestBuilder {
        let url = format!("{}{query}", operation.url(&self.server, &self.ids));
        let request = with_key(self.client.request(operation.method.clone(), url), key);
        if operation.path == "/v1/events" {
            request.header("content-type", "application/json").body(std::fs::read(mail_changed()).unwrap())
        } else if operation.spec["requestBody"].is_object() {
            request.json(&json!({ "dryRun": true }))
        } else {
            request
        }
    }
}

fn with_key(request: RequestBuilder, key: &str) -> RequestBuilder {
    let (id, secret) = key.split_once(':').unwrap();
    request.basic_auth(id, Some(secret))
}

/// Values with what each tries.
type Probes = Vec<(String, String)>;

/// Values just inside and just outside the bounds a parameter's schema states.
fn probes(schema: &Value) -> (Probes, Probes) {
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    let mut both = |what: &str, good: String, bad: String| {
        inside.push((format!("{what} {good:.40}"), good));
        outside.push((format!("past {what} {bad:.40}"), bad));
    };
    if let Some(min) = schema["minimum"].as_u64() {
        both("minimum", min.to_string(), min.checked_sub(1).map_or("-1".into(), |m| m.to_string()));
    }
    if let Some(max) = schema["maximum"].as_u64() {
        both("maximum", max.to_string(), (max + 1).to_string());
    }
    if let Some(values) = schema["enum"].as_array() {
        for value in values {
            both("enum", value.as_str().unwrap().to_owned(), "no-such-value".into());
        }
    }
    if schema["format"] == "date-time" {
        both("date-time", "2026-01-02T03:04:05Z".into(), "2026-13-45 yesterday".into());
    }
    if let Some(min) = schema["minLength"].as_u64() {
        both("minLength", "k".repeat(min as usize), "k".repeat(min as usize - 1));
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        both("maxLength", "k".repeat(max as usize), "k".repeat(max as usize + 1));
    }
    (inside, outside)
}

#[test]
fn every_documented_parameter_bound_is_the_one_the_server_enforces() {
    let contract = Contract::start();
    let mut tried = 0;
    for operation in contract.operations() {
        for parameter in operation.spec["parameters"].as_array().into_iter().flatten() {
            let (name, place) = (parameter["name"].as_str().unwrap(), parameter["in"].as_str().unwrap());
            let schema = contract.resolve(&parameter["schema"]);
            let (inside, outside) = probes(schema);
            let refused = if place == "header" { "/problems/invalid-header" } else { "/problems/invalid-query" };
            let send = |value: &str| {
                let request = match place {
                    "query" => contract.request(&operation, &format!("?{name}={value}")),
                    "header" => contract.request(&operation, "").header(name, value),
                    _ => return None,
                };
                // A fresh Idempotency-Key for every request: a repeat would be a reuse.
                let request =
                    if name == "Idempotency-Key" { request } else { request.header("idempotency-key", uuid()) };
                Some(request)
            };
            for (what, value) in &inside {
                let Some(request) = send(value) else { continue };
                let (status, body) = contract.documented(&operation, request, &format!("{name} {what}"));
                assert_ne!(
                    body["type"],
                    refused,
                    "{} {name} {what}: refused although documented as valid: {body}",
                    operation.name()
                );
                assert!(status < 500, "{} {name} {what}: {status} {body}", operation.name());
                tried += 1;
            }
            for (what, value) in &outside {
                let Some(request) = send(value) else { continue };
                let (status, body) = contract.documented(&operation, request, &format!("{name} {what}"));
                assert_eq!(
                    (status, body["type"].as_str()),
                    (400, Some(refused)),
                    "{} {name} {what}: {body}",
                    operation.name()
                );
                tried += 1;
            }
        }
    }
    // limit, offset, state, since, until, status and Idempotency-Key on the routes that take them.
    assert!(tried >= 100, "only {tried} requests were tried");
}

/// A new unique key.
fn uuid() -> String {
    format!("k-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

#[test]
fn every_documented_body_bound_is_the_one_the_server_enforces() {
    let contract = Contract::start();
    let mut tried = 0;
    for operation in contract.operations() {
        let body = &operation.spec["requestBody"]["content"]["application/json"]["schema"];
        if !body.is_object() {
            continue;
        }
        let schema = contract.resolve(body);
        let Some(properties) = schema["properties"].as_object() else { continue };
        let send = |body: Value, what: &str| {
            let request = contract.auth(
                contract.client.request(operation.method.clone(), operation.url(&contract.server, &contract.ids)),
            );
            contract.documented(&operation, request.json(&body), what)
        };
        for (name, property) in properties {
            let types: Vec<&str> = match &property["type"] {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().map(|t| t.as_str().unwrap()).collect(),
                _ => Vec::new(),
            };
            if let Some(max) = property["maxLength"].as_u64() {
                let (status, answer) = send(json!({ "dryRun": true, name: "r".repeat(max as usize) }), "maxLength");
                assert_eq!(status, 200, "{}: {name} of {max} characters: {answer}", operation.name());
                let (status, answer) =
                    send(json!({ "dryRun": true, name: "r".repeat(max as usize + 1) }), "past maxLength");
                assert_eq!(
                    (status, answer["type"].as_str()),
                    (422, Some("/problems/invalid-body")),
                    "{}: {answer}",
                    operation.name()
                );
            }
            let null = send(json!({ "dryRun": true, name: null }), "null");
            if types.contains(&"null") {
                assert_eq!(null.0, 200, "{}: {name} is documented nullable: {}", operation.name(), null.1);
            } else {
                assert_eq!(null.0, 422, "{}: {name} is not documented nullable: {}", operation.name(), null.1);
            }
            let wrong = if types.contains(&"boolean") { json!("yes") } else { json!(42) };
            let (status, answer) = send(json!({ "dryRun": true, name: wrong }), "wrong type");
            assert_eq!(status, 422, "{}: {name} = {wrong}: {answer}", operation.name());
            tried += 3;
        }
        if schema["additionalProperties"] == false {
            let (status, answer) = send(json!({ "dryRun": true, "notAField": 1 }), "unknown field");
            assert_eq!(
                (status, answer["type"].as_str()),
                (422, Some("/problems/invalid-body")),
                "{}: {answer}",
                operation.name()
            );
        }
        let (status, answer) = send(json!({ "dryRun": true }), "valid");
        assert_eq!(status, 200, "{}: {answer}", operation.name());
    }
    assert!(tried >= 5 * 2 * 3, "only {tried} bodies were tried");
}

#[test]
fn every_documented_scope_is_the_one_the_route_refuses_without() {
    let contract = Contract::start();
    let scopes = [
        "persons:read",
        "entitlements:re-enforce",
        "accounts:update",
        "entitlements:unmanage",
        "actions:retry",
        "actions:approve",
        "events:submit",
        "audit:read",
        "metrics:read",
        "plugins:replay",
    ];
    let without: Vec<(&str, String)> = scopes
        .iter()
        .map(|scope| {
            let others: Vec<&str> = scopes.iter().copied().filter(|s| s != scope).collect();
            (*scope, contract.demo.key_with(&others))
        })
        .collect();
    let only: Vec<(&str, String)> = scopes.iter().map(|scope| (*scope, contract.demo.key_with(&[scope]))).collect();
    let key = |keys: &[(&str, String)], scope: &str| keys.iter().find(|(s, _)| *s == scope).unwrap().1.clone();
    let mut checked = 0;
    for operation in contract.operations() {
        let Some(scope) = operation.scope() else {
            let (status, body) = contract.documented(
                &operation,
                contract.client.get(operation.url(&contract.server, &contract.ids)),
                "no key",
            );
            assert_eq!(status, 200, "{} is documented open: {body}", operation.name());
            continue;
        };
        assert!(scopes.contains(&scope.as_str()), "{}: unknown scope {scope}", operation.name());
        let request = contract.request_as(&operation, "", &key(&without, &scope));
        let (status, body) = contract.documented(&operation, request, "without its scope");
        assert_eq!((status, body["type"].as_str()), (403, Some("/problems/forbidden")), "{}: {body}", operation.name());
        let request = contract.request_as(&operation, "", &key(&only, &scope));
        let (status, body) = contract.documented(&operation, request, "with only its scope");
        assert_ne!(body["type"], "/problems/forbidden", "{} with only {scope}: {status} {body}", operation.name());
        let (status, body) = contract.documented(&operation, contract.request_as(&operation, "", "nobody:x"), "no key");
        assert_eq!(
            (status, body["type"].as_str()),
            (401, Some("/problems/unauthorized")),
            "{}: {body}",
            operation.name()
        );
        checked += 1;
    }
    assert_eq!(checked, 24, "every route but /openapi.json, /healthz and /readyz takes a scope");
}

#[test]
fn the_router_answers_exactly_the_documented_routes() {
    let contract = Contract::start();
    let operations = contract.operations();
    let documented: BTreeSet<String> = operations.iter().map(|o| o.path.clone()).collect();
    for operation in &operations {
        let (status, body) = contract.documented(operation, contract.request(operation, ""), "as documented");
        assert!(status < 500, "{}: {status} {body}", operation.name());
        for other in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let allowed = operations.iter().any(|o| o.path == operation.path && o.method == other);
            if allowed {
                continue;
            }
            let url = operation.url(&contract.server, &contract.ids);
            let (status, _, body) = contract.send(contract.auth(contract.client.request(other.clone(), url)));
            assert_eq!(
                (status, body["type"].as_str()),
                (405, Some("/problems/method-not-allowed")),
                "{other} {}",
                operation.path
            );
        }
    }
    // The routes as the router matched them, from the request-duration series of /metrics.
    let response = contract.auth(contract.client.get(contract.server.url("/metrics"))).send().unwrap();
    let text = response.text().unwrap();
    let routed: BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("provhost_request_duration_seconds_count"))
        .filter_map(|l| Some(l.split("route=\"").nth(1)?.split('"').next()?.to_owned()))
        .collect();
    let answered: BTreeSet<String> = routed.difference(&BTreeSet::from(["/metrics".to_owned()])).cloned().collect();
    let expected: BTreeSet<String> = documented.difference(&BTreeSet::from(["/metrics".to_owned()])).cloned().collect();
    assert_eq!(answered, expected, "the routes the router matched are the documented ones:\n{text}");
    let (status, _, body) = contract.send(contract.auth(contract.client.get(contract.server.url("/v1/no-such-route"))));
    assert_eq!((status, body["type"].as_str()), (404, Some("/problems/no-such-route")));
}

#[test]
fn the_document_states_what_the_fuzzer_found_missing() {
    let contract = Contract::start();
    let spec = &contract.spec;
    assert_eq!(spec["openapi"], "3.1.0");
    let audit = &spec["paths"]["/v1/audit"]["get"]["parameters"];
    let parameter = |name: &str| audit.as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(parameter("offset")["schema"]["maximum"], 1_000_000_000);
    assert_eq!(parameter("since")["schema"]["format"], "date-time");
    assert_eq!(parameter("until")["schema"]["format"], "date-time");
    let deliveries = &spec["paths"]["/v1/webhooks/deliveries"]["get"]["parameters"][0]["schema"];
    assert_eq!(contract.resolve(deliveries)["enum"], json!(["pending", "delivered", "dead"]));
    let update = &spec["paths"]["/provisioning/persons/{personId}/accounts/update"]["post"];
    let key = update["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Idempotency-Key").unwrap();
    assert_eq!((key["schema"]["minLength"].clone(), key["schema"]["maxLength"].clone()), (json!(1), json!(255)));
    let reused = update["responses"]["422"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
        ["type"]["enum"]
        .clone();
    assert!(reused.as_array().unwrap().contains(&json!("/problems/idempotency-key-reused")), "{reused}");
    let request = contract.resolve(&update["requestBody"]["content"]["application/json"]["schema"]);
    assert_eq!(request["properties"]["reason"]["type"], json!(["string", "null"]));
    let metrics = &spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(metrics.as_object().unwrap().keys().all(|k| k.starts_with("application/openmetrics-text")), "{metrics}");
}

#[test]
fn provhost_openapi_prints_the_served_document() {
    let contract = Contract::start();
    let out = contract.demo.provhost(&["openapi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout_json(&out), contract.spec);
}

#[test]
fn the_route_table_of_http_md_lists_the_documented_routes_and_scopes() {
    let contract = Contract::start();
    let documented: BTreeSet<(String, String)> =
        contract.operations().iter().map(|o| (o.name(), o.scope().unwrap_or_else(|| "none".into()))).collect();
    let text = std::fs::read_to_string(repo().join("docs/http.md")).unwrap();
    let listed: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let route = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            let scope = cells.get(2)?.trim_matches('`');
            route.contains(' ').then(|| (route.to_owned(), scope.to_owned()))
        })
        .collect();
    assert_eq!(listed, documented, "docs/http.md's table of routes");
}
