//! A loopback IdentityIQ SCIM server implementing the published LaunchedWorkflows contract: it
//! validates every launch (content type, credentials, schemas, workflow name, inputs, the
//! idempotency key in the inputs and the plan's `trackingId`, and the ProvisioningPlan XML,
//! parsed) and answers as scripted — launched (with a task result that completes after a poll, or
//! only when told), 429 with Retry-After, 5xx (before launching, or after), an answer that comes late, a malformed or oversized
//! body, or a `meta.location` of the test's choosing. `GET LaunchedWorkflows` lists the launches
//! with their inputs, paged, as IdentityIQ does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// How the server answers the next launch.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Launch; the task result completes with this status after one poll.
    Launch(&'static str),
    /// Refuse with this status (not launched), optionally with `Retry-After` seconds.
    Refuse(u16, Option<u64>),
    /// Launch, then answer only after this long.
    Hang(Duration),
    /// Launch, then answer 201 with a body that is not JSON.
    Malformed,
    /// Launch; the task result completes only when [`Scim::complete`] says so.
    Running,
    /// Launch, and answer with this `meta.location`.
    Location(String),
    /// Launch, and answer with a body of this many bytes.
    Oversized(usize),
    /// Launch, then answer with this error status as if it had failed.
    FailAfterLaunch(u16),
}

/// One launch the server accepted.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `provhostActionId` input.
    pub action: String,
    /// The `identityName` input.
    pub identity: String,
    /// The AccountRequest's `application`, `nativeIdentity` and `op`.
    pub account: (String, String, String),
    /// Each AttributeRequest: name, op, values.
    pub attributes: Vec<(String, String, Vec<String>)>,
    /// The `provhostIdempotencyKey` input (also the plan's `trackingId`).
    pub key: String,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    otherwise: Option<Answer>,
    launches: Vec<Launch>,
    requests: usize,
    violations: Vec<String>,
    results: HashMap<String, (u32, &'static str)>,
    lookups: usize,
}

/// The running server; stops when dropped.
pub struct Scim {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The credentials the server accepts (HTTP Basic).
pub const USER: &str = "spadmin";
/// The password.
pub const PASSWORD: &str = "iiq-password-never-logged";
/// The workflow name it expects.
pub const WORKFLOW: &str = "LCM Provisioning";

impl Scim {
    /// Starts the server on 127.0.0.1 with an ephemeral port.
    pub fn start() -> Scim {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/identityiq/scim/v2/LaunchedWorkflows", post(launch).get(launched_workflows))
            .route("/identityiq/scim/v2/TaskResults/{id}", get(task_result))
            .with_state(inner.clone());
        let (base, stop) = super::serve_loopback(app);
        Scim { base, inner, _stop: stop }
    }

    /// Answers the next launches in this order.
    pub fn script(&self, answers: &[Answer]) {
        self.inner.lock().unwrap().script.extend(answers.iter().cloned());
    }

    /// Answers every launch after the script like this (default: `Launch("Success")`).
    pub fn otherwise(&self, answer: Answer) {
        self.inner.lock().unwrap().otherwise = Some(answer);
    }

    /// The launches accepted so far.
    pub fn launches(&self) -> Vec<Launch> {
        self.inner.lock().unwrap().launches.clone()
    }

    /// Launch requests received so far, refused ones included.
    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }

    /// Contract violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.inner.lock().unwrap().violations.clone()
    }

    /// How many times the launched workflows were listed (an attempt looking for an earlier launch).
    pub fn lookups(&self) -> usize {
        self.inner.lock().unwrap().lookups
    }

    /// Completes every running task result with `status` at its next read.
    pub fn complete(&self, status: &'static str) {
        for result in self.inner.lock().unwrap().results.values_mut() {
            if result.0 == u32::MAX {
                *result = (0, status);
            }
        }
    }
}

fn scim_error(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
        "detail": detail,
        "status": status.as_u16().to_string(),
    });
    (status, [("content-type", "application/scim+json")], body.to_string()).into_response()
}

