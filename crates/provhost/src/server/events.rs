//! `POST /v1/events` and `GET /v1/events/{id}`: an event runs through every plugin of the
//! tenant whose triggers match. `Idempotency-Key` makes a repeat return the first response
//! without running again; `Prefer: respond-async` answers 202 with a status URL. Only those
//! requests are kept: a plain synchronous one is answered and leaves its invocations' records.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::raw_body;
use super::idempotency::{self, Begin};
use super::ids::OfRequest;
use super::keyed::Share;
use super::problem::Problem;
use crate::event::{Event, EventError};
use crate::pipeline::Execution::Queued;
use crate::pipeline::{FanOut, Mode, Plugins, RunReport, fan_out};
use crate::store::{KeyRecord, RequestStatus};

/// What an event did: one run report per plugin it triggered.
#[derive(Serialize, ToSchema)]
pub struct EventAnswer {
    /// The event's kind.
    event: String,
    /// The event in a line.
    summary: String,
    /// One run report per triggered plugin, as `provhost run` prints it.
    #[schema(value_type = Vec<Object>)]
    invocations: Vec<RunReport>,
    /// Why nothing ran, when no plugin was triggered.
    note: Option<String>,
}

/// An event request taken to run in the background.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The request's id.
    id: String,
    /// `running`.
    status: RequestStatus,
    /// Where to follow it: `GET /v1/events/{requestId}`.
    status_url: String,
}

/// A kept event request and, once done, its answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventStatus {
    /// The request's id.
    id: String,
    /// `running` or `done`.
    status: RequestStatus,
    /// The answer's HTTP status, once done.
    http_status: Option<u16>,
    /// The answer's body, once done.
    #[schema(value_type = Value)]
    response: Value,
}

/// Runs the event through the tenant's matching plugins, holding its place in the tenant's share
/// until done; the response status and body.
async fn run_all(
    app: Arc<AppState>,
    key: KeyRecord,
    event: Event,
    wait: Option<Duration>,
    _share: Share,
) -> (StatusCode, Value) {
    app.metrics.event();
    let (tenant, runtime, requester) = (app.tenant(&key.tenant), app.runtime.clone(), key.clone());
    let ran = off_worker(move || {
        let mode = Mode::commit(Queued);
        fan_out(&runtime, &tenant, (&requester).into(), event, Plugins::Triggered, mode).map_err(Problem::from)
    })
    .await;
    let FanOut { event, reports: mut invocations, unmapped } = match ran {
        Ok(done) => done,
        Err(problem) => return (problem.status, problem.body()),
    };
    app.wake_executor();
    if let Some(wait) = wait {
        app.settle(&key.tenant, invocations.iter_mut().flat_map(|r| r.actions.iter_mut()).collect(), wait).await;
    }
    for report in &invocations {
        app.metrics.invocation(report);
    }
    // A plan refused at the commit's re-check answers as that refusal does, whatever the plugin said.
    if let Some(refusal) = invocations.iter().find_map(|r| r.refused_at_commit.clone()) {
        let mut problem = Problem::from(refusal);
        let mut extra = problem.extra.as_object().cloned().unwrap_or_default();
        extra.insert("invocations".into(), json!(invocations));
        problem.extra = Value::Object(extra);
        return (problem.status, problem.body());
    }
    let note = invocations.is_empty().then(|| {
        let none = format!("no plugin of tenant '{}' is triggered by this event", key.tenant);
        unmapped.map_or_else(|| none.clone(), |unmapped| format!("{none}: {unmapped}"))
    });
    let answer = EventAnswer { event: event.kind().to_string(), summary: event.summary(), invocations, note };
    (StatusCode::OK, serde_json::to_value(answer).unwrap_or_default())
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim() == "respond-async"))
}

/// The span every log line of one event carries: its tenant, the key that sent it, the event's
/// kind and the request id (the caller's `X-Request-Id`, else a new one).
fn event_span(key: &KeyRecord, event: &Event, headers: &HeaderMap) -> tracing::Span {
    let given = headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty() && v.len() <= 128);
    let request_id = given.map_or_else(crate::model::new_id, str::to_owned);
    tracing::info_span!("event", tenant = %key.tenant, key_id = %key.id, event = %event.kind(), request_id = %request_id)
}

