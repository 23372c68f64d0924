//! `GET /console/persons/{id}`: a person as the tenant's backend holds them — their accounts,
//! their entitlements — and their most recent actions.

use std::sync::Arc;

use axum::extract::{Path, State};
use maud::{Markup, html};

use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::model::ActionFilter;
use crate::policy::Scope;
use crate::refusal::Refusal;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::server::problem::Problem;

/// The person's most recent actions shown.
const RECENT: usize = 20;

/// `GET /console/persons/{id}`: another tenant's person is not found (404).
pub async fn show(
    State(app): State<Arc<AppState>>,
    operator: Operator,
    Path(id): Path<String>,
) -> Result<Markup, Refused> {
    operator.require(Scope::PersonsRead)?;
    let (backend, store, tenant) =
        (app.tenant(operator.tenant()).backend(), app.store.clone(), operator.tenant().to_owned());
    let (person, accounts, entitlements, recent) = off_worker(move || {
        let read = |e| Problem::from(Refusal::from(e));
        let person = backend.person(&tenant, &id).map_err(read)?;
        let accounts = backend.accounts(&tenant, &person.id).map_err(read)?;
        let entitlements = backend.entitlements(&tenant, &person.id).map_err(read)?;
        let filter = ActionFilter { person: Some(person.id.clone()), ..Default::default() };
        let recent = store.actions_page(&tenant, &filter, RECENT, 0)?;
        Ok((person, accounts, entitlements, recent))
    })
    .await?;
    let body = html! {
        h1 { (person.display_name) " " span class="mono" { (person.id) } }
        h2 { "Accounts" }
        @if accounts.is_empty() { p { "No accounts." } } @else {
            table {
                thead { tr { th scope="col" { "Account" } th scope="col" { "System" } th scope="col" { "Reference" } th scope="col" { "Enabled" } } }
                tbody { @for a in &accounts { tr {
                    td class="mono" { (a.id) } td class="mono" { (a.system) } td class="mono" { (a.account_reference) }
                    td { @if a.enabled { "yes" } @else { "no" } }
                } } }
            }
        }
        h2 { "Entitlements" }
        @if entitlements.is_empty() { p { "No entitlements." } } @else {
            table {
                thead { tr { th scope="col" { "Entitlement" } th scope="col" { "Name" } th scope="col" { "System" } th scope="col" { "Type" } th scope="col" { "Managed" } } }
                tbody { @for e in &entitlements { tr {
                    td class="mono" { (e.id) } td { (e.display_name) } td class="mono" { (e.system) } td { (format!("{:?}", e.kind)) }
                    td { @if e.managed { "yes" } @else { "no" } }
                } } }
            }
        }
        h2 { "Recent actions" }
        @if recent.is_empty() { p { "No actions." } } @else { (super::actions::table(&recent)) }
        p { a href={ "/console/actions?person=" (super::actions::encode(&person.id)) } { "All of this person's actions" } }
    };
    Ok(layout::page("Person", Some(&operator), body))
}
