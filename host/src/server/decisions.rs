//! Decisions a person takes over HTTP: approving or rejecting blocked actions, and re-driving a
//! dead webhook delivery. Each is checked, committed and audited like any other change.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::keyed::Share;
use super::problem::Problem;
use crate::policy::Scope;
use crate::store::Verdict;

async fn decide(
    (app, caller, share): (Arc<AppState>, Caller, Share),
    id: String,
    decision: Verdict,
) -> Result<Response, Problem> {
    caller.require(Scope::ActionsApprove)?;
    // An approval's claims carry an owner of their own, not the worker's.
    let (context, executor) = (app.context(&caller.0), app.executor.another());
    let done = off_worker(move || {
        // The share is held by the decision itself, so a caller that hangs up does not free it early.
        let _share = share;
        Ok(crate::pipeline::decide(&context, &executor, std::slice::from_ref(&id), decision)??)
    })
    .await?;
    Ok(Json(json!({ "actions": done })).into_response())
}

/// `POST /v1/actions/{actionId}/approve`: the blocked action runs (scope `actions:approve`).
pub async fn approve(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    decide((app, caller, share), id, Verdict::Approve).await
}

/// `POST /v1/actions/{actionId}/reject`: the blocked action ends `rejected` (scope `actions:approve`).
pub async fn reject(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    decide((app, caller, share), id, Verdict::Reject).await
}

/// `POST /v1/webhooks/deliveries/{deliveryId}/redrive` (scope `events:submit`): a dead delivery is tried again.
pub async fn redrive(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Scope::EventsSubmit)?;
    let (tenant, key, delivery) = (caller.tenant().to_owned(), caller.0.id.clone(), id.clone());
    off_worker(move || Ok(app.store.redrive(&tenant, &delivery, &key)?)).await?;
    Ok(Json(json!({ "id": id, "status": "pending" })).into_response())
}
