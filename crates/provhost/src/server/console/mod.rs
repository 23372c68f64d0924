//! The operator console, served under `/console`: server-rendered HTML (maud templates, checked
//! when provhost is compiled), one small stylesheet built into the binary, no JavaScript. An
//! operator signs in with an API key; the key's scopes decide what is shown and what a posted form
//! may do, and its tenant is all it sees. Every form carries the session's CSRF token. Decisions
//! go through the same code as the API's. The console's routes are HTML for a person and are not
//! in the OpenAPI document.

mod actions;
mod audit;
mod blocked;
mod form;
mod invocation;
mod layout;
mod operator;
mod overview;
mod person;
mod plugins;
mod refused;
mod replay;
mod session;
mod signin;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use super::AppState;
use super::replay::MAX_COMPONENT_BYTES;

/// What a replay's form may take besides its component: its other fields and the form's framing.
const FORM_ROOM: usize = 64 << 10;

/// The stylesheet, cached by the browser for a day.
async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=86400")], layout::STYLESHEET)
}

/// Every console route.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(overview::show))
        .route("/console/style.css", get(stylesheet))
        .route("/console/signin", get(signin::show).post(signin::submit))
        .route("/console/logout", post(signin::logout))
        .route("/console/blocked", get(blocked::show).post(blocked::decide))
        .route("/console/actions", get(actions::list))
        .route("/console/actions/{id}", get(actions::one))
        .route("/console/invocations/{id}", get(invocation::show))
        .route("/console/persons/{id}", get(person::show))
        .route("/console/plugins", get(plugins::show))
        .route(
            "/console/plugins/{name}/replay",
            post(replay::replay).layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES + FORM_ROOM)),
        )
        .route("/console/audit", get(audit::list))
        .route("/console/audit/export", get(audit::export))
}
