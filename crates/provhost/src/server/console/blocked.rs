//! `GET /console/blocked`: the actions thresholds blocked, grouped by system × kind with their
//! count and the threshold that blocked them; `POST /console/blocked` approves or rejects a whole
//! group or the actions selected in it, through the same decision as the API
//! (`decisions::decide_as`), recorded under the signed-in key — four eyes, exclusions and window
//! budgets are checked again there.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::form::SignedForm;
use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::model::{Action, ActionFilter, ActionKind, ActionState};
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::server::decisions::decide_as;
use crate::store::{BlockedGroup, Store, Verdict};

/// The blocked actions of a group listed for selection.
const LISTED: usize = 100;

/// The page of blocked actions read at a time while collecting a group.
const READ_PAGE: usize = 500;

/// The blocked actions of `system` and `kind`, newest first, at most `up_to`.
fn blocked_of(
    store: &dyn Store,
    tenant: &str,
    system: &str,
    kind: ActionKind,
    up_to: usize,
) -> Result<Vec<Action>, crate::store::StoreError> {
    let filter = ActionFilter {
        state: Some(ActionState::Blocked),
        system: Some(system.to_owned()),
        kind: Some(kind),
        ..Default::default()
    };
    let (mut found, mut offset) = (Vec::new(), 0);
    loop {
        let page = store.actions_page(tenant, &filter, READ_PAGE, offset)?;
        let last = page.len() < READ_PAGE;
        found.extend(page.into_iter().filter(|a| a.kind == kind));
        if last || found.len() >= up_to {
            found.truncate(up_to);
            return Ok(found);
        }
        offset += READ_PAGE;
    }
}

/// `GET /console/blocked`.
pub async fn show(State(app): State<Arc<AppState>>, operator: Operator) -> Result<Markup, Refused> {
    operator.require(Scope::PersonsRead)?;
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let groups = off_worker(move || {
        let groups = store.blocked_groups(&tenant)?;
        groups
            .into_iter()
            .map(|g| Ok((blocked_of(&*store, &tenant, &g.system, g.kind, LISTED)?, g)))
            .collect::<Result<Vec<_>, crate::server::problem::Problem>>()
    })
    .await?;
    let may_decide = operator.allows(Scope::ActionsApprove);
    let body = html! {
        h1 { "Blocked actions" }
        @if groups.is_empty() { p { "No action is blocked." } }
        @if !may_decide && !groups.is_empty() {
            p class="notice" { "Key " code { (operator.key.id) } " is not granted actions:approve: you can review these, not decide them." }
        }
        @for (listed, group) in &groups { (group_form(&operator, group, listed, may_decide)) }
    };
    Ok(layout::page("Blocked actions", Some(&operator), body))
}

/// One group: its heading, its threshold, its decision buttons and its actions to select.
fn group_form(operator: &Operator, group: &BlockedGroup, listed: &[Action], may_decide: bool) -> Markup {
    let id = format!("group-{}-{}", group.system, group.kind);
    html! {
        section class="group" aria-labelledby=(id) {
            h2 id=(id) { code { (group.system) } " × " (group.kind) " — " (group.count) " blocked" }
            p { "Threshold: " (group.threshold) }
            form method="post" action="/console/blocked" {
                (layout::csrf(operator))
                input type="hidden" name="system" value=(group.system);
                input type="hidden" name="kind" value=(group.kind.as_str());
                @if may_decide {
                    div class="actions-row" {
                        button class="approve" type="submit" name="do" value="approve-group" { "Approve all " (group.count) }
                        button class="reject" type="submit" name="do" value="reject-group" { "Reject all " (group.count) }
                        button type="submit" name="do" value="approve-selected" { "Approve selected" }
                        button type="submit" name="do" value="reject-selected" { "Reject selected" }
                    }
                }
                table {
                    thead { tr {
                        @if may_decide { th scope="col" { span class="skip" { "Select" } } }
                        th scope="col" { "Action" } th scope="col" { "Person" } th scope="col" { "Target" } th scope="col" { "Blocked at" }
                    } }
                    tbody {
                        @for action in listed {
                            tr {
                                @if may_decide {
                                    td { input type="checkbox" name="id" value=(action.id) id={ "pick-" (action.id) }
                                         aria-label={ "Select action " (action.id) }; }
                                }
                                td { a class="mono" href={ "/console/actions/" (action.id) } { (action.id) } }
                                td { (action.person) }
                                td class="mono" { (super::actions::target(action)) }
                                td { (action.updated_at) }
                            }
                        }
                    }
                }
                @if (listed.len() as u64) < group.count { p { "The newest " (listed.len()) " of " (group.count) " are listed." } }
            }
        }
    }
}

/// `POST /console/blocked`: the decision on a group or a selection; shows each decided action.
pub async fn decide(
    State(app): State<Arc<AppState>>,
    SignedForm { operator, fields }: SignedForm,
) -> Result<Response, Refused> {
    operator.require(Scope::ActionsApprove)?;
    let (verdict, whole) = match fields.required("do")? {
        "approve-group" => (Verdict::Approve, true),
        "reject-group" => (Verdict::Reject, true),
        "approve-selected" => (Verdict::Approve, false),
        "reject-selected" => (Verdict::Reject, false),
        other => return Err(Refused::bad_request(format!("'{other}' is not a decision; approve or reject"))),
    };
    let ids = if whole {
        let system = fields.required("system")?.to_owned();
        let kind: ActionKind = fields.required("kind")?.parse().map_err(Refused::bad_request)?;
        let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
        off_worker(move || Ok(blocked_of(&*store, &tenant, &system, kind, usize::MAX)?))
            .await?
            .into_iter()
            .map(|a| a.id)
            .collect()
    } else {
        fields.all("id")
    };
    if ids.is_empty() {
        return Err(Refused::bad_request(
            "no action was selected; tick the actions to decide, or decide the whole group",
        ));
    }
    let key = operator.key.clone();
    let verb = if verdict == Verdict::Approve { "Approved" } else { "Rejected" };
    let decided = decide_as(&app, &key, (), ids, verdict).await?;
    let body = html! {
        h1 { (verb) " " (decided.len()) " actions" }
        p class="notice" role="status" { (verb) " under key " code { (key.id) } "; each is recorded in the audit trail." }
        (super::actions::table(&decided))
        p { a href="/console/blocked" { "Back to the blocked actions" } }
    };
    Ok(layout::page("Blocked actions", Some(&operator), body).into_response())
}
