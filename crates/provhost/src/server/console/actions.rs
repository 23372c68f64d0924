//! `GET /console/actions`: the tenant's actions, newest first, filtered by person, state, system,
//! kind, plugin and time, paged on the store's indexes; `GET /console/actions/{id}`: one action
//! with its history and the audit records about it (its commit, approval or rejection, each step
//! the executor took).

use std::sync::Arc;

use axum::extract::{Path, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::audit::AuditRecord;
use crate::model::{Action, ActionFilter, ActionKind, ActionState, ActionTarget, parse_rfc3339};
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::server::body::Listing;
use crate::store::AuditFilter;

/// The audit records about one action shown on its page.
const RECORDS_SHOWN: usize = 50;

/// The filters of the actions page, as its form sends them (an empty field filters nothing).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    person: Option<String>,
    state: Option<String>,
    system: Option<String>,
    kind: Option<String>,
    plugin: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// A field's value, unless it is empty.
fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl Filters {
    /// The store's filter, or what does not fit.
    fn filter(&self) -> Result<ActionFilter, Refused> {
        let time = |name: &str, value: &Option<String>| {
            given(value)
                .map(|v| parse_rfc3339(&v))
                .transpose()
                .map_err(|e| Refused::bad_request(format!("{name}: {e}")))
        };
        Ok(ActionFilter {
            person: given(&self.person),
            state: given(&self.state).map(|s| s.parse::<ActionState>()).transpose().map_err(Refused::bad_request)?,
            system: given(&self.system),
            kind: given(&self.kind).map(|k| k.parse::<ActionKind>()).transpose().map_err(Refused::bad_request)?,
            plugin: given(&self.plugin),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }

    /// The query string that repeats these filters.
    fn query(&self) -> String {
        let fields = [
            ("person", &self.person),
            ("state", &self.state),
            ("system", &self.system),
            ("kind", &self.kind),
            ("plugin", &self.plugin),
            ("since", &self.since),
            ("until", &self.until),
        ];
        let pairs: Vec<String> =
            fields.iter().filter_map(|(name, value)| given(value).map(|v| format!("{name}={}", encode(&v)))).collect();
        pairs.join("&")
    }
}

/// `value` percent-encoded for a query string.
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What an action acts on, as text.
pub fn target(action: &Action) -> String {
    match &action.target {
        ActionTarget::Entitlement(id) => format!("entitlement {id}"),
        ActionTarget::Account(id) => format!("account {id}"),
    }
}

/// A table of actions, each linked to its page.
pub fn table(actions: &[Action]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "Action" } th scope="col" { "State" } th scope="col" { "Kind" } th scope="col" { "System" }
                th scope="col" { "Person" } th scope="col" { "Origin" } th scope="col" { "Created" } th scope="col" { "Message" }
            } }
            tbody {
                @for a in actions {
                    tr {
                        td { a class="mono" href={ "/console/actions/" (a.id) } { (a.id) } }
                        td { (layout::state(a.state)) }
                        td { (a.kind) }
                        td class="mono" { (a.system) }
                        td { a class="mono" href={ "/console/persons/" (encode(&a.person)) } { (a.person) } }
                        td { (a.origin) }
                        td { (a.created_at) }
                        td { (a.message) }
                    }
                }
            }
        }
    }
}

/// A text field of the filter form.
fn field(name: &str, label: &str, value: &Option<String>, hint: &str) -> Markup {
    html! {
        label for=(name) { (label)
            input id=(name) name=(name) value=[value.as_deref()] placeholder=(hint);
        }
    }
}

/// A choice of the filter form.
fn choice(name: &str, label: &str, value: &Option<String>, options: &[&str]) -> Markup {
    html! {
        label for=(name) { (label)
            select id=(name) name=(name) {
                option value="" { "any" }
                @for option in options {
                    option value=(option) selected[value.as_deref() == Some(*option)] { (option) }
                }
            }
        }
    }
}

