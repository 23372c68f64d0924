//! Directory reads — persons, their entitlements and accounts, systems — through the tenant's
//! backend (the embedded store, or the platform provhost fronts), every list paged. These are
//! the read endpoints a provhost fronting another reads through.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::{Listing, NoFilter};
use super::problem::Problem;
use crate::backend::{Backend, BackendError};
use crate::policy::Scope;
use crate::refusal::Refusal;

/// Runs a read on the caller's backend (under `persons:read`) off the async workers, since a
/// platform backend blocks on the network.
async fn read<T: Serialize + Send + 'static>(
    app: Arc<AppState>,
    caller: &Caller,
    read: impl FnOnce(&dyn Backend, &str) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, Problem> {
    caller.require(Scope::PersonsRead)?;
    let (backend, tenant) = (app.tenant(caller.tenant()).backend(), caller.tenant().to_owned());
    off_worker(move || read(backend.as_ref(), &tenant).map_err(|e| Problem::from(Refusal::from(e)))).await
}

/// `GET /v1/persons`
pub async fn persons(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, |b, t| b.persons(t)).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// `GET /v1/persons/{personId}`
pub async fn person(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(person): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.person(t, &person)).await?).into_response())
}

/// `GET /v1/persons/{personId}/entitlements`
pub async fn entitlements(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(person): Path<String>,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, move |b, t| b.person(t, &person).and_then(|p| b.entitlements(t, &p.id))).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// `GET /v1/persons/{personId}/accounts`
pub async fn accounts(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(person): Path<String>,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, move |b, t| b.person(t, &person).and_then(|p| b.accounts(t, &p.id))).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// `GET /v1/entitlements/{entitlementId}`
pub async fn entitlement(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.entitlement(t, &id)).await?).into_response())
}

/// `GET /v1/accounts/{accountId}`
pub async fn account(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.account(t, &id)).await?).into_response())
}

/// `GET /v1/systems/{systemId}`: the system and how many entitlements it holds (what percentage
/// thresholds count against).
pub async fn system(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (store, lookup) = (app.store.clone(), id.clone());
    let (known, count) =
        read(app, &caller, move |b, t| Ok((store.system(t, &lookup).ok(), b.entitlement_count(t, &lookup)?))).await?;
    match known {
        Some(system) => {
            Ok(Json(json!({ "id": system.id, "name": system.name, "entitlementCount": count })).into_response())
        }
        None if count > 0 => Ok(Json(json!({ "id": id, "name": id, "entitlementCount": count })).into_response()),
        None => {
            Err(Problem::from(Refusal::NotFound(format!("system '{id}' not found in tenant '{}'", caller.tenant()))))
        }
    }
}
