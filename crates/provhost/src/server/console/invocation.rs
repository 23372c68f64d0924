//! `GET /console/invocations/{id}`: one invocation from its audit record — the plugin and event,
//! how it ended, every host call with provhost's decision and reason, the notes, the limits used
//! (fuel, memory, time) against the plugin's limits, the plan it committed and the plugin's
//! captured output. Needs `audit:read`; another tenant's is not found.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use maud::{Markup, html};
use serde_json::Value;

use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;

/// A field of the record's details as text.
fn text(details: &Value, name: &str) -> String {
    match &details[name] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `GET /console/invocations/{id}`.
pub async fn show(
    State(app): State<Arc<AppState>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Markup, Refused> {
    operator.require(Scope::AuditRead)?;
    let (store, tenant, wanted) = (app.store.clone(), operator.tenant().to_owned(), id.clone());
    let record = off_worker(move || Ok(store.invocation_audit(&tenant, &wanted)?)).await?.ok_or_else(|| {
        Refused::Status(StatusCode::NOT_FOUND, format!("no invocation '{id}' in tenant '{}'", operator.tenant()))
    })?;
    let (entry, d) = (&record.entry, &record.entry.details);
    let plugin = entry.plugin.clone().unwrap_or_default();
    let limits =
        app.tenant(operator.tenant()).plugins().iter().find(|p| p.plugin.name == plugin).map(|p| p.plugin.limits);
    let empty = Vec::new();
    let calls = d["calls"].as_array().unwrap_or(&empty);
    let notes = d["notes"].as_array().unwrap_or(&empty);
    let plan = d["plan"].as_array().unwrap_or(&empty);
    let body = html! {
        h1 { "Invocation " span class="mono" { (record.entry.invocation.as_deref().unwrap_or("")) } }
        dl {
            dt { "Plugin" } dd { (plugin) " " span class="mono" { (text(d, "plugin_sha256")) } }
            dt { "Event" } dd { (text(d, "event_kind")) " — " (text(d, "event_summary")) }
            dt { "Key" } dd class="mono" { (entry.key_id.as_deref().unwrap_or("")) }
            dt { "Outcome" } dd { (entry.decision) " — " (entry.message) }
            dt { "Started" } dd { (text(d, "started_at")) }
            dt { "Audit record" } dd { "#" (record.seq) " " span class="mono" { (record.hash) } }
        }
        h2 { "Limits used" }
        table {
            thead { tr { th scope="col" { "Limit" } th scope="col" { "Used" } th scope="col" { "Allowed" } } }
            tbody {
                tr { th scope="row" { "Fuel" } td { (text(d, "fuel_used")) } td { @if let Some(l) = limits { (l.fuel) } } }
                tr { th scope="row" { "Memory (bytes, peak)" } td { (text(d, "peak_memory")) } td { @if let Some(l) = limits { (l.memory_bytes) } } }
                tr { th scope="row" { "Time (µs)" } td { (text(d, "duration_us")) } td { @if let Some(l) = limits { (l.timeout_ms * 1000) } } }
                tr { th scope="row" { "Host calls" } td { (text(d, "host_calls")) } td { @if let Some(l) = limits { (l.max_host_calls) } } }
            }
        }
        h2 { "Host calls and decisions" }
        @if calls.is_empty() { p { "The plugin made no host call." } } @else {
            table {
                thead { tr { th scope="col" { "Call" } th scope="col" { "Ids" } th scope="col" { "Decision" } th scope="col" { "Reason" } th scope="col" { "Planned" } } }
                tbody { @for c in calls { tr {
                    td class="mono" { (text(c, "interface")) "." (text(c, "function")) }
                    td class="mono" { (text(c, "ids")) }
                    td { (text(c, "decision")) }
                    td { (text(c, "reason")) }
                    td class="mono" { (text(c, "planned")) }
                } } }
            }
        }
        h2 { "Notes" }
        @if notes.is_empty() { p { "No notes." } } @else {
            ul { @for n in notes { li { @if n["is_error"] == Value::Bool(true) { strong { "error: " } } (text(n, "message"))
                                        @if let Some(a) = n["action"].as_str() { " (" a class="mono" href={ "/console/actions/" (a) } { (a) } ")" } } } }
        }
        h2 { "Plan committed" }
        @if plan.is_empty() { p { "Nothing was committed." } } @else {
            ul { @for a in plan { li { @if let Some(id) = a["action"].as_str() { a class="mono" href={ "/console/actions/" (id) } { (id) } }
                                        " " (text(a, "kind")) " on " (text(a, "system")) " — " (text(a, "state")) } } }
        }
        h2 { "Captured output" }
        pre { (text(d, "guest_output")) }
    };
    Ok(layout::page("Invocation", Some(&operator), body))
}
