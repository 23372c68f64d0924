//! Reads of actions: one, a filtered page, retries, history, and window usage.

use rusqlite::{Connection, OptionalExtension, ToSql, params};

use super::{ACTION_COLUMNS, action, action_row};
use crate::sqlite::directory::not_found;
use crate::sqlite::{SqliteStore, parse_column};
use crate::{ActionStore, BlockedGroup, Declined, HistoryEntry, LiveRetry, StoreError};
use provhost_core::model::{Action, ActionFilter, ActionKind, rfc3339};
use provhost_core::policy::{WindowBudget, first_overrun};
use std::time::Duration;

/// What a window budget has used: the actions of a kind against a system that may run, counted
/// since `?4` (RFC 3339) from when they became runnable — committed, or approved — never blocked
/// or rejected ones.
pub(in crate::sqlite) const USAGE_SQL: &str = "SELECT COUNT(*) FROM actions WHERE tenant = ?1 AND system = ?2 \
     AND kind = ?3 AND counted_at >= ?4";

fn usage_since(
    conn: &Connection,
    tenant: &str,
    system: &str,
    kind: ActionKind,
    since: &str,
) -> Result<u32, StoreError> {
    let n: i64 =
        conn.prepare_cached(USAGE_SQL)?.query_row(params![tenant, system, kind.as_str(), since], |r| r.get(0))?;
    Ok(n as u32)
}

/// The query for [`SqliteStore::actions_page`] and its values, with `LIMIT` and `OFFSET` left to add.
/// Only the filters given go into the statement, and it names the index that fits them, so that
/// SQLite neither scans all of the tenant's actions (as `(?2 IS NULL OR person = ?2)` would make
/// it) nor walks them newest first to find a person's few.
/// `words` holds the filter's state and kind as text.
fn filtered<'a>(
    tenant: &'a &str,
    filter: &'a ActionFilter,
    words: &'a [Option<&'static str>; 2],
) -> (String, Vec<&'a dyn ToSql>) {
    let index = match (&filter.person, words[0], &filter.system, &filter.plugin) {
        (Some(_), Some(_), _, _) => "actions_by_person_state",
        (Some(_), None, _, _) => "actions_by_person",
        (None, Some(_), _, _) => "actions_by_state",
        (None, None, Some(_), _) => "actions_by_system",
        (None, None, None, Some(_)) => "actions_by_plugin",
        (None, None, None, None) => "actions_by_time",
    };
    let mut sql = format!("SELECT {ACTION_COLUMNS} FROM actions INDEXED BY {index} WHERE tenant = ?1");
    let mut values: Vec<&dyn ToSql> = vec![tenant];
    let given: [(&str, Option<&dyn ToSql>); 7] = [
        ("person = ?", filter.person.as_ref().map(|v| v as _)),
        ("state = ?", words[0].as_ref().map(|v| v as _)),
        ("system = ?", filter.system.as_ref().map(|v| v as _)),
        ("kind = ?", words[1].as_ref().map(|v| v as _)),
        ("plugin = ?", filter.plugin.as_ref().map(|v| v as _)),
        ("created_at >= ?", filter.since.as_ref().map(|v| v as _)),
        ("created_at < ?", filter.until.as_ref().map(|v| v as _)),
    ];
    for (condition, value) in given {
        if let Some(value) = value {
            values.push(value);
            sql.push_str(&format!(" AND {condition}{}", values.len()));
        }
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, rowid DESC LIMIT ?{} OFFSET ?{}",
        values.len() + 1,
        values.len() + 2
    ));
    (sql, values)
}