async fn launch(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = {
        let mut state = inner.lock().unwrap();
        state.requests += 1;
        let launch = match validate(&headers, &body) {
            Ok(launch) => launch,
            Err(violation) => {
                state.violations.push(violation.clone());
                return scim_error(StatusCode::BAD_REQUEST, &violation);
            }
        };
        let answer = state.script.pop_front().or(state.otherwise.clone()).unwrap_or(Answer::Launch("Success"));
        let status = match &answer {
            Answer::Refuse(..) => None,
            Answer::Launch(status) => Some(*status),
            Answer::Hang(_)
            | Answer::Malformed
            | Answer::Running
            | Answer::Location(_)
            | Answer::Oversized(_)
            | Answer::FailAfterLaunch(_) => Some("Success"),
        };
        match status {
            Some(status) => {
                let id = format!("{:032x}", state.launches.len() + 1);
                let polls = if matches!(answer, Answer::Running) { u32::MAX } else { 1 };
                state.results.insert(id.clone(), (polls, status));
                state.launches.push(launch);
                Ok((answer, id))
            }
            None => Err(answer),
        }
    };
    match answer {
        Err(Answer::Refuse(status, retry_after)) => {
            let mut response = scim_error(StatusCode::from_u16(status).unwrap(), "refused as scripted");
            if let Some(seconds) = retry_after {
                response.headers_mut().insert("retry-after", seconds.to_string().parse().unwrap());
            }
            response
        }
        Err(other) => panic!("unexpected answer {other:?}"),
        Ok((Answer::Hang(wait), id)) => {
            tokio::time::sleep(wait).await;
            launched(&id, None)
        }
        Ok((Answer::Location(location), id)) => {
            let mut body = task_body(&id, Value::Null);
            body["meta"]["location"] = json!(location);
            (StatusCode::CREATED, [("content-type", "application/scim+json")], body.to_string()).into_response()
        }
        Ok((Answer::Oversized(bytes), id)) => {
            let mut body = task_body(&id, Value::Null);
            body["padding"] = json!("x".repeat(bytes));
            (StatusCode::CREATED, [("content-type", "application/scim+json")], body.to_string()).into_response()
        }
        Ok((Answer::FailAfterLaunch(status), _)) => {
            scim_error(StatusCode::from_u16(status).unwrap(), "failed, as scripted, after launching")
        }
        Ok((Answer::Malformed, _)) => {
            (StatusCode::CREATED, [("content-type", "application/scim+json")], "{\"id\": \"unterminated")
                .into_response()
        }
        Ok((_, id)) => launched(&id, None),
    }
}

/// A LaunchedWorkflow as IdentityIQ answers it.
fn launched(id: &str, status: Option<&str>) -> Response {
    let body = task_body(id, status.map_or(Value::Null, Value::from));
    (StatusCode::CREATED, [("content-type", "application/scim+json")], body.to_string()).into_response()
}

/// `GET LaunchedWorkflows?filter=…&startIndex=…&count=…`: the launches, each with its inputs.
async fn launched_workflows(
    State(inner): State<Arc<Mutex<Inner>>>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let mut state = inner.lock().unwrap();
    state.lookups += 1;
    if !query.get("filter").is_some_and(|f| f.starts_with("launched ge \"")) {
        state.violations.push(format!("the lookup's filter is not `launched ge \"…\"`: {query:?}"));
    }
    let start: usize = query.get("startIndex").and_then(|s| s.parse().ok()).unwrap_or(1);
    let count: usize = query.get("count").and_then(|s| s.parse().ok()).unwrap_or(1000);
    let all: Vec<Value> = state
        .launches
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let mut body = task_body(&format!("{:032x}", n + 1), Value::Null);
            body[LAUNCHED]["input"] = json!([
                { "key": "provhostActionId", "value": l.action, "type": "string" },
                { "key": "provhostIdempotencyKey", "value": l.key, "type": "string" },
            ]);
            body
        })
        .collect();
    let page: Vec<Value> = all.iter().skip(start.saturating_sub(1)).take(count).cloned().collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": all.len(),
        "startIndex": start,
        "Resources": page,
    });
    (StatusCode::OK, [("content-type", "application/scim+json")], body.to_string()).into_response()
}

const LAUNCHED: &str = "urn:ietf:params:scim:schemas:sailpoint:1.0:LaunchedWorkflow";

/// A LaunchedWorkflow's JSON.
fn task_body(id: &str, status: Value) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:sailpoint:1.0:LaunchedWorkflow",
            "urn:ietf:params:scim:schemas:sailpoint:1.0:TaskResult"
        ],
        "id": id,
        "type": "LCM",
        "name": format!("{WORKFLOW} - {id}"),
        "completionStatus": status,
        "messages": [],
        "urn:ietf:params:scim:schemas:sailpoint:1.0:LaunchedWorkflow": { "workflowName": WORKFLOW },
        "meta": {
            "resourceType": "LaunchedWorkflow",
            "location": format!("/identityiq/scim/v2/TaskResults/{id}"),
        },
    })
}

