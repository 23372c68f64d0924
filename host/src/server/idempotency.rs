//! `Idempotency-Key`: a request repeated with the same key gets the first response, kept in the
//! store (48 h, across restarts), without running again; the same key with a different request is
//! refused.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::Problem;
use crate::store::Begun;

/// What the key says about a request.
pub enum Begin {
    /// Run it; its response is kept under this request id.
    New(String),
    /// It ran before: this is the first response.
    Replay(Response),
    /// It is running now, under this request id.
    Running(String),
}

/// The request's `Idempotency-Key`, checked.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let invalid = |detail: &str| Problem::new(StatusCode::BAD_REQUEST, "invalid-header", detail);
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().map_err(|_| invalid("Idempotency-Key must be text"))?;
            if key.is_empty() || key.len() > 255 {
                return Err(invalid("Idempotency-Key must be 1 to 255 characters"));
            }
            Ok(Some(key.to_owned()))
        }
    }
}

/// The sha256 of what identifies a request.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Records the request as begun, or finds the earlier one with the same key.
pub fn begin(app: &AppState, tenant: &str, key: Option<&str>, hash: &str) -> Result<Begin, Problem> {
    match app.store.begin_request(tenant, key, hash)? {
        Begun::New(id) => Ok(Begin::New(id)),
        Begun::Existing(previous) if previous.request_hash != hash => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "this Idempotency-Key was used for a different request; use a new key for a new request",
        )),
        Begun::Existing(previous) => Ok(match (previous.http_status, previous.response) {
            (Some(status), Some(body)) => Begin::Replay(stored(status, &body, true)),
            _ => Begin::Running(previous.id),
        }),
    }
}

/// The refusal for a repeat of a request that is still running.
pub fn in_progress(id: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "request-in-progress",
        format!("the request with this Idempotency-Key is still running (request {id}); send it again later"),
    )
}

/// Keeps a response and answers it.
pub fn finish(app: &AppState, tenant: &str, id: &str, status: StatusCode, body: &str) -> Result<Response, Problem> {
    app.store.finish_request(tenant, id, status.as_u16(), body)?;
    Ok(stored(status.as_u16(), body, false))
}

/// A kept response; `replayed` marks it `Idempotent-Replayed: true`.
pub fn stored(status: u16, body: &str, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let kind = if status.is_success() { "application/json" } else { "application/problem+json" };
    let mut response = (status, [(header::CONTENT_TYPE, kind)], body.to_owned()).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
