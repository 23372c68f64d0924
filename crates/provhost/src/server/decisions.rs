//! Decisions a person takes over HTTP: approving or rejecting blocked actions, and re-driving a
//! dead webhook delivery. Each is checked, committed and audited like any other change.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::ids::{OfAction, OfDelivery};
use super::keyed::Share;
use super::problem::Problem;
use crate::api::DeliveryStatus;
use crate::model::Action;
use crate::store::{KeyRecord, Verdict};

/// The actions a decision ended or started.
#[derive(Serialize, ToSchema)]
pub struct Decided {
    /// Each action as it stands after the decision.
    actions: Vec<Action>,
}

/// A delivery queued again.
#[derive(Serialize, ToSchema)]
pub struct Redriven {
    /// The delivery.
    id: String,
    /// `pending`.
    status: DeliveryStatus,
}

/// Decides on the blocked actions `ids` under `key`, off the async workers, holding `place` (the
/// request's place in its tenant's share) until the decision is made, so that a caller who hangs
/// up does not free it early. The API and the console decide through this one function.
pub async fn decide_as<P: Send + 'static>(
    app: &Arc<AppState>,
    key: &KeyRecord,
    place: P,
    ids: Vec<String>,
    decision: Verdict,
) -> Result<Vec<Action>, Problem> {
    // An approval's claims carry an owner of their own, not the worker's.
    let (context, executor) = (app.context(key), app.executor.another());
    off_worker(move || {
        let _place = place;
        Ok(crate::pipeline::decide(&context, &executor, &ids, decision)?)
    })
    .await
}

async fn decide(
    app: Arc<AppState>,
    caller: Caller,
    share: Share,
    id: String,
    decision: Verdict,
) -> Result<Response, Problem> {
    let done = decide_as(&app, &caller.0, share, vec![id], decision).await?;
    Ok(Json(Decided { actions: done }).into_response())
}

/// Approve a blocked action: it is carried out before the answer; the deciding key is recorded.
#[utoipa::path(post, path = "/v1/actions/{actionId}/approve", tag = "actions", params(OfAction),
    responses((status = 200, body = Decided)))]
pub async fn approve(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    Path(OfAction { action_id }): Path<OfAction>,
) -> Result<Response, Problem> {
    decide(app, caller, share, action_id, Verdict::Approve).await
}

/// Reject a blocked action: it ends `rejected`; the deciding key is recorded.
#[utoipa::path(post, path = "/v1/actions/{actionId}/reject", tag = "actions", params(OfAction),
    responses((status = 200, body = Decided)))]
pub async fn reject(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    share: Share,
    Path(OfAction { action_id }): Path<OfAction>,
) -> Result<Response, Problem> {
    decide(app, caller, share, action_id, Verdict::Reject).await
}

/// Send a dead delivery again.
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{deliveryId}/redrive", tag = "webhooks", params(OfDelivery),
    responses((status = 200, body = Redriven)))]
pub async fn redrive(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfDelivery { delivery_id: id }): Path<OfDelivery>,
) -> Result<Response, Problem> {
    let (tenant, key, delivery) = (caller.tenant().to_owned(), caller.0.id.clone(), id.clone());
    off_worker(move || Ok(app.store.redrive(&tenant, &delivery, &key)?)).await?;
    Ok(Json(Redriven { id, status: DeliveryStatus::Pending }).into_response())
}
