//! `POST /console/plugins/{name}/replay`: a new version of a plugin, uploaded from its section of
//! the plugins page, replayed over a page of the tenant's kept events through the same code as
//! `POST /v1/plugins/{name}/replay` (`server::replay::run`): a dry run, one audit record under the
//! signed-in key. The page shows the summary and, event by event, the actions added, removed and
//! changed, the refusals and thresholds that came or went, the new errors and limits, and the time
//! each version took; a form replays the next page. Only a key granted `plugins:replay` sees the
//! form, and a form posted without it, or without the session's CSRF token, runs nothing.

use std::sync::Arc;

use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use maud::{Markup, html};

use super::form::upload;
use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::api::Paging;
use crate::pipeline::{Difference, Planned, ReplayReport, Replayed};
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::body::bounded;
use crate::server::replay::{Asked, Component, configured, range, run, too_large};

/// The kept events one page replays unless the form says otherwise.
const PAGE: usize = 50;

/// The range fields a replay form carries on to the next page.
#[derive(Debug, Default)]
pub struct Range {
    since: String,
    until: String,
    limit: String,
}

/// The form that uploads a new version of plugin `name` and replays it over the kept events in
/// `range`, from the one after `after` (the previous page's last) if given.
pub fn form(operator: &Operator, name: &str, range: &Range, after: Option<u64>) -> Markup {
    let id = |field: &str| format!("replay-{name}-{field}");
    let label = if after.is_some() { "Replay the next page" } else { "Replay" };
    html! {
        form class="filters" method="post" enctype="multipart/form-data" action={ "/console/plugins/" (name) "/replay" } {
            (layout::csrf(operator))
            @if let Some(after) = after { input type="hidden" name="after" value=(after); }
            label for=(id("component")) { "New version (.wasm)"
                input type="file" id=(id("component")) name="component" accept=".wasm,application/wasm" required;
            }
            label for=(id("since")) { "Kept since (RFC 3339)"
                input type="text" id=(id("since")) name="since" value=(range.since) placeholder="2026-12-01T00:00:00Z";
            }
            label for=(id("until")) { "Kept before"
                input type="text" id=(id("until")) name="until" value=(range.until);
            }
            label for=(id("limit")) { "Events"
                input type="number" id=(id("limit")) name="limit" min="1" max="500" value=(range.limit) placeholder=(PAGE);
            }
            button type="submit" { (label) }
        }
    }
}

/// `POST /console/plugins/{name}/replay`.
pub async fn replay(
    State(app): State<Arc<AppState>>,
    Path(name): Path<String>,
    operator: Operator,
    multipart: Multipart,
) -> Result<Markup, Refused> {
    operator.require(Scope::PluginsReplay)?;
    let config = configured(&app, operator.tenant(), &name)?;
    let too_large = || {
        let problem = too_large();
        Refused::Status(problem.status, format!("{}; nothing was replayed", problem.detail))
    };
    let upload = upload(&operator, multipart, &app, too_large).await?;
    let field = |name: &str| upload.fields.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let limit = match field("limit") {
        None => PAGE,
        Some(text) => {
            text.parse().map_err(|_| Refused::bad_request(format!("limit must be a whole number, not '{text}'")))?
        }
    };
    let paging = bounded(Paging { limit, offset: 0 }).map_err(Refused::bad_request)?;
    let asked_range = range((field("since"), field("until"), field("after")), paging)?;
    if upload.file.is_empty() {
        return Err(Refused::bad_request("choose the new version's component (.wasm) to replay"));
    }
    let kept = Range {
        since: field("since").unwrap_or_default(),
        until: field("until").unwrap_or_default(),
        limit: field("limit").unwrap_or_default(),
    };
    let asked = Asked {
        tenant: operator.tenant().to_owned(),
        name,
        range: asked_range,
        allow: Vec::new(),
        by: operator.key.id.clone(),
    };
    let report = run(&app, config, asked, Component(upload.file), operator.share()).await?;
    let body = html! {
        h1 { "Replay of " (report.plugin) }
        (summary(&report))
        (events(&report.events))
        @if let Some(after) = report.next_after {
            h2 { "The next page" }
            p { "There may be more kept events: choose the same component again to replay those after kept event " (after) "." }
            (form(&operator, &report.plugin, &kept, Some(after)))
        }
        p { a href="/console/plugins" { "Back to the plugins" } }
    };
    Ok(layout::page("Plugins", Some(&operator), body))
}

