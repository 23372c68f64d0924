//! `GET /console/audit`: the tenant's audit records, newest first, a page read by sequence number
//! back from the chain's head; the chain's status: its head, the last checkpoint recorded in it
//! and whether the chain still holds the record that checkpoint names with the hash it signed,
//! and, on request, the result of verifying the chain (it reads every record);
//! `GET /console/audit/export`: the chain as JSON lines, the same as `provhost audit export`,
//! read a page at a time with the store given back before each page is sent.

use std::ops::{ControlFlow, RangeInclusive};
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
use crate::api::Paging;
use crate::audit::{AuditRecord, ChainHead};
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::server::body::Listing;
use crate::store::{Anchored, Store, StoreError};

/// The options of the audit page.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// `1`: verify the chain.
    verify: Option<String>,
}

/// The last checkpoint and whether the chain still holds what it signed (the reason if not).
type Held = (Anchored, Result<(), String>);

/// The page of the tenant's records `paging` asks for, newest first, read on the chain's key from
/// `chain`, its first to its last sequence number; and whether older ones follow.
fn newest_first(
    store: &dyn Store,
    tenant: &str,
    chain: RangeInclusive<u64>,
    paging: Paging,
) -> Result<(Vec<AuditRecord>, bool), StoreError> {
    let (start, head) = (*chain.start(), *chain.end());
    let Some(newest) = head.checked_sub(paging.offset as u64).filter(|n| *n >= start) else {
        return Ok((Vec::new(), false));
    };
    let oldest = newest.saturating_sub(paging.limit as u64 - 1).max(start);
    let mut records = store.audit_headlines(tenant, oldest..=newest)?;
    records.reverse();
    Ok((records, oldest > start))
}

/// The last checkpoint recorded in the tenant's chain, checked against the chain as it stands:
/// where it starts, and the record the checkpoint names.
fn last_checkpoint(store: &dyn Store, tenant: &str, last: u64) -> Result<Option<Held>, StoreError> {
    let Some(anchored) = store.last_checkpoint(tenant)? else { return Ok(None) };
    let start = store.audit_start(tenant)?;
    let found = store.audit_hash_at(tenant, anchored.checkpoint.seq)?;
    let held = anchored.checkpoint.check_chain(start.as_ref(), found.as_deref(), last);
    Ok(Some((anchored, held)))
}

/// What the page says of the last checkpoint.
fn checkpoint(held: &Option<Held>) -> Markup {
    html! {
        @match held {
            None => { "none recorded yet: " code { "provhost audit anchor" } " takes one and records it here" },
            Some((a, held)) => {
                "record #" (a.checkpoint.seq) ", taken " (a.checkpoint.at) " by " (a.by) " "
                span class="mono" { (a.checkpoint.hash) }
                br;
                @match held {
                    Ok(()) => span role="status" { "the chain still holds record #" (a.checkpoint.seq) " with the hash it signed" },
                    Err(why) => strong class="warning" role="alert" { "The chain does not match this checkpoint: " (why) },
                }
            }
        }
    }
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
    let (records, more, head, held, verification) = off_worker(move || {
        let head = store.audit_head(&tenant)?;
        let last = head.as_ref().map_or(0, |head| head.seq);
        let start = store.audit_start(&tenant)?.map_or(1, |s| s.seq);
        let (records, more) = newest_first(&*store, &tenant, start..=last, paging)?;
        let held = last_checkpoint(&*store, &tenant, last)?;
        let verification = if verify { Some(store.verify_audit(&tenant)?) } else { None };
        Ok((records, more, head, held, verification))
    })
    .await?;
    let body = html! {
        h1 { "Audit trail" }
        h2 { "The chain" }
        dl {
            dt { "Last record" } dd { @match &head { Some(head) => { "#" (head.seq) " " span class="mono" { (head.hash) } }, None => "none yet" } }
            dt { "Last checkpoint" } dd { (checkpoint(&held)) }
            dt { "Verified" } dd {
                @match &verification {
                    None => { a href="/console/audit?verify=1" { "Verify the chain now" } " (reads every record)" },
                    Some(v) => @match &v.broken {
                        None => span role="status" { "intact: " (v.verified) " records verified"
                                    @if !v.is_whole() { " from record " (v.first().unwrap_or(1)) "; only a checkpoint vouches for where it starts" } },
                        Some(b) => strong class="warning" role="alert" { "broken at record #" (b.seq) " (" span class="mono" { (b.id) } "): " (b.reason) },
                    },
                }
            }
        }
        p { "Checkpoints are taken with " code { "provhost audit anchor" } ", which records each in the chain; their signatures are checked with "
            code { "provhost audit verify --anchor" } " and the secret they were signed with." }
        p { a href="/console/audit/export" download="audit.jsonl" { "Download the export (JSON lines)" } }
        h2 { "Records, newest first" }
        @if records.is_empty() { p { "No records." } } @else { (super::actions::records(&records)) }
        (layout::pager("/console/audit", paging, records.len(), more))
    };
    Ok(layout::page("Audit trail", Some(&operator), body))
}

/// Records the export reads at a time; the store is given back before they are sent.
const EXPORT_PAGE: usize = 500;

/// Pages of the export in flight; the reader waits while this many are unsent.
const BUFFERED: usize = 4;

