//! `GET /console/audit`: the tenant's audit records, newest first and paged, with the chain's
//! head and, on request, the result of verifying it (it reads the whole chain);
//! `GET /console/audit/export`: the chain as JSON lines, the same as `provhost audit export`,
//! streamed as it is read.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::layout;
use super::operator::Operator;
use super::refused::Refused;
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::server::body::Listing;
use crate::store::{AuditFilter, StoreError};

/// The options of the audit page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// `1`: verify the chain.
    verify: Option<String>,
}

/// `GET /console/audit`.
pub async fn list(
    State(app): State<Arc<AppState>>,
    operator: Operator,
    Listing(options, paging): Listing<Options>,
) -> Result<Markup, Refused> {
    operator.require(Scope::AuditRead)?;
    let verify = options.verify.as_deref() == Some("1");
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let (mut records, head, verification) = off_worker(move || {
        let filter = AuditFilter { tenant: Some(tenant.clone()), ..Default::default() };
        let records = store.audit(&filter, paging.limit + 1, paging.offset)?;
        let head = store.audit_head(&tenant)?;
        let verification = if verify { Some(store.verify_audit(&tenant)?) } else { None };
        Ok((records, head, verification))
    })
    .await?;
    let more = records.len() > paging.limit;
    records.truncate(paging.limit);
    let body = html! {
        h1 { "Audit trail" }
        h2 { "The chain" }
        dl {
            dt { "Last record" } dd { @match &head { Some(head) => { "#" (head.seq) " " span class="mono" { (head.hash) } }, None => "none yet" } }
            dt { "Verified" } dd {
                @match &verification {
                    None => { a href="/console/audit?verify=1" { "Verify the chain now" } " (reads every record)" },
                    Some(v) => @match &v.broken {
                        None => span role="status" { "intact: " (v.verified) " records verified"
                                    @if !v.is_whole() { " from record " (v.first().unwrap_or(1)) "; only a checkpoint vouches for where it starts" } },
                        Some(b) => span class="warning" role="alert" { "broken at record #" (b.seq) " (" span class="mono" { (b.id) } "): " (b.reason) },
                    },
                }
            }
        }
        p { "Checkpoints are taken with " code { "provhost audit anchor" } " and checked with " code { "provhost audit verify --checkpoint" } "." }
        p { a href="/console/audit/export" download="audit.jsonl" { "Download the export (JSON lines)" } }
        h2 { "Records" }
        @if records.is_empty() { p { "No records." } } @else { (super::actions::records(&records)) }
        (layout::pager("/console/audit", paging.offset, paging.limit, more))
    };
    Ok(layout::page("Audit trail", Some(&operator), body))
}

/// Lines of the export in flight; the reader waits while this many are unsent.
const BUFFERED: usize = 64;

/// A body of the lines a blocking reader sends.
struct Lines(mpsc::Receiver<Bytes>);

impl http_body::Body for Lines {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.get_mut().0.poll_recv(cx).map(|line| line.map(|l| Ok(http_body::Frame::data(l))))
    }
}

/// `GET /console/audit/export`: the tenant's chain, one record a line, in chain order.
pub async fn export(State(app): State<Arc<AppState>>, operator: Operator) -> Result<Response, Refused> {
    operator.require(Scope::AuditRead)?;
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let (send, receive) = mpsc::channel(BUFFERED);
    let file = format!("attachment; filename=\"audit-{tenant}.jsonl\"");
    tokio::task::spawn_blocking(move || {
        let read = store.audit_chain(&tenant, 1, &mut |record| {
            let mut line = serde_json::to_vec(&record).expect("audit records serialise");
            line.push(b'\n');
            match send.blocking_send(Bytes::from(line)) {
                Ok(()) => Ok(ControlFlow::Continue(())),
                // The client went away: stop reading.
                Err(_) => Ok(ControlFlow::Break(())),
            }
        });
        if let Err(e) = read {
            let e: StoreError = e;
            tracing::error!(tenant = %tenant, "the audit export stopped: {e}");
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson".to_owned()), (header::CONTENT_DISPOSITION, file)],
        Body::new(Lines(receive)),
    )
        .into_response())
}
