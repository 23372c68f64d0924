//! Reads of provhost's own records (actions, the audit trail, webhook deliveries), every list
//! paged. What changes them is in `decisions`.

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::Listing;
use super::ids::OfAction;
use super::problem::Problem;
use crate::api::Paging;
use crate::api::{DeliveryStatus, Page};
use crate::audit::AuditRecord;
use crate::model::{Action, ActionFilter, ActionState, parse_rfc3339};
use crate::store::{AuditFilter, Delivery, HistoryEntry, Store};

/// Filters of `GET /v1/actions`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// Only this person's.
    person: Option<String>,
    /// Only in this state.
    state: Option<ActionState>,
    /// Only against this system.
    system: Option<String>,
}

/// The actions provhost committed, newest first.
#[utoipa::path(get, path = "/v1/actions", tag = "actions", params(ActionQuery),
    responses((status = 200, body = Page<Action>)))]
pub async fn actions(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<ActionQuery>,
) -> Result<Response, Problem> {
    let filter = ActionFilter { person: q.person, state: q.state, system: q.system, ..Default::default() };
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.actions_page(&tenant, &filter, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

/// Filters of `GET /v1/actions/blocked`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlockedQuery {
    /// Only against this system.
    system: Option<String>,
}

/// The actions a threshold blocked, which wait for approval.
#[utoipa::path(get, path = "/v1/actions/blocked", tag = "actions", params(BlockedQuery),
    responses((status = 200, body = Page<Action>)))]
pub async fn blocked(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<BlockedQuery>,
) -> Result<Response, Problem> {
    let blocked = ActionQuery { person: None, state: Some(ActionState::Blocked), system: q.system };
    actions(State(app), caller, Listing(blocked, paging)).await
}

/// An action with every state it went through.
#[derive(Serialize, ToSchema)]
pub struct ActionWithHistory {
    /// The action.
    #[serde(flatten)]
    action: Action,
    /// Its states, oldest first.
    history: Vec<HistoryEntry>,
}

/// The action with its history.
#[utoipa::path(get, path = "/v1/actions/{actionId}", tag = "actions", params(OfAction),
    responses((status = 200, body = ActionWithHistory)))]
pub async fn action(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(OfAction { action_id: id }): Path<OfAction>,
) -> Result<Response, Problem> {
    let tenant = caller.tenant().to_owned();
    let (action, history) =
        off_worker(move || Ok((app.store.action(&tenant, &id)?, app.store.action_history(&tenant, &id)?))).await?;
    Ok(Json(ActionWithHistory { action, history }).into_response())
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// About this person.
    person: Option<String>,
    /// Of this plugin.
    plugin: Option<String>,
    /// About this action.
    action: Option<String>,
    /// With this decision or outcome (`allowed`, a refusal code, an outcome or an action state).
    outcome: Option<String>,
    /// Caused by this API key id.
    key: Option<String>,
    /// Of this kind: `invocation`, `action-state`, `approval`, `rejection`, `key`, `system` or `delivery`.
    kind: Option<String>,
    /// At or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
}

/// The tenant's audit records, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditRecord>)))]
pub async fn audit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<AuditQuery>,
) -> Result<Response, Problem> {
    let time = |name: &str, value: Option<String>| {
        value
            .map(|v| parse_rfc3339(&v))
            .transpose()
            .map_err(|m| Problem::new(StatusCode::BAD_REQUEST, "invalid-query", format!("{name}: {m}")))
    };
    let (since, until) = (time("since", q.since)?, time("until", q.until)?);
    let filter = AuditFilter {
        tenant: Some(caller.tenant().to_owned()),
        person: q.person,
        plugin: q.plugin,
        action: q.action,
        decision: q.outcome,
        key_id: q.key,
        kind: q.kind,
        since,
        until,
    };
    let page = off_worker(move || audit_page(app.store.as_ref(), &filter, paging, AUDIT_PAGE_BYTES)).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], page).into_response())
}

