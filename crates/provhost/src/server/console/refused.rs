//! What the console answers when it does not show the page asked for: the sign-in page for a
//! request without a live session, or a page that says what failed and what to do, with the
//! status the API would give (`layout` renders it).

use axum::http::StatusCode;

use crate::server::problem::Problem;

/// A console request that was not served.
#[derive(Debug)]
pub enum Refused {
    /// No session, or one that ended: go to the sign-in page, saying why.
    SignIn(&'static str),
    /// Anything else: the status and a sentence for the operator.
    Status(StatusCode, String),
}

impl Refused {
    /// A 403 for a key not granted what the page or form needs.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Refused::Status(StatusCode::FORBIDDEN, detail.into())
    }

    /// A 400 for a form or query that does not fit.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Refused::Status(StatusCode::BAD_REQUEST, detail.into())
    }
}

impl From<Problem> for Refused {
    fn from(p: Problem) -> Self {
        Refused::Status(p.status, p.detail)
    }
}