async fn task_result(State(inner): State<Arc<Mutex<Inner>>>, Path(id): Path<String>) -> Response {
    let mut state = inner.lock().unwrap();
    let Some((polls, status)) = state.results.get_mut(&id) else {
        return scim_error(StatusCode::NOT_FOUND, "no such task result");
    };
    let done = *polls == 0;
    if *polls != u32::MAX {
        *polls = polls.saturating_sub(1);
    }
    let messages = if *status == "Success" {
        json!([])
    } else {
        json!([{ "type": "Warn", "localizedMessage": format!("scripted {status}") }])
    };
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:sailpoint:1.0:TaskResult"],
        "id": id,
        "completionStatus": if done { Value::from(*status) } else { Value::Null },
        "messages": messages,
        "meta": { "resourceType": "TaskResult", "location": format!("/identityiq/scim/v2/TaskResults/{id}") },
    });
    (StatusCode::OK, [("content-type", "application/scim+json")], body.to_string()).into_response()
}

/// Checks a launch against the contract; returns what it asks for.
fn validate(headers: &HeaderMap, body: &[u8]) -> Result<Launch, String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if header("content-type") != "application/scim+json" {
        return Err(format!("Content-Type must be application/scim+json, not '{}'", header("content-type")));
    }
    use base64::Engine;
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")));
    if header("authorization") != expected {
        return Err("wrong or missing credentials".into());
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let schemas = body["schemas"].as_array().cloned().unwrap_or_default();
    let want = [
        "urn:ietf:params:scim:schemas:sailpoint:1.0:LaunchedWorkflow",
        "urn:ietf:params:scim:schemas:sailpoint:1.0:TaskResult",
    ];
    if schemas.len() != 2 || want.iter().any(|w| !schemas.iter().any(|s| s == w)) {
        return Err(format!("schemas must be {want:?}, not {schemas:?}"));
    }
    if body["workflowName"] != WORKFLOW {
        return Err(format!("workflowName must be '{WORKFLOW}', not {}", body["workflowName"]));
    }
    let inputs = body["input"].as_array().ok_or("input must be a list")?;
    let input = |key: &str| inputs.iter().find(|i| i["key"] == key).cloned();
    let plan = input("plan").ok_or("no plan input")?;
    if plan["type"] != "application/xml" {
        return Err("the plan input's type must be application/xml".into());
    }
    let identity =
        input("identityName").and_then(|i| i["value"].as_str().map(str::to_owned)).ok_or("no identityName")?;
    let action = input("provhostActionId").and_then(|i| i["value"].as_str().map(str::to_owned)).unwrap_or_default();
    let key = input("provhostIdempotencyKey").and_then(|i| i["value"].as_str().map(str::to_owned));
    let key = key.ok_or("no provhostIdempotencyKey input")?;
    if key != format!("provhost-{action}") {
        return Err(format!("the idempotency key '{key}' is not provhost-<the action id>"));
    }
    let xml = plan["value"].as_str().ok_or("the plan must be a string")?;
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("the plan is not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ProvisioningPlan" || root.attribute("nativeIdentity") != Some(identity.as_str()) {
        return Err("the plan must be a ProvisioningPlan whose nativeIdentity is the identityName".into());
    }
    if root.attribute("trackingId") != Some(key.as_str()) {
        return Err(format!("the plan's trackingId {:?} is not the idempotency key", root.attribute("trackingId")));
    }
    let requests: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    let [request] = requests.as_slice() else { return Err("the plan must hold exactly one AccountRequest".into()) };
    let attr = |n: &roxmltree::Node, a: &str| {
        n.attribute(a).map(str::to_owned).ok_or(format!("{} has no {a}", n.tag_name().name()))
    };
    let op = attr(request, "op")?;
    if request.tag_name().name() != "AccountRequest" || !["Modify", "Enable"].contains(&op.as_str()) {
        return Err(format!("unexpected {} op={op}", request.tag_name().name()));
    }
    let mut attributes = Vec::new();
    for a in request.children().filter(|n| n.is_element()) {
        if a.tag_name().name() != "AttributeRequest" {
            return Err(format!("unexpected element {} in AccountRequest", a.tag_name().name()));
        }
        let values = match a.attribute("value") {
            Some(v) => vec![v.to_owned()],
            None => a
                .descendants()
                .filter(|n| n.has_tag_name("String"))
                .map(|n| n.text().unwrap_or("").to_owned())
                .collect(),
        };
        attributes.push((attr(&a, "name")?, attr(&a, "op")?, values));
    }
    Ok(Launch {
        action,
        key,
        identity,
        account: (attr(request, "application")?, attr(request, "nativeIdentity")?, op),
        attributes,
    })
}
