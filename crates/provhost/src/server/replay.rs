//! `POST /v1/plugins/{name}/replay`: the body, a new component (`application/wasm`), replayed as
//! the tenant's plugin `name` over a page of its kept events, a dry run; the answer compares each
//! event's decisions with the installed version's (as `provhost replay --format json` prints it).
//! The new component runs with the manifest of the version installed now.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::Listing;
use super::keyed::Share;
use super::problem::Problem;
use crate::api::Paging;
use crate::config::TenantConfig;
use crate::model::parse_rfc3339;
use crate::pipeline::{Difference, Replay, ReplayReport, replay as run_replay};
use crate::store::EventRange;
use crate::tenant::install_candidate;

/// The largest component a replay takes, in bytes: an interpreted plugin (Python, JavaScript)
/// carries its interpreter.
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// Which kept events to replay, and what may differ.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReplayQuery {
    /// Only events kept at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events kept before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Only events kept after this one (`seq`): the previous page's `next_after`.
    after: Option<String>,
    /// Differences that do not fail the replay, comma-separated: `added`, `removed`, `changed`,
    /// `refusals`, `thresholds`, `errors`, `limits`, `outcome`.
    allow: Option<String>,
}

/// The plugin named in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OfPlugin {
    /// The plugin's name in the tenant's configuration.
    name: String,
}

/// A new component, the body as it is.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Component(pub Bytes);

/// A replay asked for: of which tenant's plugin, over which kept events, what may differ, by which
/// API key.
pub struct Asked {
    /// The tenant.
    pub tenant: String,
    /// The plugin's name in the tenant's configuration.
    pub name: String,
    /// Which kept events.
    pub range: EventRange,
    /// The differences that do not fail it.
    pub allow: Vec<Difference>,
    /// The API key replaying.
    pub by: String,
}

/// The configuration of `tenant`, which must configure the plugin `name`: 404 otherwise.
pub fn configured(app: &AppState, tenant: &str, name: &str) -> Result<TenantConfig, Problem> {
    let config = app
        .config
        .tenant(tenant)
        .map_err(|e| Problem::new(StatusCode::FORBIDDEN, "tenant-not-configured", e.to_string()))?;
    if !config.plugins.contains_key(name) {
        let detail = format!("no plugin '{name}' is configured for tenant '{tenant}'");
        return Err(Problem::new(StatusCode::NOT_FOUND, "not-found", detail));
    }
    Ok(config)
}

/// The answer to a component larger than [`MAX_COMPONENT_BYTES`].
pub fn too_large() -> Problem {
    let detail = format!("the component is larger than the {MAX_COMPONENT_BYTES} bytes a replay takes");
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", detail)
}

/// Replays `component` as the plugin `asked` names, for the API and the console alike: installed
/// as a new version of it (governed as the version installed now), run over the kept events asked
/// for off the async workers, and recorded as one audit record. `share` is held by the replay
/// itself, so that a caller who hangs up does not free its place while the replay runs.
pub async fn run(
    app: &Arc<AppState>,
    config: TenantConfig,
    asked: Asked,
    component: Component,
    share: Share,
) -> Result<ReplayReport, Problem> {
    let app = app.clone();
    off_worker(move || {
        let _share = share;
        let Asked { tenant: tenant_id, name, range, allow, by } = asked;
        let dir = tempfile::tempdir().map_err(|e| Problem::internal(format!("no room for the component: {e}")))?;
        let file = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&file, &component.0).map_err(|e| Problem::internal(format!("writing the component: {e}")))?;
        let candidate = install_candidate(&app.runtime, (&config, &tenant_id), &name, &file, &app.config.limits)
            .map_err(|e| {
                let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-component", chain.join(": "))
            })?;
        let tenant = app.tenant(&tenant_id);
        let replay = Replay { tenant: &tenant, installed: &candidate, range, allow, by: &by };
        Ok(run_replay(&app.runtime, replay)?)
    })
    .await
}

fn invalid(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid-query", detail)
}

/// The kept events asked for: `since` and `until` (RFC 3339), `after` (a kept event's `seq`),
/// then a page of `paging`.
pub fn range(
    (since, until, after): (Option<String>, Option<String>, Option<String>),
    paging: Paging,
) -> Result<EventRange, Problem> {
    let time = |what: &str, value: Option<String>| {
        value.map(|v| parse_rfc3339(&v)).transpose().map_err(|m| invalid(format!("{what}: {m}")))
    };
    let after = after
        .map(|a| a.parse().map_err(|_| invalid(format!("after must be a kept event's seq, a whole number, not '{a}'"))))
        .transpose()?;
    Ok(EventRange {
        since: time("since", since)?,
        until: time("until", until)?,
        after,
        offset: paging.offset,
        limit: paging.limit,
    })
}

/// The differences `allow` names, comma-separated.
pub fn differences(allow: Option<&str>) -> Result<Vec<Difference>, Problem> {
    let Some(allow) = allow else { return Ok(Vec::new()) };
    allow
        .split(',')
        .map(|name| {
            <Difference as clap::ValueEnum>::from_str(name.trim(), false).map_err(|_| {
                invalid(format!(
                    "allow: '{name}' is not one of added, removed, changed, refusals, thresholds, errors, limits, outcome"
                ))
            })
        })
        .collect()
}

/// Replay a new version of a plugin over the tenant's kept events, a dry run: nothing is
/// committed or carried out, and the replay is one audit record. The new component runs under the
/// tenant's configuration of the plugin and the manifest of the version installed now, against
/// the directory as it stands. `limit` and `after` (the previous page's `next_after`) page through
/// the kept events, each once; a page fails
/// (`fails`) when its plans differ beyond `allow`.
#[utoipa::path(post, path = "/v1/plugins/{name}/replay", tag = "plugins", params(OfPlugin, ReplayQuery),
    request_body(content = Component, content_type = "application/wasm",
        description = "The new version's component"),
    responses((status = 200, description = "The page of kept events replayed and compared", body = ReplayReport)))]
pub async fn replay(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfPlugin { name }): Path<OfPlugin>,
    Listing(query, paging): Listing<ReplayQuery>,
    share: Share,
    request: Request,
) -> Result<Response, Problem> {
    let range = range((query.since, query.until, query.after), paging)?;
    let allow = differences(query.allow.as_deref())?;
    let kind = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
    if kind != "application/wasm" {
        let detail = format!("the body must be a component (Content-Type: application/wasm), not {kind}");
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", detail));
    }
    let asked = Asked { tenant: caller.tenant().to_owned(), name, range, allow, by: caller.0.id.clone() };
    let config = configured(&app, &asked.tenant, &asked.name)?;
    let deadline = app.http.body_timeout;
    let body = tokio::time::timeout(deadline, Bytes::from_request(request, &app)).await.map_err(|_| {
        let detail = format!("the body did not arrive whole within {} ms; send it at once", deadline.as_millis());
        Problem::new(StatusCode::REQUEST_TIMEOUT, "body-timeout", detail).closing()
    })?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        status => Problem::new(status, "unreadable-body", format!("the body could not be read: {e}")),
    })?;
    let report = run(&app, config, asked, Component(body), share).await?;
    Ok(axum::Json(report).into_response())
}
