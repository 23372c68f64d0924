//! A matrix of malformed and hostile requests against a real `provhost serve`: bodies, content
//! types, authorization headers, paths, queries, methods and headers. Every answer is below 500,
//! every 4xx is an RFC 9457 problem whose detail says what was wrong, and nothing is committed.

mod support;

use base64::Engine;
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;
use support::server::Server;
use support::{Demo, JAN, plugin};

/// One request of the matrix.
struct Case {
    name: String,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

fn case(name: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
    Case { name: name.into(), method, path: path.into(), headers: Vec::new(), body: None }
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
}

fn basic(credentials: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// The matrix: over a hundred requests, each wrong in its own way.
fn matrix(key: &str) -> Vec<Case> {
    let auth = basic(key);
    let (id, _) = key.split_once(':').unwrap();
    let mut cases = Vec::new();

    // Authorization headers that do not carry a valid key, on a protected route.
    let bad_auth: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("scheme only", b"Basic".to_vec()),
        ("not base64", b"Basic !!!".to_vec()),
        ("no colon", basic("justakey").into_bytes()),
        ("empty secret", basic(&format!("{id}:")).into_bytes()),
        ("wrong secret", basic(&format!("{id}:wrong")).into_bytes()),
        ("unknown key", basic("phk_nobody:secret").into_bytes()),
        (
            "not utf-8",
            [
                b"Basic ".as_slice(),
                &base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe, b':', 0x80]).into_bytes(),
            ]
            .concat(),
        ),
        ("bearer empty", b"Bearer ".to_vec()),
        ("bearer no dot", b"Bearer abcdef".to_vec()),
        ("bearer sql", b"Bearer ' OR '1'='1.x".to_vec()),
        ("digest", b"Digest username=\"x\"".to_vec()),
        ("raw bytes", vec![b'B', b'a', b's', b'i', b'c', b' ', 0xff, 0xfe]),
        ("huge", format!("Basic {}", "A".repeat(4000)).into_bytes()),
    ];
    for (name, value) in bad_auth {
        cases.push(case(format!("auth: {name}"), Method::GET, "/v1/actions").header("authorization", value));
    }
    cases.push(case("auth: none", Method::GET, "/v1/actions"));
    cases.push(case("auth: none on events", Method::POST, "/v1/events").json(b"{}".to_vec()));

    // Event bodies.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("number", b"42".to_vec()),
        ("string", b"\"attribute-changed\"".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("truncated", b"{\"type\": \"attribute-changed\"".to_vec()),
        ("trailing garbage", b"{} {}".to_vec()),
        ("not utf-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("bom", [&[0xef, 0xbb, 0xbf][..], b"{}"].concat()),
        ("deep nesting", deep.into_bytes()),
        ("type is a number", b"{\"type\": 1}".to_vec()),
        ("unknown type", b"{\"type\": \"drop-tables\"}".to_vec()),
        ("no person", b"{\"type\": \"attribute-changed\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec()),
        ("no changes", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": []}}").into_bytes()),
        ("changes not a list", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": 5}}").into_bytes()),
        ("unknown field", format!("{{\"type\": \"attribute-changed\", \"person\": \"{JAN}\", \"system\": \"ad\", \"changes\": [{{\"attribute\": \"mail\"}}], \"admin\": true}}").into_bytes()),
        ("blank person", b"{\"type\": \"attribute-changed\", \"person\": \"\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec()),
        ("unknown person", b"{\"type\": \"attribute-changed\", \"person\": \"nobody\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec()),
        ("sql person", b"{\"type\": \"attribute-changed\", \"person\": \"' OR 1=1 --\", \"system\": \"ad\", \"changes\": [{\"attribute\": \"mail\"}]}".to_vec()),
        ("huge person", format!("{{\"type\": \"attribute-changed\", \"person\": \"{}\", \"system\": \"ad\", \"changes\": [{{\"attribute\": \"mail\"}}]}}", "x".repeat(100_000)).into_bytes()),
        ("action-failed without action", b"{\"type\": \"action-failed\"}".to_vec()),
        ("action-failed unknown", b"{\"type\": \"action-failed\", \"action\": \"nope\"}".to_vec()),
        ("action-failed action is object", b"{\"type\": \"action-failed\", \"action\": {}}".to_vec()),
        ("sailpoint without recipient", b"{\"trackingNumber\": \"x\"}".to_vec()),
        ("sailpoint unknown recipient", b"{\"trackingNumber\": \"x\", \"recipient\": {\"id\": \"nobody\", \"name\": \"n\", \"type\": \"IDENTITY\"}, \"accountRequests\": []}".to_vec()),
        ("sailpoint identity without changes", b"{\"identity\": {\"id\": \"x\", \"name\": \"n\", \"type\": \"IDENTITY\"}}".to_vec()),
        ("over the size limit", vec![b' '; 2 << 20]),
    ];
    for (name, body) in bodies {
        cases.push(
            case(format!("event body: {name}"), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .json(body),
        );
    }
    // Content types and headers on a well-formed event.
    let event =
        r#"{"type": "attribute-changed", "person": "nobody", "system": "ad", "changes": [{"attribute": "mail"}]}"#
            .to_string();
    for content_type in
        ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=latin1x", ""]
    {
        cases.push(
            case(format!("content type: '{content_type}'"), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .header("content-type", content_type)
                .body(event.clone()),
        );
    }
    cases.push(
        case("no content type", Method::POST, "/v1/events").header("authorization", auth.clone()).body(event.clone()),
    );
    for key in ["", &"k".repeat(300)] {
        cases.push(
            case(format!("idempotency key of {} characters", key.len()), Method::POST, "/v1/events")
                .header("authorization", auth.clone())
                .header("idempotency-key", key)
                .json(event.clone()),
        );
    }
    cases.push(
        case("idempotency key not text", Method::POST, "/v1/events")
            .header("authorization", auth.clone())
            .header("idempotency-key", vec![0xff, 0xfe])
            .json(event.clone()),
    );
    cases.push(
        case("prefer garbage", Method::POST, "/v1/events")
            .header("authorization", auth.clone())
            .header("prefer", "respond-async-ish, wait=-1, ;;;")
            .json(event.clone()),
    );

    // Targeted endpoints with hostile ids and bodies.
    let hostile_ids =
        ["nobody", "' OR '1'='1", "%00", "..%2F..%2Fetc%2Fpasswd", "%25", "%F0%9F%92%A3", &"i".repeat(2000)];
    for target in hostile_ids {
        for path in [
            format!("/provisioning/persons/{target}/accounts/update"),
            format!("/provisioning/persons/{JAN}/accounts/{target}/update"),
            format!("/provisioning/persons/{target}/entitlements/{target}/re-enforce"),
            format!("/provisioning/persons/{JAN}/entitlements/{target}/unmanage"),
            format!("/provisioning/entitlement-actions/{target}/retry"),
            format!("/v1/persons/{target}"),
            format!("/v1/actions/{target}"),
            format!("/v1/actions/{target}/approve"),
        ] {
            let method =
                if path.starts_with("/v1/persons") || (path.starts_with("/v1/actions") && !path.ends_with("approve")) {
                    Method::GET
                } else {
                    Method::POST
                };
            cases.push(
                case(
                    format!("id '{}': {}", &target[..target.len().min(20)], path.split('/').nth(2).unwrap_or("")),
                    method,
                    path,
                )
                .header("authorization", auth.clone()),
            );
        }
    }
    let targeted = format!("/provisioning/persons/{JAN}/accounts/update");
    for (name, body) in [
        ("reason a number", "{\"reason\": 5}".to_string()),
        ("dry run a string", "{\"dryRun\": \"yes\"}".to_string()),
        ("unknown field", "{\"force\": true}".to_string()),
        ("reason too long", format!("{{\"reason\": \"{}\"}}", "r".repeat(5000))),
        ("not json", "reason=x".to_string()),
        ("array", "[]".to_string()),
    ] {
        cases.push(
            case(format!("targeted body: {name}"), Method::POST, targeted.clone())
                .header("authorization", auth.clone())
                .json(body),
        );
    }

    // Queries.
    for query in [
        "/v1/actions?limit=0",
        "/v1/actions?limit=501",
        "/v1/actions?limit=abc",
        "/v1/actions?limit=-1",
        "/v1/actions?offset=-1",
        "/v1/actions?offset=18446744073709551615",
        "/v1/actions?limit=99999999999999999999999",
        "/v1/actions?state=exploded",
        "/v1/actions?bogus=1",
        "/v1/actions?limit=1&limit=2",
        "/v1/audit?since=yesterday",
        "/v1/audit?until=2026-13-45T99:00:00Z",
        "/v1/audit?since=%00",
        "/v1/audit?admin=true",
        "/v1/webhooks/deliveries?status=%27",
        "/v1/webhooks/deliveries?limit=0",
        "/v1/persons?offset=1000000001",
    ] {
        cases.push(case(format!("query: {query}"), Method::GET, query).header("authorization", auth.clone()));
    }

    // Routes and methods that do not exist.
    for (method, path) in [
        (Method::GET, "/v1/nope"),
        (Method::GET, "/v1/events"),
        (Method::DELETE, "/v1/events"),
        (Method::PUT, "/v1/actions"),
        (Method::PATCH, "/v1/persons"),
        (Method::DELETE, "/v1/audit"),
        (Method::GET, "/provisioning/entitlement-actions/x/retry"),
        (Method::POST, "/v1/persons"),
        (Method::GET, "/../../etc/passwd"),
        (Method::GET, "/v1//actions"),
        (Method::POST, "/v1/webhooks/deliveries/nope/redrive"),
        (Method::GET, "/v1/events/nope"),
    ] {
        cases.push(case(format!("route: {method} {path}"), method, path).header("authorization", auth.clone()));
    }
    cases
}

#[test]
fn a_hundred_hostile_requests_get_problems_and_commit_nothing() {
    let mut demo = Demo::new();
    demo.configure(&format!(
        "[tenants.demo.plugins.propagate-mail]\ncomponent = \"{}\"\n",
        plugin("propagate-mail").display()
    ));
    let server = Server::start(&demo, &[]);
    let before = demo.actions().len();
    // A connection per request: a server that refuses a body too large closes the connection.
    let client =
        Client::builder().timeout(std::time::Duration::from_secs(30)).pool_max_idle_per_host(0).build().unwrap();
    let cases = matrix(&demo.key);
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut request = client.request(c.method.clone(), server.url(&c.path));
        for (name, value) in &c.headers {
            request = request.header(*name, reqwest::header::HeaderValue::from_bytes(value).unwrap());
        }
        if let Some(body) = &c.body {
            request = request.body(body.clone());
        }
        let response = match request.send() {
            Ok(response) => response,
            Err(e) => {
                failures.push(format!("{}: no answer: {e}", c.name));
                continue;
            }
        };
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default();
        let text = response.text().unwrap_or_default();
        if status >= 500 {
            failures.push(format!("{}: answered {status}: {text}", c.name));
        } else if status >= 400 {
            let problem: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let detail = problem["detail"].as_str().unwrap_or("");
            if content_type != "application/problem+json" || problem["status"] != status || detail.is_empty() {
                failures.push(format!(
                    "{}: {status} is not a problem naming what was wrong: {content_type} {text}",
                    c.name
                ));
            }
        } else if !(c.path.starts_with("/v1/") && c.method == Method::GET) {
            failures.push(format!("{}: accepted with {status}: {text}", c.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(demo.actions().len(), before, "nothing may be committed");
    let verify = demo.provhost(&["audit", "verify"]);
    assert!(verify.status.success(), "{}", support::stderr(&verify));
}
