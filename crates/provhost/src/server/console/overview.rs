//! `GET /console`: the host's health as the tenant sees it — whether the store answers, how many
//! of the tenant's actions wait for the executor, how many are blocked, and how many webhook
//! deliveries went dead.

use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};

use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::api::DeliveryStatus;
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;

/// Dead deliveries counted up to this many; past it the page says "more than".
const DEAD_SHOWN: usize = 100;

/// What the overview shows.
struct Health {
    store: Result<(), String>,
    backlog: u64,
    blocked: u64,
    dead: usize,
}

/// `GET /console`.
pub async fn show(State(app): State<Arc<AppState>>, operator: Operator) -> Result<Markup, Refused> {
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let health = off_worker(move || {
        let ping = store.ping().map_err(|e| e.to_string());
        let backlog = store.open_actions_of(&tenant)?;
        let blocked = store.blocked_groups(&tenant)?.iter().map(|g| g.count).sum();
        let dead = store.deliveries(&tenant, Some(DeliveryStatus::Dead), DEAD_SHOWN + 1, 0)?.len();
        Ok(Health { store: ping, backlog, blocked, dead })
    })
    .await?;
    let body = html! {
        h1 { "Overview" }
        table {
            caption class="mono" { "Health of this host for tenant " (operator.tenant()) }
            tbody {
                tr { th scope="row" { "Store" }
                     td { @match &health.store { Ok(()) => "answers", Err(e) => span class="warning" { "fails: " (e) } } } }
                tr { th scope="row" { "Executor backlog" }
                     td { (health.backlog) " actions pending, waiting or running" } }
                tr { th scope="row" { "Blocked by thresholds" }
                     td { (health.blocked) " actions wait for approval"
                          @if health.blocked > 0 && operator.allows(Scope::PersonsRead) { " · " a href="/console/blocked" { "review them" } } } }
                tr { th scope="row" { "Webhook dead letters" }
                     td { @if health.dead > DEAD_SHOWN { "more than " (DEAD_SHOWN) } @else { (health.dead) }
                          " deliveries gave up; " code { "POST /v1/webhooks/deliveries/{id}/redrive" } " sends one again" } }
            }
        }
    };
    Ok(layout::page("Overview", Some(&operator), body))
}
