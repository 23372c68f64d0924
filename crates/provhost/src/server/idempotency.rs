//! `Idempotency-Key`: a request repeated with the same key gets the first response, kept in the
//! store (48 h, across restarts), without running again; the same key with a different request,
//! or from a different API key, is refused. A kept request always ends with a response, even when
//! its caller disconnects or the work fails inside provhost, so its key never stays "in progress".

use std::future::Future;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::AppState;
use super::blocking::off_worker;
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

/// The longest `Idempotency-Key` taken, in characters.
pub const MAX_KEY: usize = 255;

/// The request's `Idempotency-Key`, checked.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let invalid = |detail: &str| Problem::new(StatusCode::BAD_REQUEST, "invalid-header", detail);
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().map_err(|_| invalid("Idempotency-Key must be text"))?;
            if key.is_empty() || key.len() > MAX_KEY {
                return Err(invalid(&format!("Idempotency-Key must be 1 to {MAX_KEY} characters, not {}", key.len())));
            }
            Ok(Some(key.to_owned()))
        }
    }
}

/// The sha256 of what identifies a request: the API key that sent it and `parts`. A repeat from
/// another key does not match, so a stored response is replayed only to the key (and so the
/// scopes) that was checked for the original.
pub fn digest(key_id: &str, parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    hasher.update((key_id.len() as u64).to_be_bytes());
    hasher.update(key_id.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// Records the request as begun, or finds the earlier one with the same key (off the async
/// workers: it is a store write).
pub async fn begin(app: &Arc<AppState>, tenant: &str, key: Option<&str>, hash: &str) -> Result<Begin, Problem> {
    let (state, tenant, key, asked) = (app.clone(), tenant.to_owned(), key.map(str::to_owned), hash.to_owned());
    let begun = off_worker(move || Ok(state.store.begin_request(&tenant, key.as_deref(), &asked)?)).await?;
    match begun {
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

/// Runs `work` in a task of its own and keeps its response under request `id` when it ends,
/// whether or not anyone still waits: a caller that disconnects drops only its wait, and work
/// that fails inside provhost is kept as a 500 problem.
pub fn keep<W>(app: Arc<AppState>, tenant: String, id: String, work: W) -> JoinHandle<Result<Response, Problem>>
where
    W: Future<Output = (StatusCode, String)> + Send + 'static,
{
    tokio::spawn(async move {
        let (status, body) = tokio::spawn(work).await.unwrap_or_else(|e| {
            let problem = Problem::internal(format!("kept request {id} failed inside provhost: {e}"));
            (problem.status, problem.body().to_string())
        });
        let response = stored(status.as_u16(), &body, false);
        off_worker(move || Ok(app.store.finish_request(&tenant, &id, status.as_u16(), &body)?)).await?;
        Ok(response)
    })
}

/// Waits for a kept request's response.
pub async fn answer(kept: JoinHandle<Result<Response, Problem>>) -> Result<Response, Problem> {
    kept.await.unwrap_or_else(|e| Err(Problem::internal(format!("a kept request's task failed: {e}"))))
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