/// `GET /console/actions`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    operator: Operator,
    Listing(filters, paging): Listing<Filters>,
) -> Result<Markup, Refused> {
    operator.require(Scope::PersonsRead)?;
    let filter = filters.filter()?;
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let mut actions =
        off_worker(move || Ok(store.actions_page(&tenant, &filter, paging.limit + 1, paging.offset)?)).await?;
    let more = actions.len() > paging.limit;
    actions.truncate(paging.limit);
    let states: Vec<&str> = ActionState::ALL.iter().map(|s| s.as_str()).collect();
    let kinds: Vec<&str> = ActionKind::ALL.iter().map(|k| k.as_str()).collect();
    let base = format!("/console/actions?{}", filters.query());
    let body = html! {
        h1 { "Actions" }
        form class="filters" method="get" action="/console/actions" role="search" aria-label="Filter actions" {
            (field("person", "Person", &filters.person, "person id"))
            (choice("state", "State", &filters.state, &states))
            (field("system", "System", &filters.system, "system id"))
            (choice("kind", "Kind", &filters.kind, &kinds))
            (field("plugin", "Plugin", &filters.plugin, "plugin name"))
            (field("since", "Created from", &filters.since, "2026-12-01T00:00:00Z"))
            (field("until", "Created before", &filters.until, "2026-12-02T00:00:00Z"))
            button type="submit" { "Filter" }
        }
        @if actions.is_empty() { p { "No action matches." } } @else { (table(&actions)) }
        (layout::pager(base.trim_end_matches('?'), paging, actions.len(), more))
    };
    Ok(layout::page("Actions", Some(&operator), body))
}

/// A table of audit records.
pub fn records(records: &[AuditRecord]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { "#" } th scope="col" { "At" } th scope="col" { "Kind" } th scope="col" { "Decision" }
                th scope="col" { "Key" } th scope="col" { "Message" }
            } }
            tbody {
                @for r in records {
                    tr {
                        td { (r.seq) }
                        td { (r.at) }
                        td { @if let (Some(inv), "invocation") = (&r.entry.invocation, r.entry.kind.as_str()) {
                                a href={ "/console/invocations/" (inv) } { "invocation" }
                             } @else { (r.entry.kind) } }
                        td { (r.entry.decision) }
                        td class="mono" { (r.entry.key_id.as_deref().unwrap_or("")) }
                        td { (r.entry.message) }
                    }
                }
            }
        }
    }
}

/// `GET /console/actions/{id}`: another tenant's action is not found (404).
pub async fn one(
    State(app): State<Arc<AppState>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Markup, Refused> {
    operator.require(Scope::PersonsRead)?;
    let audited = operator.allows(Scope::AuditRead);
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let (action, history, trail) = off_worker(move || {
        let action = store.action(&tenant, &id)?;
        let history = store.action_history(&tenant, &id)?;
        let filter = AuditFilter { tenant: Some(tenant), action: Some(id), ..Default::default() };
        let trail = if audited { store.audit(&filter, RECORDS_SHOWN, 0)? } else { Vec::new() };
        Ok((action, history, trail))
    })
    .await?;
    let body = html! {
        h1 { "Action " span class="mono" { (action.id) } }
        dl {
            dt { "State" } dd { (layout::state(action.state)) " " (action.message) }
            dt { "Kind" } dd { (action.kind) }
            dt { "System" } dd class="mono" { (action.system) }
            dt { "Target" } dd class="mono" { (target(&action)) }
            dt { "Person" } dd { a class="mono" href={ "/console/persons/" (encode(&action.person)) } { (action.person) } }
            dt { "Origin" } dd { (action.origin) }
            @if let Some(retried) = &action.retry_of {
                dt { "Retries" } dd { a class="mono" href={ "/console/actions/" (retried) } { (retried) } }
            }
            dt { "Planned by" } dd {
                @match &action.invocation {
                    Some(inv) => a class="mono" href={ "/console/invocations/" (inv) } { (inv) },
                    None => "a request without a plugin",
                }
            }
            dt { "Created" } dd { (action.created_at) }
            dt { "Updated" } dd { (action.updated_at) }
        }
        h2 { "History" }
        table {
            thead { tr { th scope="col" { "At" } th scope="col" { "State" } th scope="col" { "Message" } } }
            tbody { @for h in &history { tr { td { (h.at) } td { (layout::state(h.state)) } td { (h.message) } } } }
        }
        @if audited {
            h2 { "Audit records" }
            @if trail.is_empty() { p { "No audit record names this action." } } @else { (records(&trail)) }
        }
    };
    Ok(layout::page("Actions", Some(&operator), body))
}