/// The start of a window that ends now.
fn window_start(window: Duration) -> String {
    let window = time::Duration::try_from(window).unwrap_or(time::Duration::MAX);
    rfc3339(time::OffsetDateTime::now_utc().checked_sub(window).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

/// The first window budget the plan's runnable actions would overrun, counting what is committed
/// inside the transaction `tx`.
pub(in crate::sqlite) fn check_windows(
    tx: &Connection,
    tenant: &str,
    actions: &[Action],
    windows: &[WindowBudget],
) -> Result<(), Declined> {
    first_overrun(actions, windows, |system, kind, per| Ok(usage_since(tx, tenant, system, kind, &window_start(per))?))
}

/// Another live retry of a failed action (`?2`) than `?3`.
pub(in crate::sqlite) const LIVE_RETRY_SQL: &str = "SELECT id, state FROM actions INDEXED BY actions_by_retry \
     WHERE tenant = ?1 AND retry_of = ?2 AND id <> ?3 AND state NOT IN ('error', 'rejected') LIMIT 1";

/// The live retry of `failed` other than `besides`.
pub(in crate::sqlite) fn live_retry(
    conn: &Connection,
    tenant: &str,
    failed: &str,
    besides: &str,
) -> Result<Option<LiveRetry>, StoreError> {
    let found: Option<(String, String)> = conn
        .prepare_cached(LIVE_RETRY_SQL)?
        .query_row([tenant, failed, besides], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    found.map(|(id, state)| Ok(LiveRetry { id, state: parse_column("actions.state", &state)? })).transpose()
}

impl ActionStore for SqliteStore {
    fn actions_ended(&self, tenant: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .read()?
            .prepare_cached("SELECT COUNT(*) FROM actions WHERE tenant = ?1 AND state IN ('success', 'error')")?
            .query_row([tenant], |r| r.get(0))?;
        Ok(n as u64)
    }

    fn window_usage(&self, tenant: &str, system: &str, kind: ActionKind, window: Duration) -> Result<u32, StoreError> {
        usage_since(&*self.read()?, tenant, system, kind, &window_start(window))
    }

    fn action(&self, tenant: &str, id: &str) -> Result<Action, StoreError> {
        let sql = format!("SELECT {ACTION_COLUMNS} FROM actions WHERE tenant = ?1 AND id = ?2");
        let row = self.read()?.prepare_cached(&sql)?.query_row([tenant, id], action_row).optional()?;
        action(row.ok_or_else(|| not_found("action", id, tenant))?)
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
        let words = [filter.state.map(|s| s.as_str()), filter.kind.map(|k| k.as_str())];
        let (sql, mut values) = filtered(&tenant, filter, &words);
        let (limit, offset) = (limit as i64, offset as i64);
        values.extend([&limit as &dyn ToSql, &offset]);
        let rows = self
            .read()?
            .prepare_cached(&sql)?
            .query_map(values.as_slice(), action_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(action).collect()
    }

    fn live_retry(&self, tenant: &str, failed: &str) -> Result<Option<LiveRetry>, StoreError> {
        live_retry(&*self.read()?, tenant, failed, "")
    }

    fn action_history(&self, tenant: &str, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT state, message, at FROM action_history WHERE tenant = ?1 AND action = ?2 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([tenant, id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(state, message, at)| {
                Ok(HistoryEntry { state: parse_column("action_history.state", &state)?, message, at })
            })
            .collect()
    }

    fn blocked_groups(&self, tenant: &str) -> Result<Vec<BlockedGroup>, StoreError> {
        // SQLite takes `message` from the row that holds `MAX(updated_at)`.
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT system, kind, COUNT(*), message, MAX(updated_at) FROM actions INDEXED BY actions_by_state \
             WHERE tenant = ?1 AND state = 'blocked' GROUP BY system, kind ORDER BY system, kind",
        )?;
        let rows = stmt
            .query_map([tenant], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(system, kind, count, threshold)| {
                let kind = parse_column("actions.kind", &kind)?;
                Ok(BlockedGroup { system, kind, count: count as u64, threshold })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provhost_core::model::ActionState;

    /// How SQLite would run the filtered query.
    fn plan(store: &SqliteStore, filter: &ActionFilter) -> String {
        let words = [filter.state.map(|s| s.as_str()), filter.kind.map(|k| k.as_str())];
        let (sql, mut values) = filtered(&"demo", filter, &words);
        values.extend([&1 as &dyn ToSql, &0]);
        let conn = store.read().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(values.as_slice(), |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    #[test]
    fn filtered_lists_use_the_index_that_fits_the_filter() {
        let store = SqliteStore::in_memory().unwrap();
        let person = Some("p".to_string());
        let by_person_state =
            ActionFilter { person: person.clone(), state: Some(ActionState::Error), ..Default::default() };
        assert!(plan(&store, &by_person_state).contains("actions_by_person_state (tenant=? AND person=? AND state=?)"));
        let by_person = ActionFilter { person, ..Default::default() };
        let by_person = plan(&store, &by_person);
        assert!(
            by_person.contains("actions_by_person (tenant=? AND person=?)") && !by_person.contains("TEMP B-TREE"),
            "{by_person}"
        );
        let by_state = ActionFilter { state: Some(ActionState::Pending), ..Default::default() };
        let by_state = plan(&store, &by_state);
        assert!(
            by_state.contains("actions_by_state (tenant=? AND state=?)") && !by_state.contains("TEMP B-TREE"),
            "{by_state}"
        );
        let by_system = plan(&store, &ActionFilter { system: Some("ad".into()), ..Default::default() });
        assert!(
            by_system.contains("actions_by_system (tenant=? AND system=?)") && !by_system.contains("TEMP B-TREE"),
            "{by_system}"
        );
        let by_plugin = plan(&store, &ActionFilter { plugin: Some("sync".into()), ..Default::default() });
        assert!(
            by_plugin.contains("actions_by_plugin (tenant=? AND plugin=?)") && !by_plugin.contains("TEMP B-TREE"),
            "{by_plugin}"
        );
        let by_time = ActionFilter { since: Some("2026-01-01T00:00:00.000Z".into()), ..Default::default() };
        let all = ActionFilter::default();
        for newest_first in [by_time, all] {
            let plan = plan(&store, &newest_first);
            assert!(plan.contains("USING INDEX actions_by_time") && !plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
