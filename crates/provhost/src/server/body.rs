//! Request bodies and paging: JSON read with errors that say what was wrong (malformed 400, wrong
//! shape 422, too large 413, not JSON 415), and `limit`/`offset` on every list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::Problem;
use crate::api::Paging;

/// A JSON body; an empty body reads as `T::default()` when `T` allows it through `Option`.
pub struct JsonBody<T>(pub T);

/// Decodes a JSON object, telling malformed JSON (400) from JSON of the wrong shape (422). Only
/// an object is taken: serde would otherwise read a record from an array of its fields, so `[]`
/// would pass as a body with every field at its default.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        let detail = "the JSON body must be an object, e.g. {\"reason\": \"...\"}";
        return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", detail));
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", format!("the JSON body does not fit: {e}"))
        }
        _ => Problem::new(StatusCode::BAD_REQUEST, "malformed-json", format!("the body is not valid JSON: {e}")),
    })
}

/// Reads the raw body within the server's size limit and its body deadline, checking it is
/// declared as JSON. A body that has not arrived whole by the deadline (a client trickling it) is
/// answered 408 and its connection closed.
pub async fn raw_body(req: Request, app: &Arc<AppState>) -> Result<Bytes, Problem> {
    if let Some(kind) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && !kind.starts_with("application/json")
        && !kind.contains("+json")
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("the body must be JSON (Content-Type: application/json), not {kind}"),
        ));
    }
    let deadline = app.http.body_timeout;
    let read = tokio::time::timeout(deadline, Bytes::from_request(req, app)).await.map_err(|_| {
        let detail = format!("the body did not arrive whole within {} ms; send it at once", deadline.as_millis());
        Problem::new(StatusCode::REQUEST_TIMEOUT, "body-timeout", detail).closing()
    })?;
    read.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "the body is larger than this server accepts")
        } else {
            Problem::new(e.status(), "unreadable-body", format!("the body could not be read: {e}"))
        }
    })
}

impl<T: DeserializeOwned + Default> FromRequest<Arc<AppState>> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, app: &Arc<AppState>) -> Result<Self, Problem> {
        let bytes = raw_body(req, app).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        decode(&bytes).map(JsonBody)
    }
}

/// `paging`, if its `limit` is 1 to [`MAX_LIMIT`] and its `offset` at most [`MAX_OFFSET`];
/// otherwise what does not fit.
pub fn bounded(paging: Paging) -> Result<Paging, String> {
    if paging.limit == 0 || paging.limit > MAX_LIMIT {
        return Err(format!("limit must be 1 to {MAX_LIMIT}, not {}", paging.limit));
    }
    if paging.offset > MAX_OFFSET {
        return Err(format!("offset must be 0 to {MAX_OFFSET}, not {}", paging.offset));
    }
    Ok(paging)
}

/// No filters: a list that only pages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilter {}

/// The largest `offset` a list takes; with the largest `limit` it stays far inside every integer
/// type it meets on the way to the store.
pub const MAX_OFFSET: usize = 1_000_000_000;

/// The largest `limit` a list takes.
pub const MAX_LIMIT: usize = 500;

/// A list's query: `limit` and `offset`, and the list's own filters `F` (an unknown parameter, or
/// one given twice, is a 400 naming it).
pub struct Listing<F>(pub F, pub Paging);

impl<F: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for Listing<F> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Problem> {
        let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", detail);
        let QueryArgs(given) = QueryArgs::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        let mut pairs = std::collections::BTreeMap::new();
        for (name, value) in given {
            if pairs.contains_key(&name) {
                return Err(invalid(format!("{name} is given more than once; give each parameter once")));
            }
            pairs.insert(name, value);
        }
        let mut number = |name: &str, default: usize| -> Result<usize, Problem> {
            match pairs.remove(name) {
                None => Ok(default),
                Some(text) => text.parse().map_err(|_| invalid(format!("{name} must be a whole number, not '{text}'"))),
            }
        };
        let paging = Paging { limit: number("limit", 50)?, offset: number("offset", 0)? };
        let paging = bounded(paging).map_err(invalid)?;
        let filters = serde_json::to_value(pairs).unwrap_or_default();
        let filter = serde_json::from_value(filters).map_err(|e| invalid(format!("query: {e}")))?;
        Ok(Listing(filter, paging))
    }
}

/// Query parameters, with a problem (400) naming what was wrong instead of a bare text error.
pub struct QueryArgs<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryArgs<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryArgs(q.0))
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", e.body_text()))
    }
}