/// The most bytes of records one page of `GET /v1/audit` holds. A page ends before the record
/// that would take it past this, with a `next_offset` to go on from; a record larger than this on
/// its own (the invocation journal's ceiling bounds it) is a page by itself.
pub const AUDIT_PAGE_BYTES: usize = 4 << 20;

/// Room kept for what follows the items: `],"limit":…,"offset":…,"next_offset":…}`.
const TAIL: usize = 96;

/// A page of the records matching `filter`, as JSON: at most `paging.limit` records and, past the
/// first, at most `budget` bytes of them. The records are read and written one at a time, so the
/// page is all that is held.
fn audit_page(store: &dyn Store, filter: &AuditFilter, paging: Paging, budget: usize) -> Result<Vec<u8>, Problem> {
    let mut page = b"{\"items\":[".to_vec();
    let (mut count, mut more) = (0, false);
    store.audit_each(filter, paging.and_one(), &mut |record| {
        let item = serde_json::to_vec(&record).unwrap_or_default();
        if count == paging.limit || (count > 0 && page.len() + 1 + item.len() + TAIL > budget) {
            more = true;
            return ControlFlow::Break(());
        }
        if count > 0 {
            page.push(b',');
        }
        page.extend_from_slice(&item);
        count += 1;
        ControlFlow::Continue(())
    })?;
    let next = more.then(|| (paging.offset + count).to_string());
    let tail = format!(
        "],\"limit\":{},\"offset\":{},\"next_offset\":{}}}",
        paging.limit,
        paging.offset,
        next.as_deref().unwrap_or("null")
    );
    page.extend_from_slice(tail.as_bytes());
    Ok(page)
}

/// Filters of `GET /v1/webhooks/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only in this state: `dead` lists the dead letters.
    status: Option<DeliveryStatus>,
}

/// The tenant's notification deliveries, newest first; `?status=dead` is the dead-letter list.
#[utoipa::path(get, path = "/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    responses((status = 200, body = Page<Delivery>)))]
pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<DeliveryQuery>,
) -> Result<Response, Problem> {
    let (tenant, status) = (caller.tenant().to_owned(), q.status);
    let items = off_worker(move || Ok(app.store.deliveries(&tenant, status, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::store::{DEMO_TENANT, seed_demo};

    #[test]
    fn audit_pages_stay_within_their_byte_budget_and_next_offset_walks_every_record_once() {
        let store: Box<dyn Store> = Box::new(crate::store::SqliteStore::in_memory().unwrap());
        seed_demo(store.as_ref()).unwrap();
        for i in 0..30 {
            let big = format!("run {i} {}", "x".repeat(40_000));
            store
                .commit_invocation(&InvocationRecord::history(&crate::model::new_id(), DEMO_TENANT, "test", &big), &[])
                .unwrap();
        }
        let filter = AuditFilter { tenant: Some(DEMO_TENANT.into()), ..Default::default() };
        let head = store.audit_head(DEMO_TENANT).unwrap().unwrap().seq;
        let budget = 200_000;
        let (mut seen, mut pages, mut offset) = (Vec::new(), 0, Some(0));
        while let Some(at) = offset {
            let page = audit_page(store.as_ref(), &filter, Paging { limit: 500, offset: at }, budget).unwrap();
            assert!(page.len() <= budget, "a page of {} bytes is over its budget of {budget}", page.len());
            let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
            let items = page["items"].as_array().unwrap();
            assert!(!items.is_empty(), "every page holds at least one record: {page}");
            seen.extend(items.iter().map(|r| r["seq"].as_u64().unwrap()));
            offset = page["next_offset"].as_u64().map(|n| n as usize);
            pages += 1;
        }
        assert!(pages > 5, "30 records of 40 kB each take more than five pages of 200 kB, not {pages}");
        assert_eq!(seen, (1..=head).collect::<Vec<_>>(), "every record once, in chain order");

        // The count still bounds a page of small records.
        let page = audit_page(store.as_ref(), &filter, Paging { limit: 2, offset: 0 }, budget).unwrap();
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!((page["items"].as_array().unwrap().len(), page["next_offset"].as_u64()), (2, Some(2)));
    }
}
