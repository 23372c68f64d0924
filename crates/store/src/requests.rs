//! HTTP requests kept for idempotency (a repeat returns the first response) and for the status
//! of asynchronous ones.

use serde::Serialize;

use super::StoreError;

/// A kept request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptRequest {
    /// Its id (the status URL names it).
    pub id: String,
    /// The sha256 of what was asked, to tell a true repeat from a reused key.
    pub request_hash: String,
    /// Whether it is still running.
    pub status: RequestStatus,
    /// The HTTP status of the response, once done.
    pub http_status: Option<u16>,
    /// The response body, once done.
    pub response: Option<String>,
}

/// Where a kept request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Still running.
    Running,
    /// Answered: `httpStatus` and `response` hold the answer.
    Done,
}

impl std::str::FromStr for RequestStatus {
    type Err = String;

    /// The status as the store keeps it: `running` or `done`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "running" => Ok(RequestStatus::Running),
            "done" => Ok(RequestStatus::Done),
            other => Err(format!("'{other}' is not a request status (running or done)")),
        }
    }
}

/// What beginning a request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// A new request, now `running`, with this id.
    New(String),
    /// A request with the same idempotency key exists.
    Existing(KeptRequest),
}

/// Requests kept for idempotency and status.
pub trait RequestStore {
    /// Records a request as running; with an idempotency key that was used before, returns the
    /// earlier request instead.
    fn begin_request(
        &self,
        tenant: &str,
        idempotency_key: Option<&str>,
        request_hash: &str,
    ) -> Result<Begun, StoreError>;

    /// Keeps a request's response.
    fn finish_request(&self, tenant: &str, id: &str, http_status: u16, response: &str) -> Result<(), StoreError>;

    /// A kept request of the tenant.
    fn request(&self, tenant: &str, id: &str) -> Result<Option<KeptRequest>, StoreError>;

    /// At start-up: requests still `running` were cut off by a stop; they end with a response
    /// that says so (their invocation, if any, is in the audit trail). Returns how many were cut
    /// off.
    fn settle_requests(&self) -> Result<usize, StoreError>;

    /// Forgets requests older than `keep`: their `Idempotency-Key` may be used again, and their
    /// status is no longer shown. Returns how many were forgotten.
    fn forget_requests(&self, keep: std::time::Duration) -> Result<usize, StoreError>;
}

/// The response a request cut off by a stop ends with.
pub(super) fn interrupted_response() -> String {
    serde_json::json!({
        "type": "/problems/interrupted",
        "title": "Interrupted",
        "status": 503,
        "detail": "provhost stopped while this request ran; look its invocation up in the audit trail before sending it again under a new Idempotency-Key",
    })
    .to_string()
}
