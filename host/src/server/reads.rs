//! Reads of provhost's own records (actions, the audit trail, webhook deliveries), every list
//! paged. What changes them is in `decisions`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::Listing;
use super::problem::Problem;
use crate::model::{ActionFilter, ActionState, parse_rfc3339};
use crate::policy::Scope;
use crate::store::AuditFilter;

/// Filters of `GET /v1/actions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    person: Option<String>,
    state: Option<ActionState>,
    system: Option<String>,
}

/// `GET /v1/actions`
pub async fn actions(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<ActionQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::PersonsRead)?;
    let filter = ActionFilter { person: q.person, state: q.state, system: q.system };
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.actions_page(&tenant, &filter, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

/// Filters of `GET /v1/actions/blocked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedQuery {
    system: Option<String>,
}

/// `GET /v1/actions/blocked`
pub async fn blocked(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<BlockedQuery>,
) -> Result<Response, Problem> {
    let blocked = ActionQuery { person: None, state: Some(ActionState::Blocked), system: q.system };
    actions(State(app), caller, Listing(blocked, paging)).await
}

/// `GET /v1/actions/{actionId}`: the action with its history.
pub async fn action(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Scope::PersonsRead)?;
    let tenant = caller.tenant().to_owned();
    let (action, history) =
        off_worker(move || Ok((app.store.action(&tenant, &id)?, app.store.action_history(&tenant, &id)?))).await?;
    let mut body = serde_json::to_value(action).unwrap_or_default();
    body["history"] = serde_json::to_value(history).unwrap_or_default();
    Ok(Json(body).into_response())
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    person: Option<String>,
    plugin: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    key: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/audit` (scope `audit:read`): the tenant's records, oldest first.
pub async fn audit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<AuditQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::AuditRead)?;
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    status: Option<String>,
}

/// `GET /v1/webhooks/deliveries?status=dead` (scope `audit:read`): the dead-letter list and the rest.
pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<DeliveryQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::AuditRead)?;
    if let Some(status) = q.status.as_deref().filter(|s| !["pending", "delivered", "dead"].contains(s)) {
        return Err(Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            format!("status must be pending, delivered or dead, not '{status}'"),
        ));
    }
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.deliveries(&tenant, q.status.as_deref(), paging.limit + 1, paging.offset)?))
            .await?;
    Ok(Json(paging.page(items)).into_response())
}
