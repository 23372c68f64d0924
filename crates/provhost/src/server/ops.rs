//! Health, readiness, metrics, and the problems for unknown routes and panics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::Serialize;

use super::AppState;
use super::admission::Work;
use super::answers::{Answer, Answers};
use super::auth::Caller;
use super::blocking::in_turn;
use super::keyed::enter;
use super::problem::Problem;
use crate::policy::Scope;

/// What `/readyz` can answer besides ready.
pub const NOT_READY: Answers =
    Answers { takes: &[], problems: &[Answer { status: 503, kind: "not-ready", when: "the store does not answer" }] };

/// What `/metrics` answers in.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The answer of `/healthz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    status: &'static str,
}

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> Response {
    axum::Json(Health { status: "ok" }).into_response()
}

/// The answer of `/readyz`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`.
    status: &'static str,
    /// The key's tenant, when a valid key was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    /// The tenant's loaded plugins, when a valid key was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    plugins: Option<Vec<String>>,
    /// For a tenant the configuration does not name: how many of its actions wait, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    held: Option<Held>,
}

/// The actions of a tenant the configuration does not name, which wait and are not carried out.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Held {
    /// How many.
    actions: u64,
    /// Why.
    reason: String,
}

/// Ready when the store answers. A caller with a valid key also sees its own tenant's loaded
/// plugins, or — for a tenant the configuration does not name — how many of its actions wait and
/// why (the executor does not run them); an anonymous one learns nothing about tenants or plugins.
/// The store is asked off the async workers, in its turn among the other work no tenant's share
/// is taken for.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, body = Readiness)))]
pub async fn readyz(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let not_ready = |e: &dyn std::fmt::Display| {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", format!("the store does not answer: {e}"))
    };
    if let Err(problem) = in_turn(&app, move |store| store.ping().map_err(|e| not_ready(&e))).await {
        return problem.into_response();
    }
    let ready = Readiness { status: "ready", tenant: None, plugins: None, held: None };
    let Ok(key) = Caller::key(&headers, &app).await else {
        return axum::Json(ready).into_response();
    };
    let body = match app.config.admit_served(&key.tenant) {
        Ok(()) => {
            let tenant = app.tenant(&key.tenant);
            let plugins = tenant.plugins().iter().map(|p| p.plugin.name.clone()).collect();
            Readiness { tenant: Some(key.tenant), plugins: Some(plugins), ..ready }
        }
        Err(why) => {
            let tenant = key.tenant.clone();
            match in_turn(&app, move |store| store.open_actions_of(&tenant).map_err(|e| not_ready(&e))).await {
                Ok(actions) => Readiness {
                    tenant: Some(key.tenant),
                    plugins: Some(Vec::new()),
                    held: Some(Held { actions, reason: format!("its actions wait and are not carried out: {why}") }),
                    ..ready
                },
                Err(problem) => return problem.into_response(),
            }
        }
    };
    axum::Json(body).into_response()
}

/// The metrics, under a key granted `metrics:read` (as a read of its tenant's share): the host's
/// totals and the key's own tenant's series. With `--anonymous-metrics`, without a key and
/// without any tenant's series.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "The metrics in the OpenMetrics text format", body = String,
     content_type = OPENMETRICS)
))]
pub async fn metrics(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, Problem> {
    if app.http.anonymous_metrics {
        return Ok(
            ([(header::CONTENT_TYPE, OPENMETRICS)], app.metrics.render(app.store.group_stats(), None)).into_response()
        );
    }
    let (caller, _share) = enter(&app, &headers, Work::Read).await?;
    caller.require(Scope::MetricsRead)?;
    let text = app.metrics.render(app.store.group_stats(), Some(caller.tenant()));
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

/// Times every request a route answered, by method, route (as matched, never the raw path) and
/// status, and logs one line for it at `info`.
pub async fn timed(
    State(app): State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().to_string();
    let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    let (status, took) = (response.status().as_u16(), started.elapsed());
    app.metrics.request(&method, &route, status, took);
    tracing::info!(method = %method, route = %route, status, duration_us = took.as_micros() as u64, "request");
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
