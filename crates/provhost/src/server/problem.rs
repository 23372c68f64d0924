//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a
//! detail a person can act on.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::pipeline::RunError;
use crate::refusal::Refusal;
use crate::store::{KeyError, StoreError};

/// One problem.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short name, e.g. `not-found`; the `type` is `/problems/<kind>`.
    pub kind: &'static str,
    /// What went wrong and what to do.
    pub detail: String,
    /// Extension members.
    pub extra: Value,
    /// Seconds after which the request may be tried again (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Close the connection after answering (`Connection: close`).
    pub close: bool,
}

impl Problem {
    /// A problem with a status, a kind and a detail.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self { status, kind, detail: detail.into(), extra: Value::Null, retry_after: None, close: false }
    }

    /// A failure inside provhost (a bug, a task that panicked): `what` is logged, and the caller
    /// is told only that it was.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        tracing::error!("{what}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "provhost failed on this request; it was logged")
    }

    /// The same problem, closing the connection after it is answered: what is left of the request
    /// is not read.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The same problem, telling the caller to try again after `seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The response body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("/problems/{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let (Value::Object(extra), Some(map)) = (&self.extra, body.as_object_mut()) {
            map.extend(extra.clone());
        }
        body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="provhost", Bearer"#));
        }
        response
    }
}

impl From<Refusal> for Problem {
    fn from(r: Refusal) -> Self {
        let status = match &r {
            Refusal::Forbidden(_) | Refusal::Excluded(_) => StatusCode::FORBIDDEN,
            Refusal::NotFound(_) => StatusCode::NOT_FOUND,
            Refusal::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::Conflict(_) => StatusCode::CONFLICT,
            Refusal::ThresholdExceeded { .. } | Refusal::BudgetExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let extra = match &r {
            Refusal::ThresholdExceeded { system, kind, limit, count, .. } => {
                json!({ "code": r.code(), "system": system, "kind": kind, "limit": limit, "count": count })
            }
            _ => json!({ "code": r.code() }),
        };
        Problem { status, kind: r.code(), detail: r.to_string(), extra, retry_after: None, close: false }
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()),
            StoreError::Conflict(m) => Problem::new(StatusCode::CONFLICT, "conflict", m),
            other => {
                tracing::error!("store failure: {other}");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", format!("the store failed: {other}"))
            }
        }
    }
}

impl From<RunError> for Problem {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Refused(refusal) => refusal.into(),
            RunError::UnknownTarget(m) => Problem::new(StatusCode::NOT_FOUND, "not-found", m),
            RunError::Backend(m) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "backend-unavailable", m),
            RunError::Store(e) => e.into(),
            RunError::Busy(m) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "host-busy", m).retry_after(1),
        }
    }
}

impl From<KeyError> for Problem {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Auth(a) => Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", a.to_string()),
            KeyError::Store(s) => s.into(),
        }
    }
}
