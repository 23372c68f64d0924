//! Directory reads — persons, their entitlements and accounts, systems — through the tenant's
//! backend (the embedded store, or the platform provhost fronts), every list paged. These are
//! the read endpoints a provhost fronting another reads through.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::{Listing, NoFilter};
use super::ids::{OfAccount, OfEntitlement, OfPerson, OfSystem};
use super::problem::Problem;
use crate::api::Page;
use crate::backend::{Backend, BackendError};
use crate::model::{Account, Entitlement, Person};
use crate::refusal::Refusal;

/// Runs a read on the caller's backend off the async workers, since a platform backend blocks on
/// the network.
async fn read<T: Serialize + Send + 'static>(
    app: Arc<AppState>,
    caller: &Caller,
    read: impl FnOnce(&dyn Backend, &str) -> Result<T, BackendError> + Send + 'static,
) -> Result<T, Problem> {
    let (backend, tenant) = (app.tenant(caller.tenant()).backend(), caller.tenant().to_owned());
    off_worker(move || read(backend.as_ref(), &tenant).map_err(|e| Problem::from(Refusal::from(e)))).await
}

/// The persons of the key's tenant.
#[utoipa::path(get, path = "/v1/persons", tag = "directory", responses((status = 200, body = Page<Person>)))]
pub async fn persons(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, |b, t| b.persons(t)).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// One person.
#[utoipa::path(get, path = "/v1/persons/{personId}", tag = "directory", params(OfPerson),
    responses((status = 200, body = Person)))]
pub async fn person(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfPerson { person_id }): Path<OfPerson>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.person(t, &person_id)).await?).into_response())
}

/// The person's entitlements.
#[utoipa::path(get, path = "/v1/persons/{personId}/entitlements", tag = "directory", params(OfPerson),
    responses((status = 200, body = Page<Entitlement>)))]
pub async fn entitlements(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfPerson { person_id }): Path<OfPerson>,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, move |b, t| b.person(t, &person_id).and_then(|p| b.entitlements(t, &p.id))).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// The person's accounts.
#[utoipa::path(get, path = "/v1/persons/{personId}/accounts", tag = "directory", params(OfPerson),
    responses((status = 200, body = Page<Account>)))]
pub async fn accounts(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfPerson { person_id }): Path<OfPerson>,
    Listing(NoFilter {}, paging): Listing<NoFilter>,
) -> Result<Response, Problem> {
    let all = read(app, &caller, move |b, t| b.person(t, &person_id).and_then(|p| b.accounts(t, &p.id))).await?;
    Ok(Json(paging.slice(all)).into_response())
}

/// One entitlement.
#[utoipa::path(get, path = "/v1/entitlements/{entitlementId}", tag = "directory", params(OfEntitlement),
    responses((status = 200, body = Entitlement)))]
pub async fn entitlement(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfEntitlement { entitlement_id }): Path<OfEntitlement>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.entitlement(t, &entitlement_id)).await?).into_response())
}

/// One account.
#[utoipa::path(get, path = "/v1/accounts/{accountId}", tag = "directory", params(OfAccount),
    responses((status = 200, body = Account)))]
pub async fn account(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfAccount { account_id }): Path<OfAccount>,
) -> Result<Response, Problem> {
    Ok(Json(read(app, &caller, move |b, t| b.account(t, &account_id)).await?).into_response())
}

/// A target system as the directory shows it.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemCount {
    /// The system's id.
    id: String,
    /// Name for display.
    name: String,
    /// How many entitlements it holds: what percentage thresholds count against.
    entitlement_count: u32,
}

/// The system and how many entitlements it holds (what percentage thresholds count against).
#[utoipa::path(get, path = "/v1/systems/{systemId}", tag = "directory", params(OfSystem),
    responses((status = 200, body = SystemCount)))]
pub async fn system(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfSystem { system_id: id }): Path<OfSystem>,
) -> Result<Response, Problem> {
    let (store, lookup) = (app.store.clone(), id.clone());
    let (known, count) =
        read(app, &caller, move |b, t| Ok((store.system(t, &lookup).ok(), b.entitlement_count(t, &lookup)?))).await?;
    let (id, name) = match known {
        Some(system) => (system.id, system.name),
        None if count > 0 => (id.clone(), id),
        None => {
            let missing = format!("system '{id}' not found in tenant '{}'", caller.tenant());
            return Err(Problem::from(Refusal::NotFound(missing)));
        }
    };
    Ok(Json(SystemCount { id, name, entitlement_count: count }).into_response())
}
