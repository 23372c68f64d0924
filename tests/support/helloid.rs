//! A loopback HelloID that is slow and counts: each targeted update takes as long as the test
//! says and is counted with the `Idempotency-Key` it came with; a key seen before is answered from
//! the first answer, as HelloID does. Its person list pages without end, and an answer can be made
//! larger than a client should read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    delay: Duration,
    /// Every update received: its idempotency key.
    calls: Vec<String>,
    /// The first answer for each key.
    answers: HashMap<String, Value>,
    /// How large the person list's answers are, in bytes of padding.
    padding: usize,
}

/// The running stub; stops when dropped.
pub struct HelloId {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    inner: Arc<Mutex<Inner>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HelloId {
    /// Starts the stub; each update answers after `delay`.
    pub fn start(delay: Duration) -> HelloId {
        let inner = Arc::new(Mutex::new(Inner { delay, ..Default::default() }));
        let app = Router::new()
            .route("/provisioning/persons/{person}/accounts/{account}/update", post(update))
            .route("/v1/persons", get(persons))
            .with_state(inner.clone());
        let (base, stop) = super::serve_loopback(app);
        HelloId { base, inner, _stop: stop }
    }

    /// The idempotency keys of the updates received, in order.
    pub fn calls(&self) -> Vec<String> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// How many updates were applied: one per distinct idempotency key.
    pub fn applied(&self) -> usize {
        self.inner.lock().unwrap().answers.len()
    }

    /// Pads every person-list answer with this many bytes.
    pub fn pad(&self, bytes: usize) {
        self.inner.lock().unwrap().padding = bytes;
    }
}

async fn update(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((person, account)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let delay = {
        let mut state = inner.lock().unwrap();
        state.calls.push(key.clone());
        state.delay
    };
    tokio::time::sleep(delay).await;
    let mut state = inner.lock().unwrap();
    let n = state.answers.len();
    let answer = state.answers.entry(key).or_insert_with(|| {
        json!({
            "invocation": format!("remote-invocation-{n}"),
            "committed": true,
            "actions": [{
                "id": format!("remote-{n}"), "kind": "update", "person": person, "system": "topdesk",
                "account": account, "state": "success", "origin": "update account", "message": "updated there",
            }],
        })
    });
    (StatusCode::OK, axum::Json(answer.clone())).into_response()
}

/// Pages of no persons whose `next_offset` always goes on.
async fn persons(State(inner): State<Arc<Mutex<Inner>>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let offset: usize = query.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let padding = inner.lock().unwrap().padding;
    let body = json!({ "items": [], "limit": 500, "offset": offset, "next_offset": offset + 500, "padding": "x".repeat(padding) });
    (StatusCode::OK, axum::Json(body)).into_response()
}
