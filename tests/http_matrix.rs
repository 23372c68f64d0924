//! A matrix of malformed and hostile requests against a real `provhost serve`: bodies, content
//! types, authorization headers on every keyed route, paths, queries, methods, headers, and ids of
//! another tenant. Every case names the status it must get and the problem it must be (its type,
//! and a fragment of its detail); a 401 says how to authenticate; nothing is committed.

mod support;

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;
use support::server::Server;
use support::{DEMO_UNRATED, Demo, JAN, plugin};

/// Jan's first account and entitlement in the demo data (ids are per tenant).
const JANS_ACCOUNT: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e0100";
const JANS_ENTITLEMENT: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e0200";

/// One request of the matrix, and the problem it must be answered with.
struct Case {
    name: String,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    /// The status, the problem's `type` (`/problems/<kind>`) and a fragment of its `detail`.
    expect: (u16, &'static str, String),
}

fn case(name: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        expect: (0, "", String::new()),
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    fn expect(mut self, status: u16, kind: &'static str, detail: impl Into<String>) -> Self {
        self.expect = (status, kind, detail.into());
        self
    }
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// Every route that takes an API key, with its parameters filled in: the routes of the served
/// OpenAPI document (`provhost::server::openapi`) but the open ones; `/metrics` is among them.
fn keyed_routes() -> Vec<(Method, String)> {
    let document: serde_json::Value = serde_json::from_str(&provhost::server::openapi()).unwrap();
    let mut routes = Vec::new();
    for (route, item) in document["paths"].as_object().unwrap() {
        if ["/openapi.json", "/healthz", "/readyz"].contains(&route.as_str()) {
            continue;
        }
        let path = route.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect::<Vec<_>>().join("/");
        for method in item.as_object().unwrap().keys() {
            routes.push((method.to_uppercase().parse().unwrap(), path.clone()));
        }
    }
    assert!(routes.len() > 10, "the document lists the keyed routes: {routes:?}");
    routes
}

/// Authorization headers that do not carry a valid key, each with a fragment of the 401's detail.
fn bad_credentials(id: &str) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let not_utf8 = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', 0x80]);
    vec![
        ("empty", b"".to_vec(), "has no scheme"),
        ("scheme only", b"Basic".to_vec(), "has no scheme"),
        ("not base64", b"Basic !!!".to_vec(), "not base64"),
        ("no colon", basic("justakey").into_bytes(), "KEY_ID:SECRET"),
        ("empty secret", basic(&format!("{id}:")).into_bytes(), "KEY_ID:SECRET"),
        ("empty id", basic(":secret").into_bytes(), "KEY_ID:SECRET"),
        ("wrong secret", basic(&format!("{id}:wrong")).into_bytes(), "is not valid"),
        ("unknown key", basic("phk_nobody:secret").into_bytes(), "is not valid"),
        ("sql id", basic("' OR '1'='1:x").into_bytes(), "is not valid"),
        ("sql secret", basic(&format!("{id}:' OR '1'='1")).into_bytes(), "is not valid"),
        ("not utf-8", format!("Basic {not_utf8}").into_bytes(), "not UTF-8"),
        ("bearer empty", b"Bearer ".to_vec(), "has no scheme"),
        ("bearer empty secret", format!("Bearer {id}.").into_bytes(), "KEY_ID:SECRET"),
        ("bearer no dot", b"Bearer abcdef".to_vec(), "KEY_ID:SECRET"),
        ("bearer sql", b"Bearer ' OR '1'='1.x".to_vec(), "is not valid"),
        ("bearer huge", format!("Bearer {id}.{}", "s".repeat(8000)).into_bytes(), "is not valid"),
        ("wrong scheme", b"Digest username=\"x\"".to_vec(), "'digest' is not supported"),
        ("raw bytes", vec![b'B', b'a', b's', b'i', b'c', b' ', 0xff, 0xfe], "not text"),
        ("huge", format!("Basic {}", "A".repeat(4000)).into_bytes(), "KEY_ID:SECRET"),
    ]
}

/// Bad credentials on every keyed route: each is answered 401 before the route does anything.
fn authentication(id: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for (method, path) in keyed_routes() {
        for (name, value, detail) in bad_credentials(id) {
            cases.push(
                case(format!("auth {name}: {method} {path}"), method.clone(), path.clone())
                    .header("authorization", value)
                    .json(b"{}".to_vec())
                    .expect(401, "unauthorized", detail),
            );
        }
        cases.push(
            case(format!("auth none: {method} {path}"), method.clone(), path.clone()).json(b"{}".to_vec()).expect(
                401,
                "unauthorized",
                "send an API key",
            ),
        );
    }
    cases
}

/// The ids of the demo tenant's data, asked for with the key of another tenant that holds none:
/// every one is not found, and no list shows any.
fn another_tenants_ids(other: &str, demo_action: &str) -> Vec<Case> {
    let auth = basic(other);
    let not_found = [
        (Method::GET, format!("/v1/persons/{JAN}"), "not-found"),
        (Method::GET, format!("/v1/persons/{JAN}/accounts"), "not-found"),
        (Method::GET, format!("/v1/persons/{JAN}/entitlements"), "not-found"),
        (Method::GET, format!("/v1/accounts/{JANS_ACCOUNT}"), "not-found"),
        (Method::GET, format!("/v1/entitlements/{JANS_ENTITLEMENT}"), "not-found"),
        (Method::GET, "/v1/systems/active-directory".to_string(), "not-found"),
        (Method::GET, format!("/v1/actions/{demo_action}"), "not-found"),
        (Method::POST, format!("/v1/actions/{demo_action}/approve"), "not-found"),
        (Method::POST, format!("/v1/actions/{demo_action}/reject"), "not-found"),
        (Method::POST, format!("/provisioning/entitlement-actions/{demo_action}/retry"), "not-found"),
        (Method::POST, format!("/provisioning/persons/{JAN}/accounts/update"), "not-found"),
        (Method::POST, format!("/provisioning/persons/{JAN}/accounts/{JANS_ACCOUNT}/update"), "not-found"),
        (Method::POST, format!("/provisioning/persons/{JAN}/entitlements/{JANS_ENTITLEMENT}/re-enforce"), "not-found"),
        (Method::POST, format!("/provisioning/persons/{JAN}/entitlements/{JANS_ENTITLEMENT}/unmanage"), "not-found"),
    ];
    not_found
        .into_iter()
        .map(|(method, path, kind)| {
            case(format!("another tenant's id: {method} {path}"), method, path)
                .header("authorization", auth.clone())
                .expect(404, kind, "")
        })
        .collect()
}

/// The matrix: hundreds of requests, each wrong in its own way.
fn matrix(key: &str, other: &str, demo_action: &str) -> Vec<Case> {
    let auth = basic(key);
    let (id, _) = key.split_once(':').unwrap();
    let mut cases = authentication(id);
    cases.extend(another_tenants_ids(other, demo_action));

    // Event bodies.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let not_an_event = "not a provhost event";
    let bodies: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        ("empty", Vec::new(), 400, "malformed-json", "not valid JSON"),
        ("null", b"null".to_vec(), 422, "invalid-event", not_an_event),
        ("array", b"[]".to_vec(), 422, "invalid-event", not_an_event),
        ("number", b"42".to_vec(), 422, "invalid-event", not_an_event),
        ("string", b"\"attribute-changed\"".to_vec(), 422, "invalid-event", not_an_event),
        ("empty object", b"{}".to_vec(), 422, "invalid-event", not_an_event),
        ("truncated", b"{\"type\": \"attribute-changed\"".to_vec(), 400, "malformed-json", "not valid JSON"),
        ("trailing garbage", b"{} {}".to_vec(), 400, "malformed-json", "not valid JSON"),
        ("not utf-8", vec![b'{', 0xff, 0xfe, b'}'], 400, "malformed-json", "not UTF-8"),
        ("bom", [&[0xef, 0xbb, 0xbf][..], b"{}"].concat(), 400, "malformed-json", "not valid JSON"),
        ("deep nesting", deep.into_bytes(), 400, "malformed-json", "recursion limit"),
        ("type is a number", b"{\"type\": 1}".to_vec(), 422, "invalid-event", not_an_event),
        ("unknown type", b"{\"type\": \"drop-tables\"}".to_vec(), 422, "invalid-event", "drop-tables"),
        ("no person", b"{\"type\": \"attribute-changed\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec(), 422, "invalid-event", "person"),
        ("no changes", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": []}}").into_bytes(), 422, "invalid-event", "changes"),
        ("changes not a list", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": 5}}").into_bytes(), 422, "invalid-event", "sequence"),
        ("unknown field", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": [{{\"attribute\": \"mail\"}}], \"admin\": true}}").into_bytes(), 422, "invalid-event", "unknown field `admin`"),
        ("blank person", b"{\"type\": \"attribute-changed\", \"person\": \"\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec(), 422, "invalid-event", "`person` must not be empty"),
        ("unknown person", b"{\"type\": \"attribute-changed\", \"person\": \"nobody\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec(), 404, "not-found", "nobody"),
        ("sql person", b"{\"type\": \"attribute-changed\", \"person\": \"' OR 1=1 --\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec(), 404, "not-found", "' OR 1=1 --"),
        ("huge person", format!("{{\"type\": \"attribute-changed\", \"person\": \"{}\", \"system\": \"ad\", \"changes\": [{{\"attribute\": \"mail\"}}]}}", "x".repeat(100_000)).into_bytes(), 422, "invalid-event", "`person` is 100000 bytes long"),
        ("action-failed without action", b"{\"type\": \"action-failed\"}".to_vec(), 422, "invalid-event", "action"),
        ("action-failed unknown", b"{\"type\": \"action-failed\", \"action\": \"nope\"}".to_vec(), 404, "not-found", "nope"),
        ("action-failed action is object", b"{\"type\": \"action-failed\", \"action\": {}}".to_vec(), 422, "invalid-event", "string"),
        ("sailpoint without recipient", b"{\"trackingNumber\": \"x\"}".to_vec(), 422, "invalid-event", not_an_event),
        ("sailpoint unknown recipient", b"{\"trackingNumber\": \"x\", \"recipient\": {\"id\": \"nobody\", \"name\": \"n\", \"type\": \"IDENTITY\"}, \"accountRequests\": []}".to_vec(), 404, "not-found", "nobody"),
        ("sailpoint identity without changes", b"{\"identity\": {\"id\": \"x\", \"name\": \"n\", \"type\": \"IDENTITY\"}}".to_vec(), 422, "invalid-event", not_an_event),
        ("over the size limit", vec![b' '; 2 << 20], 413, "body-too-large", "larger than this server accepts"),
    ];
    for (name, body, status, kind, detail) in bodies {
        cases.push(
            case(format!("event body: {name}"), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .json(body)
                .expect(status, kind, detail),
        );
    }
    // Content types and headers on a well-formed event about a person who does not exist.
    let event =
        r#"{"type": "attribute-changed", "person": "nobody", "system": "ad", "changes": [{"attribute": "mail"}]}"#
            .to_string();
    for content_type in ["text/plain", "application/xml", "multipart/form-data; boundary=x", ""] {
        cases.push(
            case(format!("content type: '{content_type}'"), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .header("content-type", content_type)
                .body(event.clone())
                .expect(415, "unsupported-media-type", "must be JSON"),
        );
    }
    let person_not_found = |c: Case| c.expect(404, "not-found", "nobody");
    cases.push(person_not_found(
        case("content type: odd charset", Method::POST, "/v1/events")
            .header("authorization", auth.clone())
            .header("content-type", "application/json; charset=latin1x")
            .body(event.clone()),
    ));
    cases.push(person_not_found(
        case("no content type", Method::POST, "/v1/events").header("authorization", auth.clone()).body(event.clone()),
    ));
    for key in ["", &"k".repeat(300)] {
        cases.push(
            case(format!("idempotency key of {} characters", key.len()), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .header("idempotency-key", key)
                .json(event.clone())
                .expect(400, "invalid-header", "1 to 255 characters"),
        );
    }
    cases.push(
        case("idempotency key not text", Method::POST, "/v1/events")
            .header("authorization", auth.clone())
            .header("idempotency-key", vec![0xff, 0xfe])
            .json(event.clone())
            .expect(400, "invalid-header", "must be text"),
    );
    cases.push(person_not_found(
        case("prefer garbage", Method::POST, "/v1/events")
            .header("authorization", auth.clone())
            .header("prefer", "respond-async-ish, wait=-1, ;;;")
            .json(event.clone()),
    ));

    // Targeted endpoints and reads with hostile ids: none of them names anything.
    let hostile_ids =
        ["nobody", "' OR '1'='1", "%00", "..%2F..%2Fetc%2Fpasswd", "%25", "%F0%9F%92%A3", &"i".repeat(2000)];
    for target in hostile_ids {
        for (method, path) in [
            (Method::POST, format!("/provisioning/persons/{target}/accounts/update")),
            (Method::POST, format!("/provisioning/persons/{JAN}/accounts/{target}/update")),
            (Method::POST, format!("/provisioning/persons/{target}/entitlements/{target}/re-enforce")),
            (Method::POST, format!("/provisioning/persons/{JAN}/entitlements/{target}/unmanage")),
            (Method::POST, format!("/provisioning/entitlement-actions/{target}/retry")),
            (Method::GET, format!("/v1/persons/{target}")),
            (Method::GET, format!("/v1/persons/{target}/accounts")),
            (Method::GET, format!("/v1/accounts/{target}")),
            (Method::GET, format!("/v1/entitlements/{target}")),
            (Method::GET, format!("/v1/systems/{target}")),
            (Method::GET, format!("/v1/actions/{target}")),
            (Method::POST, format!("/v1/actions/{target}/approve")),
            (Method::POST, format!("/v1/actions/{target}/reject")),
            (Method::GET, format!("/v1/events/{target}")),
            (Method::POST, format!("/v1/webhooks/deliveries/{target}/redrive")),
        ] {
            let name = format!("id '{}': {method} {}", &target[..target.len().min(20)], &path[..path.len().min(60)]);
            cases.push(case(name, method, path).header("authorization", auth.clone()).expect(404, "not-found", ""));
        }
    }
    let targeted = format!("/provisioning/persons/{JAN}/accounts/update");
    for (name, body, status, kind, detail) in [
        ("reason a number", "{\"reason\": 5}".to_string(), 422, "invalid-body", "does not fit"),
        ("dry run a string", "{\"dryRun\": \"yes\"}".to_string(), 422, "invalid-body", "does not fit"),
        ("unknown field", "{\"force\": true}".to_string(), 422, "invalid-body", "unknown field `force`"),
        (
            "reason too long",
            format!("{{\"reason\": \"{}\"}}", "r".repeat(5000)),
            422,
            "invalid-body",
            "is 5000 bytes long",
        ),
        ("not json", "reason=x".to_string(), 400, "malformed-json", "not valid JSON"),
        ("array", "[]".to_string(), 422, "invalid-body", "must be an object"),
    ] {
        cases.push(
            case(format!("targeted body: {name}"), Method::POST, targeted.clone())
                .header("authorization", auth.clone())
                .json(body)
                .expect(status, kind, detail),
        );
    }

    // Queries.
    let limit = "limit must be 1 to 500";
    let whole = "must be a whole number";
    for (query, detail) in [
        ("/v1/actions?limit=0", limit),
        ("/v1/actions?limit=501", limit),
        ("/v1/actions?limit=abc", whole),
        ("/v1/actions?limit=-1", whole),
        ("/v1/actions?offset=-1", whole),
        ("/v1/actions?offset=18446744073709551615", "offset must be 0 to"),
        ("/v1/actions?limit=99999999999999999999999", whole),
        ("/v1/actions?state=exploded", "exploded"),
        ("/v1/actions?bogus=1", "unknown field `bogus`"),
        ("/v1/actions?limit=1&limit=2", "limit is given more than once"),
        ("/v1/audit?since=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z", "since is given more than once"),
        ("/v1/audit?since=yesterday", "not an RFC 3339 time"),
        ("/v1/audit?until=2026-13-45T99:00:00Z", "not an RFC 3339 time"),
        ("/v1/audit?since=%00", "not an RFC 3339 time"),
        ("/v1/audit?admin=true", "unknown field `admin`"),
        ("/v1/webhooks/deliveries?status=%27", "'"),
        ("/v1/webhooks/deliveries?limit=0", limit),
        ("/v1/persons?offset=1000000001", "offset must be 0 to"),
    ] {
        cases.push(case(format!("query: {query}"), Method::GET, query).header("authorization", auth.clone()).expect(
            400,
            "invalid-query",
            detail,
        ));
    }

    // Routes and methods that do not exist.
    for (method, path, status, kind) in [
        (Method::GET, "/v1/nope", 404, "no-such-route"),
        (Method::GET, "/v1/events", 405, "method-not-allowed"),
        (Method::DELETE, "/v1/events", 405, "method-not-allowed"),
        (Method::PUT, "/v1/actions", 405, "method-not-allowed"),
        (Method::PATCH, "/v1/persons", 405, "method-not-allowed"),
        (Method::DELETE, "/v1/audit", 405, "method-not-allowed"),
        (Method::GET, "/provisioning/entitlement-actions/x/retry", 405, "method-not-allowed"),
        (Method::POST, "/v1/persons", 405, "method-not-allowed"),
        (Method::GET, "/../../etc/passwd", 404, "no-such-route"),
        (Method::GET, "/v1//actions", 404, "no-such-route"),
        (Method::GET, "/v1/actions/x/approve", 405, "method-not-allowed"),
    ] {
        let detail = match status {
            405 => format!("{method} is not allowed on"),
            _ => "there is no route".to_string(),
        };
        cases.push(
            case(format!("route: {method} {path}"), method, path)
                .header("authorization", auth.clone())
                .expect(status, kind, detail),
        );
    }
    cases
}

/// Sends the case; what it got wrong, if anything.
fn check(client: &Client, server: &Server, c: &Case) -> Option<String> {
    let mut request = client.request(c.method.clone(), server.url(&c.path));
    for (name, value) in &c.headers {
        request = request.header(*name, reqwest::header::HeaderValue::from_bytes(value).unwrap());
    }
    if let Some(body) = &c.body {
        request = request.body(body.clone());
    }
    let response = match request.send() {
        Ok(response) => response,
        Err(e) => return Some(format!("{}: no answer: {e}", c.name)),
    };
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap_or("").to_owned());
    let (content_type, challenge) = (header("content-type").unwrap_or_default(), header("www-authenticate"));
    let text = response.text().unwrap_or_default();
    let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let (expected, kind, detail) = &c.expect;
    let wrong = if status != *expected {
        format!("answered {status}, not {expected}")
    } else if content_type != "application/problem+json" || problem["status"] != status {
        format!("not a problem: {content_type}")
    } else if problem["type"] != format!("/problems/{kind}") {
        format!("a {} problem, not /problems/{kind}", problem["type"])
    } else if !problem["detail"].as_str().is_some_and(|d| d.contains(detail.as_str()) && !d.is_empty()) {
        format!("the detail does not say '{detail}'")
    } else if status == 401 && challenge.as_deref() != Some(r#"Basic realm="provhost", Bearer"#) {
        format!("a 401 without the WWW-Authenticate challenge: {challenge:?}")
    } else {
        return None;
    };
    Some(format!("{}: {wrong}: {}", c.name, &text[..text.len().min(300)]))
}

/// The demo tenant, running propagate-mail, and `fabrikam`, a tenant with no data at all; the
/// demo's key first, then fabrikam's; the demo's event rate is out of the matrix's way.
fn two_tenants() -> (Demo, String) {
    let mut demo = Demo::new();
    demo.configure(&format!(
        "{DEMO_UNRATED}[tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\n\n[tenants.fabrikam]\n",
        plugin("propagate-mail").display()
    ));
    let init = demo.provhost(&["init", "--tenant", "fabrikam", "--empty"]);
    assert!(init.status.success(), "{}", support::stderr(&init));
    let fabrikam = std::fs::read_to_string(demo.dir.path().join("keys/fabrikam.key")).unwrap().trim().to_owned();
    (demo, fabrikam)
}

#[test]
fn hundreds_of_hostile_requests_get_the_problem_they_earn_and_commit_nothing() {
    let (demo, fabrikam) = two_tenants();
    let server = Server::start(&demo, &[]);
    let actions = demo.actions();
    let demo_action = actions[0]["id"].as_str().expect("the demo data has actions").to_owned();
    // A connection per request: a server that refuses a body too large closes the connection.
    let client =
        Client::builder().timeout(std::time::Duration::from_secs(30)).pool_max_idle_per_host(0).build().unwrap();
    let cases = matrix(&demo.key, &fabrikam, &demo_action);
    assert!(cases.len() >= 500, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(|c| check(&client, &server, c)).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(demo.actions().len(), actions.len(), "nothing may be committed");
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", support::stderr(&verify));
}

#[test]
fn another_tenants_lists_show_none_of_the_demos_data() {
    let (demo, fabrikam) = two_tenants();
    let server = Server::start(&demo, &[]);
    let (id, secret) = fabrikam.split_once(':').unwrap();
    let client = Client::new();
    for list in ["/v1/persons", "/v1/actions", "/v1/actions/blocked", "/v1/webhooks/deliveries"] {
        let response = client.get(server.url(list)).basic_auth(id, Some(secret)).send().unwrap();
        assert_eq!(response.status().as_u16(), 200, "{list}");
        let page: Value = response.json().unwrap();
        assert_eq!(page["items"], serde_json::json!([]), "{list} of a tenant with no data");
    }
    let (demo_id, demo_secret) = demo.key.split_once(':').unwrap();
    let mine: Value =
        client.get(server.url("/v1/persons")).basic_auth(demo_id, Some(demo_secret)).send().unwrap().json().unwrap();
    assert!(mine["items"].as_array().unwrap().iter().any(|p| p["id"] == JAN), "the demo's own key sees Jan: {mine}");
    let audit: Value = client.get(server.url("/v1/audit")).basic_auth(id, Some(secret)).send().unwrap().json().unwrap();
    let leaked: Vec<&Value> = audit["items"].as_array().unwrap().iter().filter(|r| r["tenant"] != "fabrikam").collect();
    assert!(leaked.is_empty(), "audit records of another tenant: {leaked:?}");
}

#[test]
fn readiness_with_a_bad_key_says_ready_and_names_no_tenant() {
    let (demo, _) = two_tenants();
    let server = Server::start(&demo, &[]);
    let (id, _) = demo.key.split_once(':').unwrap();
    for (name, value, _) in bad_credentials(id) {
        let response = Client::new()
            .get(server.url("/readyz"))
            .header("authorization", reqwest::header::HeaderValue::from_bytes(&value).unwrap())
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{name}");
        assert_eq!(response.json::<Value>().unwrap(), serde_json::json!({"status": "ready"}), "{name}");
    }
}
