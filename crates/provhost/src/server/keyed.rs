//! The way into every route under an API key: the key is checked off the async workers, and the
//! request is admitted under its tenant's share before the handler runs — a `GET` (or `HEAD`) as
//! a read, a `POST` as a change (see `admission`). The handler finds the verified [`Caller`] and the
//! [`Share`] it holds in the request; the place is held until the answer's body is sent. A route
//! whose scope the table checks has it checked next, before the handler runs.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Extension;
use axum::body::{Body, Bytes};
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

impl From<Admitted> for Share {
    fn from(admitted: Admitted) -> Self {
        Share { _held: Arc::new(admitted) }
    }
}

/// Checks the key in `headers` and admits the request under its tenant's share for `work`.
pub async fn enter(app: &Arc<AppState>, headers: &HeaderMap, work: Work) -> Result<(Caller, Share), Problem> {
    let caller = Caller::verify(headers, app).await?;
    let admitted = app.admission.admit(caller.tenant(), work).inspect_err(|p| app.metrics.refusal(p.kind))?;
    Ok((caller, admitted.into()))
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
    Ok(response.map(|body| Body::new(Holding::new(body, share))))
}

/// A response body that holds its request's place until it is sent (its last piece is taken for
/// the connection's write buffer), or its connection is cut: a large answer to a client that reads
/// slowly keeps counting against its tenant's share. It hands its data on in pieces of at most
/// [`PIECE`] bytes, so that the connection takes the next only when it wrote the ones before.
struct Holding {
    body: Body,
    rest: Bytes,
    _share: Share,
}

/// The largest piece of an answer's body handed to the connection at once.
const PIECE: usize = 64 * 1024;

impl Holding {
    fn new(body: Body, share: Share) -> Self {
        Self { body, rest: Bytes::new(), _share: share }
    }

    /// The next piece of `data`, keeping what follows it for the next poll.
    fn piece(&mut self, mut data: Bytes) -> http_body::Frame<Bytes> {
        if data.len() > PIECE {
            self.rest = data.split_off(PIECE);
        }
        http_body::Frame::data(data)
    }
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if !this.rest.is_empty() {
            let rest = std::mem::take(&mut this.rest);
            return Poll::Ready(Some(Ok(this.piece(rest))));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(match frame.into_data() {
                Ok(data) => this.piece(data),
                Err(other) => other,
            }))),
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let (inner, rest) = (self.body.size_hint(), self.rest.len() as u64);
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
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
