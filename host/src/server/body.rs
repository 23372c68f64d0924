//! Request bodies and paging: JSON read with errors that say what was wrong (malformed 400, wrong
//! shape 422, too large 413, not JSON 415), and `limit`/`offset` on every list.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// A JSON body; an empty body reads as `T::default()` when `T` allows it through `Option`.
pub struct JsonBody<T>(pub T);

/// Decodes JSON bytes, telling malformed JSON (400) from JSON of the wrong shape (422).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body", format!("the JSON body does not fit: {e}"))
        }
        _ => Problem::new(StatusCode::BAD_REQUEST, "malformed-json", format!("the body is not valid JSON: {e}")),
    })
}

/// Reads the raw body within the server's size limit, checking it is declared as JSON.
pub async fn raw_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, Problem> {
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
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", "the body is larger than this server accepts")
        } else {
            Problem::new(e.status(), "unreadable-body", format!("the body could not be read: {e}"))
        }
    })
}

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let bytes = raw_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(T::default()));
        }
        decode(&bytes).map(JsonBody)
    }
}

/// `?limit=&offset=` on a list.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// At most this many items (1–500, default 50).
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Skip this many.
    #[serde(default)]
    pub offset: usize,
}

fn default_limit() -> usize {
    50
}

impl Paging {
    /// The limit, checked.
    pub fn checked(self) -> Result<Self, Problem> {
        if self.limit == 0 || self.limit > 500 {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                format!("limit must be 1 to 500, not {}", self.limit),
            ));
        }
        Ok(self)
    }

    /// A page of `items` fetched with one more than the limit, so it can tell whether more follow.
    pub fn page<T: Serialize>(self, mut items: Vec<T>) -> Page<T> {
        let more = items.len() > self.limit;
        items.truncate(self.limit);
        Page { next_offset: more.then_some(self.offset + self.limit), limit: self.limit, offset: self.offset, items }
    }
}

/// One page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The limit used.
    pub limit: usize,
    /// The offset used.
    pub offset: usize,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<usize>,
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