/// How long the caller asked to have the answer held until the actions end (RFC 7240
/// `Prefer: wait=N`, in seconds; at most a minute).
pub(super) fn prefers_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(|seconds| Duration::from_secs(seconds.min(60)))
}

fn accepted(id: &str) -> Response {
    let url = format!("/v1/events/{id}");
    let answer = Accepted { id: id.to_owned(), status: RequestStatus::Running, status_url: url.clone() };
    let mut response = (StatusCode::ACCEPTED, axum::Json(answer)).into_response();
    if let Ok(value) = HeaderValue::from_str(&url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// An event through every plugin of the tenant whose triggers match.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Object, description = "provhost's own event (`{\"type\": \"attribute-changed\" | \
        \"provisioning-completed\" | \"action-failed\", ...}`) or a SailPoint trigger payload as SailPoint sends it"),
    responses(
        (status = 200, description = "The plugins ran; their plans are committed, their actions pending", body = EventAnswer),
        (status = 202, description = "`Prefer: respond-async`: running; follow the status URL", body = Accepted,
         headers(("Location" = String, description = "The status URL"))),
    ))]
pub async fn submit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    request: Request,
) -> Result<Response, Problem> {
    let headers = request.headers().clone();
    let body = raw_body(request, &app).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "the body is not UTF-8 text"))?;
    let event = Event::from_json(text).map_err(|e| match e {
        EventError::Malformed(m) if m.starts_with("not valid JSON") => {
            Problem::new(StatusCode::BAD_REQUEST, "malformed-json", m)
        }
        other => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-event", other.to_string()),
    })?;
    let idempotency_key = idempotency::key(&headers)?;
    let key = caller.0;
    if idempotency_key.is_none() && !prefers_async(&headers) {
        // No key to repeat it under and no status URL to follow: nothing will ask for this request
        // again, so it is answered without being kept (its invocations are in the audit trail).
        // In a task of its own, holding the tenant's share until its invocations end: a caller
        // that hangs up does not free its share while its plugins still run.
        let span = event_span(&key, &event, &headers);
        let running = run_all(app, key, event, prefers_wait(&headers), share).instrument(span);
        let (status, body) = tokio::spawn(running)
            .await
            .map_err(|e| Problem::internal(format!("an event failed inside provhost: {e}")))?;
        return Ok(idempotency::stored(status.as_u16(), &body.to_string(), false));
    }
    let hash = idempotency::digest(&key.id, &[&body]);
    let id = match idempotency::begin(&app, &key.tenant, idempotency_key.as_deref(), &hash).await? {
        Begin::New(id) => id,
        Begin::Replay(response) => return Ok(response),
        Begin::Running(id) if prefers_async(&headers) => return Ok(accepted(&id)),
        Begin::Running(id) => return Err(idempotency::in_progress(&id)),
    };
    let guard = app.track();
    let (work_app, tenant, wait) = (app.clone(), key.tenant.clone(), prefers_wait(&headers));
    let span = event_span(&key, &event, &headers);
    let kept = idempotency::keep(app, tenant, id.clone(), async move {
        let _guard = guard;
        let (status, body) = run_all(work_app, key, event, wait, share).instrument(span).await;
        (status, body.to_string())
    });
    if prefers_async(&headers) {
        return Ok(accepted(&id));
    }
    idempotency::answer(kept).await
}

/// The status of an event request, and its response once done.
#[utoipa::path(get, path = "/v1/events/{requestId}", tag = "events", params(OfRequest),
    responses((status = 200, body = EventStatus)))]
pub async fn status(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfRequest { request_id: id }): Path<OfRequest>,
) -> Result<Response, Problem> {
    let (tenant, asked) = (caller.tenant().to_owned(), id.clone());
    let kept = off_worker(move || Ok(app.store.request(&tenant, &asked)?)).await?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no event request '{id}' in tenant '{}'", caller.tenant()),
        )
    })?;
    let response: Value = kept.response.as_deref().and_then(|r| serde_json::from_str(r).ok()).unwrap_or(Value::Null);
    Ok(axum::Json(EventStatus { id: kept.id, status: kept.status, http_status: kept.http_status, response })
        .into_response())
}