/// What was replayed and the totals.
fn summary(report: &ReplayReport) -> Markup {
    let s = &report.summary;
    html! {
        p class="notice" role="status" {
            "A dry run: nothing was committed or carried out. The replay is one record in the audit trail."
        }
        dl {
            dt { "New version sha256" } dd class="mono" { (report.component_sha256) }
            dt { "Ran against" } dd { (report.against) }
            dt { "Events replayed" } dd { (s.compared) }
            dt { "Identical" } dd { (s.identical) }
            dt { "Different" } dd { (s.different) }
            dt { "New errors" } dd { (s.new_errors) }
            dt { "New limits" } dd { (s.new_limits) }
            dt { "Time per event" } dd { "installed " (s.old_us_per_event) " µs, new " (s.new_us_per_event) " µs" }
        }
    }
}

/// Each event in a row, then what differs of those that differ.
fn events(events: &[Replayed]) -> Markup {
    html! {
        @if events.is_empty() { p { "No kept event of this plugin is in the range." } }
        @else {
            table {
                thead { tr {
                    th scope="col" { "Kept event" } th scope="col" { "Came in" } th scope="col" { "Event" }
                    th scope="col" { "Differences" } th scope="col" { "Installed" } th scope="col" { "New" }
                } }
                tbody {
                    @for e in events {
                        tr {
                            td { @if e.delta.differences.is_empty() { (e.seq) } @else { a href={ "#kept-" (e.seq) } { (e.seq) } } }
                            td { (e.at) }
                            td { (e.event) }
                            td { @if e.delta.differences.is_empty() { "none" } @else { (names(&e.delta.differences)) } }
                            td { (e.old.outcome) ", " (e.old.actions.len()) " actions, " (e.old.duration_us) " µs" }
                            td { (e.new.outcome) ", " (e.new.actions.len()) " actions, " (e.new.duration_us) " µs" }
                        }
                    }
                }
            }
            @for e in events.iter().filter(|e| !e.delta.differences.is_empty()) { (differences(e)) }
        }
    }
}

/// The kinds of difference, as `allow` names them.
fn names(differences: &[Difference]) -> String {
    let name = |d: &Difference| clap::ValueEnum::to_possible_value(d).map(|v| v.get_name().to_owned());
    differences.iter().filter_map(name).collect::<Vec<_>>().join(", ")
}

/// What differs for one event.
fn differences(e: &Replayed) -> Markup {
    let d = &e.delta;
    let ended_otherwise = e.old.outcome != e.new.outcome;
    html! {
        section class="group" aria-labelledby={ "kept-" (e.seq) } {
            h2 id={ "kept-" (e.seq) } { "Kept event " (e.seq) ": " (e.event) }
            @if !d.added.is_empty() { h3 { "Added actions" } (planned(&d.added)) }
            @if !d.removed.is_empty() { h3 { "Removed actions" } (planned(&d.removed)) }
            @if !d.changed.is_empty() {
                h3 { "Changed actions" }
                ul { @for c in &d.changed {
                    li { (c.now.kind) " of " code { (c.now.target) } " on " code { (c.now.system) } ": "
                         (blocked(&c.was)) " → " (blocked(&c.now)) }
                } }
            }
            (lines("Refusals added", &d.refusals_added))
            (lines("Refusals gone", &d.refusals_removed))
            (lines("Thresholds added", &d.thresholds_added))
            (lines("Thresholds gone", &d.thresholds_removed))
            @if ended_otherwise {
                h3 { "How it ended" }
                p class=[(!e.new.completed()).then_some("warning")] {
                    "Installed: " (e.old.outcome) "; new: " (e.new.outcome)
                    @if !e.new.detail.is_empty() { " — " (e.new.detail) }
                }
            }
        }
    }
}

/// Whether a threshold blocks an action, in words.
fn blocked(action: &Planned) -> &'static str {
    if action.blocked { "blocked" } else { "not blocked" }
}

/// Planned actions as a table.
fn planned(actions: &[Planned]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Person" } th scope="col" { "System" } th scope="col" { "Kind" }
                th scope="col" { "Target" } th scope="col" { "Origin" } th scope="col" { "Threshold" }
            } }
            tbody { @for a in actions {
                tr { td class="mono" { (a.person) } td { (a.system) } td { (a.kind) } td class="mono" { (a.target) }
                     td { (a.origin) } td { (blocked(a)) } }
            } }
        }
    }
}

/// A list headed `title`, unless it is empty.
fn lines(title: &str, items: &[String]) -> Markup {
    html! { @if !items.is_empty() { h3 { (title) } ul { @for item in items { li class="mono" { (item) } } } } }
}
