//! Reads of actions: one, a filtered page, retries, history, and window usage.

use std::time::Duration;

use postgres::GenericClient;
use postgres::types::ToSql;

use super::{ACTION_COLUMNS, action};
use crate::postgres::statements::Cached;
use crate::postgres::{PostgresStore, not_found, parse_column};
use crate::{ActionStore, BlockedGroup, Declined, HistoryEntry, LiveRetry, StoreError};
use provhost_core::model::{Action, ActionFilter, ActionKind, rfc3339};
use provhost_core::policy::{WindowBudget, first_overrun};

/// What a window budget has used: the actions of a kind against a system that may run, counted
/// from when they became runnable (committed, or approved), since the window's start.
fn usage_since(
    c: &mut Cached<'_, impl GenericClient>,
    tenant: &str,
    system: &str,
    kind: ActionKind,
    since: &str,
) -> Result<u32, StoreError> {
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM actions WHERE tenant = $1 AND system = $2 AND kind = $3 AND counted_at >= $4",
            &[&tenant, &system, &kind.as_str(), &since],
        )?
        .get(0);
    Ok(n as u32)
}

/// The start of a window that ends now.
fn window_start(window: Duration) -> String {
    let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    rfc3339(time::OffsetDateTime::now_utc().checked_sub(window).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

/// The first window budget the plan's runnable actions would overrun, counting what is committed;
/// inside a transaction that holds the tenant's chain head, so no other commit of the tenant is
/// counted half.
pub(in crate::postgres) fn check_windows(
    tx: &mut Cached<'_, impl GenericClient>,
    tenant: &str,
    actions: &[Action],
    windows: &[WindowBudget],
) -> Result<(), Declined> {
    first_overrun(actions, windows, |system, kind, per| Ok(usage_since(tx, tenant, system, kind, &window_start(per))?))
}

/// The live retry of `failed` other than `besides`.
pub(in crate::postgres) fn live_retry(
    c: &mut Cached<'_, impl GenericClient>,
    tenant: &str,
    failed: &str,
    besides: &str,
) -> Result<Option<LiveRetry>, StoreError> {
    let row = c.query_opt(
        "SELECT id, state FROM actions WHERE tenant = $1 AND retry_of = $2 AND id <> $3
         AND state NOT IN ('error', 'rejected') LIMIT 1",
        &[&tenant, &failed, &besides],
    )?;
    row.map(|r| Ok(LiveRetry { id: r.get(0), state: parse_column("actions.state", r.get(1))? })).transpose()
}

/// The query of [`PostgresStore::actions_page`]: a filter not given is `NULL`, which the
/// planner folds away, since each page is planned with its values ([`Cached::query_planned`]);
/// the index on the tenant and the first filter given, ending in `created_at`, then yields the
/// page newest first unsorted.
fn page_sql() -> String {
    format!(
        "SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = $1 AND ($2::text IS NULL OR person = $2)
         AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR system = $4)
         AND ($7::text IS NULL OR kind = $7)
         AND ($8::text IS NULL OR plugin = $8)
         AND ($9::text IS NULL OR created_at >= $9) AND ($10::text IS NULL OR created_at < $10)
         ORDER BY created_at DESC, n DESC LIMIT $5 OFFSET $6"
    )
}

impl ActionStore for PostgresStore {
    fn actions_ended(&self, tenant: &str) -> Result<u64, StoreError> {
        let n: i64 = self.read(|c| {
            Ok(c.query_one(
                "SELECT COUNT(*) FROM actions WHERE tenant = $1 AND state IN ('success', 'error')",
                &[&tenant],
            )?
            .get(0))
        })?;
        Ok(n as u64)
    }

    fn window_usage(&self, tenant: &str, system: &str, kind: ActionKind, window: Duration) -> Result<u32, StoreError> {
        let since = window_start(window);
        self.read(|c| usage_since(c, tenant, system, kind, &since))
    }

    fn action(&self, tenant: &str, id: &str) -> Result<Action, StoreError> {
        let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = $1 AND id = $2");
        let row = self.read(|c| Ok(c.query_opt(&sql, &[&tenant, &id])?))?;
        action(&row.ok_or_else(|| not_found("action", id, tenant))?)
    }

    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, StoreError> {
        self.actions_page(tenant, filter, limit, 0)
    }

    fn actions_page(
        &self,
        tenant: &str,
        filter: &ActionFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Action>, StoreError> {
        let (state, kind) = (filter.state.map(|s| s.as_str()), filter.kind.map(|k| k.as_str()));
        let (limit, offset) = (limit as i64, offset as i64);
        let values: [&(dyn ToSql + Sync); 10] = [
            &tenant,
            &filter.person,
            &state,
            &filter.system,
            &limit,
            &offset,
            &kind,
            &filter.plugin,
            &filter.since,
            &filter.until,
        ];
        let rows = self.read(|c| Ok(c.query_planned(&page_sql(), &values)?))?;
        rows.iter().map(action).collect()
    }

    fn live_retry(&self, tenant: &str, failed: &str) -> Result<Option<LiveRetry>, StoreError> {
        self.read(|c| live_retry(c, tenant, failed, ""))
    }

    fn action_history(&self, tenant: &str, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT state, message, at FROM action_history WHERE tenant = $1 AND action = $2 ORDER BY seq",
                &[&tenant, &id],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    state: parse_column("action_history.state", r.get(0))?,
                    message: r.get(1),
                    at: r.get(2),
                })
            })
            .collect()
    }

    fn blocked_groups(&self, tenant: &str) -> Result<Vec<BlockedGroup>, StoreError> {
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT system, kind, COUNT(*), (array_agg(message ORDER BY updated_at DESC))[1] FROM actions
                 WHERE tenant = $1 AND state = 'blocked' GROUP BY system, kind ORDER BY system, kind",
                &[&tenant],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                Ok(BlockedGroup {
                    system: r.get(0),
                    kind: parse_column("actions.kind", r.get(1))?,
                    count: r.get::<_, i64>(2) as u64,
                    threshold: r.get(3),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_pages_are_read_on_the_index_that_fits_the_filter() {
        let Some(url) = crate::postgres::testing::fresh_database() else { return };
        drop(PostgresStore::open(&url).unwrap());
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        // An empty table is read whole otherwise; the question is which index serves each filter.
        client.batch_execute("SET enable_seqscan = off").unwrap();
        // What each filter's index finds by (the planner may pick either index that fits).
        let cases: [(&str, [Option<&str>; 6]); 6] = [
            ("(tenant = 'demo'::text)", [None; 6]),
            ("(person = 'p'::text)", [Some("p"), None, None, None, None, None]),
            ("(person = 'p'::text)", [Some("p"), Some("error"), None, None, None, None]),
            ("(state = 'error'::text)", [None, Some("error"), None, None, None, None]),
            ("(system = 'ad'::text)", [None, None, Some("ad"), None, None, None]),
            ("(plugin = 'sync'::text)", [None, None, None, Some("grant"), Some("sync"), None]),
        ];
        for (found_by, [person, state, system, kind, plugin, since]) in cases {
            let (limit, offset) = (50i64, 0i64);
            let values: [&(dyn ToSql + Sync); 10] =
                [&"demo", &person, &state, &system, &limit, &offset, &kind, &plugin, &since, &None::<String>];
            let plan: Vec<String> =
                client.query(&format!("EXPLAIN {}", page_sql()), &values).unwrap().iter().map(|r| r.get(0)).collect();
            let plan = plan.join("\n");
            let cond = plan.lines().find(|l| l.trim_start().starts_with("Index Cond:")).unwrap_or_default();
            assert!(cond.contains(found_by) && plan.contains("Index Scan Backward"), "{found_by}:\n{plan}");
            assert!(!plan.contains("Sort") && !plan.contains("Seq Scan"), "{found_by}:\n{plan}");
        }
    }
}
