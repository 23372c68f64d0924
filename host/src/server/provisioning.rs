//! The targeted endpoints of the HelloID feature request — re-enforce, update one or all
//! accounts, unmanage, retry — through the same gate, thresholds, commit and audit as a
//! plugin's calls. A refusal is answered as a problem and recorded.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::JsonBody;
use super::idempotency::{self, Begin};
use super::keyed::Share;
use super::problem::Problem;
use crate::gate::Call;
use crate::limits::Limits;
use crate::pipeline::{Execution, Mode, run_request};

/// The optional body of a targeted request.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionRequest {
    /// Why, for the action's message and the audit trail.
    #[serde(default)]
    reason: Option<String>,
    /// Check and report without committing.
    #[serde(default)]
    dry_run: bool,
}

async fn run(
    (app, caller, share): (Arc<AppState>, Caller, Share),
    (headers, summary, body): (HeaderMap, String, ActionRequest),
    call: impl FnOnce(String) -> Call + Send + 'static,
) -> Result<Response, Problem> {
    let tenant = caller.tenant().to_owned();
    let longest = Limits::MAXIMUM.max_reason_bytes as usize;
    if let Some(reason) = body.reason.as_deref().filter(|r| r.len() > longest) {
        let detail = format!("`reason` is {} bytes long; provhost takes at most {longest} bytes", reason.len());
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", detail));
    }
    let tracked = match idempotency::key(&headers)? {
        None => None,
        Some(key) => {
            let hash = idempotency::digest(
                &caller.0.id,
                &[summary.as_bytes(), body.reason.as_deref().unwrap_or("").as_bytes(), &[u8::from(body.dry_run)]],
            );
            match idempotency::begin(&app, &tenant, Some(&key), &hash).await? {
                Begin::New(id) => Some(id),
                Begin::Replay(response) => return Ok(response),
                Begin::Running(id) => return Err(idempotency::in_progress(&id)),
            }
        }
    };
    let context = app.context(&caller.0);
    let reason = body.reason.unwrap_or_else(|| format!("{summary} by API key {}", caller.0.id));
    let (work_app, wait, settled_in) = (app.clone(), super::events::prefers_wait(&headers), tenant.clone());
    let work = async move {
        // The share is held by the run itself, so a caller that hangs up does not free it early.
        let ran = off_worker(move || {
            let _share = share;
            let call = call(reason);
            run_request(context, &summary, Mode { dry_run: body.dry_run, execution: Execution::Queued }, |gate| {
                gate.decide(&call)
            })
            .map_err(Problem::from)
        });
        let problem = match ran.await {
            Ok(Ok(mut report)) => {
                work_app.wake_executor();
                if let Some(wait) = wait {
                    work_app.settle(&settled_in, report.actions.iter_mut().collect(), wait).await;
                }
                return (StatusCode::OK, serde_json::to_string(&report).unwrap_or_default());
            }
            Ok(Err(refusal)) => {
                work_app.metrics.refusal(refusal.code());
                Problem::from(refusal)
            }
            Err(problem) => problem,
        };
        (problem.status, problem.body().to_string())
    };
    match tracked {
        Some(id) => idempotency::answer(idempotency::keep(app, tenant, id, work)).await,
        None => {
            let (status, text) = work.await;
            Ok(idempotency::stored(status.as_u16(), &text, false))
        }
    }
}

/// A call on one person's entitlement or account, from the person, the target and the reason:
/// re-enforce, update account, unmanage.
type PersonTargetCall = fn(String, String, String) -> Call;

/// Runs `call` for `POST /provisioning/persons/{person}/{collection}/{target}/{verb}`.
async fn person_target(
    (app, caller, share, headers): (Arc<AppState>, Caller, Share, HeaderMap),
    (person, target): (String, String),
    body: ActionRequest,
    (collection, verb, call): (&'static str, &'static str, PersonTargetCall),
) -> Result<Response, Problem> {
    let summary = format!("POST /provisioning/persons/{person}/{collection}/{target}/{verb}");
    run((app, caller, share), (headers, summary, body), move |reason| call(person, target, reason)).await
}

/// `POST /provisioning/persons/{personId}/entitlements/{entitlementId}/re-enforce`
pub async fn re_enforce(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    Path(ids): Path<(String, String)>,
    JsonBody(body): JsonBody<ActionRequest>,
) -> Result<Response, Problem> {
    person_target((app, caller, share, headers), ids, body, ("entitlements", "re-enforce", Call::re_enforce)).await
}

/// `POST /provisioning/persons/{personId}/accounts/{accountId}/update`
pub async fn update_account(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    Path(ids): Path<(String, String)>,
    JsonBody(body): JsonBody<ActionRequest>,
) -> Result<Response, Problem> {
    person_target((app, caller, share, headers), ids, body, ("accounts", "update", Call::update_account)).await
}

/// `POST /provisioning/persons/{personId}/entitlements/{entitlementId}/unmanage`
pub async fn unmanage(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    Path(ids): Path<(String, String)>,
    JsonBody(body): JsonBody<ActionRequest>,
) -> Result<Response, Problem> {
    person_target((app, caller, share, headers), ids, body, ("entitlements", "unmanage", Call::unmanage)).await
}

/// `POST /provisioning/persons/{personId}/accounts/update`
pub async fn update_all_accounts(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    Path(person): Path<String>,
    JsonBody(body): JsonBody<ActionRequest>,
) -> Result<Response, Problem> {
    let summary = format!("POST /provisioning/persons/{person}/accounts/update");
    run((app, caller, share), (headers, summary, body), move |reason| Call::update_all_accounts(person, reason)).await
}

/// `POST /provisioning/entitlement-actions/{actionId}/retry`
pub async fn retry(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    Path(action): Path<String>,
    JsonBody(body): JsonBody<ActionRequest>,
) -> Result<Response, Problem> {
    let summary = format!("POST /provisioning/entitlement-actions/{action}/retry");
    run((app, caller, share), (headers, summary, body), move |reason| Call::retry(action, reason)).await
}
