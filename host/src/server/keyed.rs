//! The way into every route under an API key: the key is checked off the async workers, and the
//! request is admitted under its tenant's share before the handler runs — a `GET` (or `HEAD`) as
//! a read, a `POST` as a change (see `admission`). The handler finds the verified [`Caller`] and the
//! [`Share`] it holds in the request. A route whose scope the table checks has it checked next,
//! before the handler runs.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use super::admission::{Admitted, Work};
use super::auth::Caller;
use super::problem::Problem;
use crate::policy::Scope;

/// The place a request holds in its tenant's share. A handler that hands its work to a task of
/// its own moves a clone into it, so that a caller who hangs up does not free the place while
/// the work still runs.
#[derive(Clone)]
pub struct Share {
    _held: Arc<Admitted>,
}

/// Checks the key in `headers` and admits the request under its tenant's share for `work`.
pub async fn enter(app: &Arc<AppState>, headers: &HeaderMap, work: Work) -> Result<(Caller, Share), Problem> {
    let caller = Caller::verify(headers, app).await?;
    let admitted = app.admission.admit(caller.tenant(), work).inspect_err(|p| app.metrics.refusal(p.kind))?;
    Ok((caller, Share { _held: Arc::new(admitted) }))
}

/// The middleware in front of every keyed route. It finds the state in the request (the router
/// puts it there), so that the route table is built without one.
pub async fn admit(
    Extension(app): Extension<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let work = if request.method().is_safe() { Work::Read } else { Work::Change };
    let (caller, share) = enter(&app, request.headers(), work).await?;
    request.extensions_mut().insert(caller);
    request.extensions_mut().insert(share.clone());
    let response = next.run(request).await;
    drop(share);
    Ok(response)
}

/// The middleware in front of a route whose scope the table checks: the caller `admit` verified
/// must be granted `scope`.
pub async fn require(scope: Scope, request: Request, next: Next) -> Result<Response, Problem> {
    let caller = request.extensions().get::<Caller>().ok_or_else(|| {
        Problem::internal(format!("the route {} is not behind the key check and admission", request.uri().path()))
    })?;
    caller.require(scope)?;
    Ok(next.run(request).await)
}

/// What the middleware left in the request for its handler.
fn left_by_admit<T: Clone + Send + Sync + 'static>(parts: &Parts) -> Result<T, Problem> {
    parts.extensions.get::<T>().cloned().ok_or_else(|| {
        Problem::internal(format!("the route {} is not behind the key check and admission", parts.uri.path()))
    })
}

/// The caller the key check in front of the route verified.
impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Self, Problem> {
        left_by_admit(parts)
    }
}

/// The place admission gave the request.
impl FromRequestParts<Arc<AppState>> for Share {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &Arc<AppState>) -> Result<Self, Problem> {
        left_by_admit(parts)
    }
}
