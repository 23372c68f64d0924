//! Reads of provhost's own records (actions, the audit trail, webhook deliveries), every list
//! paged. What changes them is in `decisions`.

use std::ops::ControlFlow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::auth::Caller;
use super::blocking::off_worker;
use super::body::{Listing, Paging};
use super::problem::Problem;
use crate::model::{ActionFilter, ActionState, parse_rfc3339};
use crate::policy::Scope;
use crate::store::{AuditFilter, Store};

/// Filters of `GET /v1/actions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionQuery {
    person: Option<String>,
    state: Option<ActionState>,
    system: Option<String>,
}

/// `GET /v1/actions`
pub async fn actions(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<ActionQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::PersonsRead)?;
    let filter = ActionFilter { person: q.person, state: q.state, system: q.system };
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.actions_page(&tenant, &filter, paging.limit + 1, paging.offset)?)).await?;
    Ok(Json(paging.page(items)).into_response())
}

/// Filters of `GET /v1/actions/blocked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockedQuery {
    system: Option<String>,
}

/// `GET /v1/actions/blocked`
pub async fn blocked(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<BlockedQuery>,
) -> Result<Response, Problem> {
    let blocked = ActionQuery { person: None, state: Some(ActionState::Blocked), system: q.system };
    actions(State(app), caller, Listing(blocked, paging)).await
}

/// `GET /v1/actions/{actionId}`: the action with its history.
pub async fn action(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Scope::PersonsRead)?;
    let tenant = caller.tenant().to_owned();
    let (action, history) =
        off_worker(move || Ok((app.store.action(&tenant, &id)?, app.store.action_history(&tenant, &id)?))).await?;
    let mut body = serde_json::to_value(action).unwrap_or_default();
    body["history"] = serde_json::to_value(history).unwrap_or_default();
    Ok(Json(body).into_response())
}

/// Filters of `GET /v1/audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    person: Option<String>,
    plugin: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    key: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `GET /v1/audit` (scope `audit:read`): the tenant's records, oldest first.
pub async fn audit(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<AuditQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::AuditRead)?;
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
    let page = off_worker(move || audit_page(&app.store, &filter, paging, AUDIT_PAGE_BYTES)).await?;
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
fn audit_page(store: &Store, filter: &AuditFilter, paging: Paging, budget: usize) -> Result<Vec<u8>, Problem> {
    let mut page = b"{\"items\":[".to_vec();
    let (mut count, mut more) = (0, false);
    store.audit_each(filter, (paging.limit + 1, paging.offset), |record| {
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    status: Option<String>,
}

/// `GET /v1/webhooks/deliveries?status=dead` (scope `audit:read`): the dead-letter list and the rest.
pub async fn deliveries(
    State(app): State<Arc<AppState>>,
    caller: Caller,
    Listing(q, paging): Listing<DeliveryQuery>,
) -> Result<Response, Problem> {
    caller.require(Scope::AuditRead)?;
    if let Some(status) = q.status.as_deref().filter(|s| !["pending", "delivered", "dead"].contains(s)) {
        return Err(Problem::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid-query",
            format!("status must be pending, delivered or dead, not '{status}'"),
        ));
    }
    let tenant = caller.tenant().to_owned();
    let items =
        off_worker(move || Ok(app.store.deliveries(&tenant, q.status.as_deref(), paging.limit + 1, paging.offset)?))
            .await?;
    Ok(Json(paging.page(items)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::store::{DEMO_TENANT, seed_demo};

    #[test]
    fn audit_pages_stay_within_their_byte_budget_and_next_offset_walks_every_record_once() {
        let store = Store::in_memory().unwrap();
        seed_demo(&store).unwrap();
        for i in 0..30 {
            let big = format!("run {i} {}", "x".repeat(40_000));
            store
                .commit_invocation(&InvocationRecord::history(&crate::model::new_id(), DEMO_TENANT, "test", &big), &[])
                .unwrap();
        }
        let filter = AuditFilter { tenant: Some(DEMO_TENANT.into()), ..Default::default() };
        let head = store.audit_head(DEMO_TENANT).unwrap().unwrap().0;
        let budget = 200_000;
        let (mut seen, mut pages, mut offset) = (Vec::new(), 0, Some(0));
        while let Some(at) = offset {
            let page = audit_page(&store, &filter, Paging { limit: 500, offset: at }, budget).unwrap();
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
        let page = audit_page(&store, &filter, Paging { limit: 2, offset: 0 }, budget).unwrap();
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!((page["items"].as_array().unwrap().len(), page["next_offset"].as_u64()), (2, Some(2)));
    }
}
