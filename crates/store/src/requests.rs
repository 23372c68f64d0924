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
    /// `running` or `done`.
    pub status: String,
    /// The HTTP status of the response, once done.
    pub http_status: Option<u16>,
    /// The response body, once done.
    pub response: Option<String>,
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