/// Reads the tenant's chain as it stands now, up to its head, in pages of `page` records, each a
/// JSON line, and hands each page to `deliver` once the read is done, until it breaks off: no page
/// holds the store while it is delivered, however slowly.
fn export_pages(
    store: &dyn Store,
    tenant: &str,
    page: usize,
    deliver: &mut dyn FnMut(Vec<Bytes>) -> ControlFlow<()>,
) -> Result<(), StoreError> {
    let Some(ChainHead { seq: head, .. }) = store.audit_head(tenant)? else { return Ok(()) };
    let mut next = 1;
    while next <= head {
        let mut lines = Vec::with_capacity(page);
        store.audit_chain(tenant, next, &mut |record| {
            if record.seq > head {
                return Ok(ControlFlow::Break(()));
            }
            next = record.seq + 1;
            let mut line = serde_json::to_vec(&record).expect("audit records serialise");
            line.push(b'\n');
            lines.push(Bytes::from(line));
            Ok(if lines.len() == page { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
        })?;
        let ended = lines.len() < page;
        if deliver(lines).is_break() || ended {
            break;
        }
    }
    Ok(())
}

/// A body of the pages of lines a blocking reader sends.
struct Lines(mpsc::Receiver<Bytes>);

impl http_body::Body for Lines {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.get_mut().0.poll_recv(cx).map(|page| page.map(|p| Ok(http_body::Frame::data(p))))
    }
}

/// `GET /console/audit/export`: the tenant's chain, one record a line, in chain order, up to the
/// record that was its head when the download began.
pub async fn export(State(app): State<Arc<AppState>>, operator: Operator) -> Result<Response, Refused> {
    operator.require(Scope::AuditRead)?;
    let (store, tenant) = (app.store.clone(), operator.tenant().to_owned());
    let (send, receive) = mpsc::channel(BUFFERED);
    let file = format!("attachment; filename=\"audit-{tenant}.jsonl\"");
    tokio::task::spawn_blocking(move || {
        let read =
            export_pages(&*store, &tenant, EXPORT_PAGE, &mut |lines| match send.blocking_send(lines.concat().into()) {
                Ok(()) => ControlFlow::Continue(()),
                // The client went away: stop reading.
                Err(_) => ControlFlow::Break(()),
            });
        if let Err(e) = read {
            tracing::error!(tenant = %tenant, "the audit export stopped: {e}");
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson".to_owned()), (header::CONTENT_DISPOSITION, file)],
        Body::new(Lines(receive)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::InvocationRecord;
    use crate::model::new_id;
    use crate::store::{AuditStore, DEMO_TENANT, InvocationStore, SqliteStore, seed_demo};
    use std::time::Duration;

    #[test]
    fn the_export_is_read_in_pages_with_the_store_free_between_them_up_to_the_head_it_began_at() {
        // An in-memory store reads on its one connection: a page that kept it would stop every write.
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        for n in 0..12 {
            store
                .commit_invocation(&InvocationRecord::history(&new_id(), DEMO_TENANT, "t", &n.to_string()), &[])
                .unwrap();
        }
        let head = store.audit_head(DEMO_TENANT).unwrap().unwrap().seq;
        let (mut pages, mut seqs) = (Vec::new(), Vec::new());
        export_pages(&*store, DEMO_TENANT, 5, &mut |lines| {
            pages.push(lines.len());
            seqs.extend(lines.iter().map(|l| serde_json::from_slice::<AuditRecord>(l).unwrap().seq));
            // A write on another thread while the page is delivered: it must not wait for the export.
            let (writer, done) = (store.clone(), std::sync::mpsc::channel());
            std::thread::spawn(move || {
                let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "t", "during the export");
                done.0.send(writer.commit_invocation(&record, &[]).is_ok()).unwrap();
            });
            assert_eq!(done.1.recv_timeout(Duration::from_secs(30)), Ok(true), "a write waited for the export");
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "every record to the head it began at, once, in order");
        assert!(pages.iter().all(|n| *n <= 5) && pages.len() as u64 == head.div_ceil(5), "{pages:?}");

        let mut first = Vec::new();
        export_pages(&*store, DEMO_TENANT, 5, &mut |lines| {
            first.push(lines.len());
            ControlFlow::Break(())
        })
        .unwrap();
        assert_eq!(first, [5], "a reader that goes away ends the export");
    }

    #[test]
    fn a_page_of_records_is_read_newest_first_back_from_the_head() {
        let store = SqliteStore::in_memory().unwrap();
        seed_demo(&store).unwrap();
        for n in 0..6 {
            store
                .commit_invocation(&InvocationRecord::history(&new_id(), DEMO_TENANT, "t", &n.to_string()), &[])
                .unwrap();
        }
        let head = store.audit_head(DEMO_TENANT).unwrap().unwrap().seq;
        let page = |offset, limit| {
            let (records, more) = newest_first(&store, DEMO_TENANT, 1..=head, Paging { limit, offset }).unwrap();
            (records.iter().map(|r| r.seq).collect::<Vec<_>>(), more)
        };
        assert_eq!(page(0, 2), (vec![head, head - 1], true));
        assert_eq!(page(2, 2), (vec![head - 2, head - 3], true));
        assert_eq!(page(head as usize - 1, 5), (vec![1], false), "the last page holds the first record");
        assert_eq!(page(head as usize, 5), (vec![], false), "past the start");
        assert_eq!(page(0, head as usize), ((1..=head).rev().collect(), false), "one page, all of them");
    }
}
