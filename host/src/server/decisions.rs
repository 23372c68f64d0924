//! Decisions a person takes over HTTP: approving or rejecting blocked actions, and re-driving a
//! dead webhook delivery. Each is checked, committed and audited like any other change.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::problem::Problem;
use crate::policy::Scope;
use crate::store::Decision;

async fn decide(app: Arc<AppState>, caller: Caller, id: String, decision: Decision) -> Result<Response, Problem> {
    caller.require(Scope::ActionsApprove)?;
    // An approval's claims carry an owner of their own, not the worker's.
    let (context, executor) = (app.context(&caller.0), app.executor.another());
    let done = tokio::task::spawn_blocking(move || {
        crate::pipeline::decide(&context, &executor, std::slice::from_ref(&id), decision)
    })
    .await
    .map_err(|e| {
        Problem::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the decision failed inside provhost: {e}"),
        )
    })???;
    Ok(Json(json!({ "actions": done })).into_response())
}

/// `POST /v1/actions/{actionId}/approve`: the blocked action runs (scope `actions:approve`).
pub async fn approve(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    decide(app, caller, id, Decision::Approve).await
}

/// `POST /v1/actions/{actionId}/reject`: the blocked action ends `rejected` (scope `actions:approve`).
pub async fn reject(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    decide(app, caller, id, Decision::Reject).await
}

/// `POST /v1/webhooks/deliveries/{deliveryId}/redrive` (scope `events:submit`): a dead delivery is tried again.
pub async fn redrive(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Scope::EventsSubmit)?;
    app.store.redrive(caller.tenant(), &id, &caller.0.id)?;
    Ok(Json(json!({ "id": id, "status": "pending" })).into_response())
}
