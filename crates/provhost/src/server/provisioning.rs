//! The targeted endpoints of the HelloID feature request — re-enforce, update one or all
//! accounts, unmanage, retry — through the same gate, thresholds, commit and audit as a
//! plugin's calls. Each is one line over [`Targeted::run`]; a refusal is answered as a problem
//! and recorded.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::JsonBody;
use super::idempotency::{self, Begin};
use super::ids::{AccountOfPerson, EntitlementOfPerson, OfAction, OfPerson};
use super::keyed::Share;
use super::problem::Problem;
use crate::api::RequestReport;
use crate::gate::Call;
use crate::limits::Limits;
use crate::pipeline::{Execution, Mode, run_request};

/// The optional body of a targeted request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ActionRequest {
    /// Why, for the action's message and the audit trail (at most 1024 bytes of UTF-8; `null`
    /// or absent: the request and the key name it).
    #[serde(default)]
    #[schema(max_length = 1024)]
    reason: Option<String>,
    /// Check and report without committing.
    #[serde(default)]
    dry_run: bool,
}

/// A targeted request: the caller, its place in the tenant's share, the ids `T` of its path and
/// its body.
pub struct Targeted<T> {
    app: Arc<AppState>,
    caller: Caller,
    share: Share,
    headers: HeaderMap,
    /// `POST <path>`: what the audit trail and the default reason call the request.
    summary: String,
    ids: T,
    body: ActionRequest,
}

impl<T: DeserializeOwned + Send> FromRequest<Arc<AppState>> for Targeted<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, app: &Arc<AppState>) -> Result<Self, Problem> {
        let (mut parts, body) = request.into_parts();
        let caller = Caller::from_request_parts(&mut parts, app).await?;
        let share = Share::from_request_parts(&mut parts, app).await?;
        let Path(ids) = Path::<T>::from_request_parts(&mut parts, app)
            .await
            .map_err(|e| Problem::internal(format!("the route {} has ids its type does not take: {e}", parts.uri)))?;
        let (summary, headers) = (format!("{} {}", parts.method, parts.uri.path()), parts.headers.clone());
        let JsonBody(body) = JsonBody::from_request(Request::from_parts(parts, body), app).await?;
        Ok(Self { app: app.clone(), caller, share, headers, summary, ids, body })
    }
}

impl<T: Send + 'static> Targeted<T> {
    /// Decides the call `call` builds from the request's ids and reason, under its
    /// `Idempotency-Key` if it has one, and answers the report or the refusal.
    pub async fn run(self, call: impl FnOnce(T, String) -> Call + Send + 'static) -> Result<Response, Problem> {
        let Targeted { app, caller, share, headers, summary, ids, body } = self;
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
                let call = call(ids, reason);
                let mode = Mode { dry_run: body.dry_run, execution: Execution::Queued };
                run_request(context, &summary, mode, |gate| gate.decide(&call)).map_err(Problem::from)
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
}

/// Re-enforce an entitlement: run its grant again.
#[utoipa::path(post, path = "/provisioning/persons/{personId}/entitlements/{entitlementId}/re-enforce",
    tag = "provisioning", params(EntitlementOfPerson), request_body = ActionRequest,
    responses((status = 200, description = "The planned grant, committed (or blocked by a threshold)", body = RequestReport)))]
pub async fn re_enforce(request: Targeted<EntitlementOfPerson>) -> Result<Response, Problem> {
    request.run(|at, reason| Call::re_enforce(at.person_id, at.entitlement_id, reason)).await
}

/// Update one account of the person.
#[utoipa::path(post, path = "/provisioning/persons/{personId}/accounts/{accountId}/update",
    tag = "provisioning", params(AccountOfPerson), request_body = ActionRequest,
    responses((status = 200, description = "The planned update, committed (or blocked by a threshold)", body = RequestReport)))]
pub async fn update_account(request: Targeted<AccountOfPerson>) -> Result<Response, Problem> {
    request.run(|at, reason| Call::update_account(at.person_id, at.account_id, reason)).await
}

/// Update every account of the person.
#[utoipa::path(post, path = "/provisioning/persons/{personId}/accounts/update",
    tag = "provisioning", params(OfPerson), request_body = ActionRequest,
    responses((status = 200, description = "The planned updates, committed (or blocked by a threshold)", body = RequestReport)))]
pub async fn update_all_accounts(request: Targeted<OfPerson>) -> Result<Response, Problem> {
    request.run(|at, reason| Call::update_all_accounts(at.person_id, reason)).await
}

/// Unmanage an entitlement: stop managing it, the target system keeps it as it is.
#[utoipa::path(post, path = "/provisioning/persons/{personId}/entitlements/{entitlementId}/unmanage",
    tag = "provisioning", params(EntitlementOfPerson), request_body = ActionRequest,
    responses((status = 200, description = "The planned unmanage, committed (or blocked by a threshold)", body = RequestReport)))]
pub async fn unmanage(request: Targeted<EntitlementOfPerson>) -> Result<Response, Problem> {
    request.run(|at, reason| Call::unmanage(at.person_id, at.entitlement_id, reason)).await
}

/// Retry a failed action: a new action, with origin "manual retry".
#[utoipa::path(post, path = "/provisioning/entitlement-actions/{actionId}/retry",
    tag = "provisioning", params(OfAction), request_body = ActionRequest,
    responses((status = 200, description = "The planned retry, committed (or blocked by a threshold)", body = RequestReport)))]
pub async fn retry(request: Targeted<OfAction>) -> Result<Response, Problem> {
    request.run(|at, reason| Call::retry(at.action_id, reason)).await
}
