//! Health, readiness, metrics, the OpenAPI document, and the problems for unknown routes and
//! panics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::admission::Work;
use super::auth::Caller;
use super::blocking::in_turn;
use super::keyed::enter;
use super::problem::Problem;
use crate::policy::Scope;

/// The OpenAPI 3.1 document, as checked into the repository.
pub const OPENAPI: &str = include_str!("../../openapi.json");

pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#).into_response()
}

/// Ready when the store answers. A caller with a valid key also sees its own tenant's loaded
/// plugins, or — for a tenant the configuration does not name — how many of its actions wait and
/// why (the executor does not run them); an anonymous one learns nothing about tenants or plugins.
/// The store is asked off the async workers, in its turn among the other work no tenant's share
/// is taken for.
pub async fn readyz(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let not_ready = |e: &dyn std::fmt::Display| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", format!("the store does not answer: {e}"))
    };
    if let Err(problem) = in_turn(&app, move |store| store.ping().map_err(|e| not_ready(&e))).await {
        return problem.into_response();
    }
    let Ok(key) = Caller::key(&headers, &app).await else {
        return axum::Json(serde_json::json!({ "status": "ready" })).into_response();
    };
    let body = match app.config.admit_served(&key.tenant) {
        Ok(()) => {
            let tenant = app.tenant(&key.tenant);
            let plugins: Vec<&str> = tenant.plugins().iter().map(|p| p.plugin.name.as_str()).collect();
            serde_json::json!({ "status": "ready", "tenant": key.tenant, "plugins": plugins })
        }
        Err(why) => {
            let tenant = key.tenant.clone();
            match in_turn(&app, move |store| store.open_actions_of(&tenant).map_err(|e| not_ready(&e))).await {
                Ok(held) => serde_json::json!({
                    "status": "ready",
                    "tenant": key.tenant,
                    "plugins": [],
                    "held": { "actions": held, "reason": format!("its actions wait and are not carried out: {why}") },
                }),
                Err(problem) => return problem.into_response(),
            }
        }
    };
    axum::Json(body).into_response()
}

/// The metrics, under a key granted `metrics:read` (as a read of its tenant's share): the host's
/// totals and the key's own tenant's series. With `--anonymous-metrics`, without a key and
/// without any tenant's series.
pub async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Problem> {
    let kind = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    if app.http.anonymous_metrics {
        return Ok(([(header::CONTENT_TYPE, kind)], app.metrics.render(app.store.group_stats(), None)).into_response());
    }
    let (caller, _share) = enter(&app, &headers, Work::Read).await?;
    caller.require(Scope::MetricsRead)?;
    let text = app.metrics.render(app.store.group_stats(), Some(caller.tenant()));
    Ok(([(header::CONTENT_TYPE, kind)], text).into_response())
}

/// Times every request a route answered, by method, route (as matched, never the raw path) and
/// status.
pub async fn timed(
    State(app): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    app.metrics.request(&method, &route, response.status().as_u16(), started.elapsed());
    response
}

pub async fn not_found(uri: axum::http::Uri) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no-such-route", format!("there is no route {}; see /openapi.json", uri.path()))
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not allowed on {}; see /openapi.json", uri.path()),
    )
}

/// A handler that panicked: logged, answered 500 — never a dropped connection.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "provhost failed on this request; it was logged")
        .into_response()
}
