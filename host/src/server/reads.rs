//! Reads of provhost's own records (actions, the audit trail, webhook deliveries), every list
//! paged. What changes them is in `decisions`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::Listing;
use super::ids::OfAction;
use super::problem::Problem;
use crate::api::{DeliveryStatus, Page};
use crate::audit::AuditRecord;
use crate::model::{Action, ActionFilter, ActionState, parse_rfc3339};
use crate::store::{AuditFilter, Delivery, HistoryEntry};

/// Filters of `GET /v1/actions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// Only this person's.
    person: Option<String>,
    /// Only in this state.
    state: Option<ActionState>,
    /// Only against this system.
    system: Option<String>,
}

/// The actions provhost committed, newest first.
#[utoipa::path(get, path = "/v1/actions", tag = "actions", params(ActionQuery),
    responses((status = 200, body = Page<Action>)))]
pub async fn actions(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<ActionQuery>,
) -> Result<Response, Problem> {
    let filter = ActionFilter { person: q.person, state: q.state, system: q.system };
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.actions_page(&tenant, &filter, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

/// Filters of `GET /v1/actions/blocked`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlockedQuery {
    /// Only against this system.
    system: Option<String>,
}

/// The actions a threshold blocked, which wait for approval.
#[utoipa::path(get, path = "/v1/actions/blocked", tag = "actions", params(BlockedQuery),
    responses((status = 200, body = Page<Action>)))]
pub async fn blocked(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<BlockedQuery>,
) -> Result<Response, Problem> {
    let blocked = ActionQuery { person: None, state: Some(ActionState::Blocked), system: q.system };
    actions(State(app), caller, Listing(blocked, paging)).await
}

/// An action with every state it went through.
#[derive(Serialize, ToSchema)]
pub struct ActionWithHistory {
    /// The action.
    #[serde(flatten)]
    action: Action,
    /// Its states, oldest first.
    history: Vec<HistoryEntry>,
}

/// The action with its history.
#[utoipa::path(get, path = "/v1/actions/{actionId}", tag = "actions", params(OfAction),
    responses((status = 200, body = ActionWithHistory)))]
pub async fn action(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfAction { action_id: id }): Path<OfAction>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant().to_owned();
    let (action, history) =
        off_worker(move || Ok((app.store.action(&tenant, &id)?, app.store.action_history(&tenant, &id)?))).await?;
    Ok(Json(ActionWithHistory { action, history }).into_response())
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// About this person.
    person: Option<String>,
    /// Of this plugin.
    plugin: Option<String>,
    /// About this action.
    action: Option<String>,
    /// With this decision or outcome (`allowed`, a refusal code, an outcome or an action state).
    outcome: Option<String>,
    /// Caused by this API key id.
    key: Option<String>,
    /// Of this kind: `invocation`, `action-state`, `approval`, `rejection`, `key`, `system` or `delivery`.
    kind: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
}

/// The tenant's audit records, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditRecord>)))]
pub async fn audit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<AuditQuery>,
) -> Result<Response, Problem> {
    let time = |name: &str, value: Option<String>| {
        value
            .map(|v| parse_rfc3339(&v))
            .transpose()
            .map_err(|m| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", format!("{name}: {m}")))
    };
    let (since, until) = (time("since", q.since)?, time("until", q.until)?);
    let filter = AuditFilter {
        tenant: Some(caller.tenant().to_owned()),
        person: q.person,
        plugin: q.plugin,
        action: q.action,
        decision: q.outcome,
        key_id: q.key,
        kind: q.kind,
        since,
        until,
    };
    let items = off_worker(move || Ok(app.store.audit(&filter, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

/// Filters of `GET /v1/webhooks/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only in this state: `dead` lists the dead letters.
    status: Option<DeliveryStatus>,
}

/// The tenant's notification deliveries, newest first; `?status=dead` is the dead-letter list.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = Page<Delivery>)))]
pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<DeliveryQuery>,
) -> Result<Response, Problem> {
    let (tenant, status) = (caller.tenant().to_owned(), q.status.map(DeliveryStatus::as_str));
    let items = off_worker(move || Ok(app.store.deliveries(&tenant, status, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}
