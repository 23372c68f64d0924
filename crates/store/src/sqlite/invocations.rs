//! Invocation records: one per plugin run, committed together with the actions it planned.

use rusqlite::{Connection, OptionalExtension, params};

use super::actions::{check_windows, insert_actions, live_retry, still_managed};
use super::audit::append as append_audit;
use super::directory::to_json;
use super::{SqliteStore, StoreError, from_json, parse_column};
use crate::{Commit, Counts, Declined, InvocationSource, InvocationStore, OutcomeCount};
use provhost_core::audit::InvocationRecord;
use provhost_core::event::AttributeChanged;
use provhost_core::model::{Action, Attribute, apply_attribute_changes};
use provhost_core::refusal::Refusal;

fn insert_invocation(tx: &Connection, record: &InvocationRecord) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO invocations (tenant, id, plugin_name, plugin_sha256, event_kind, outcome, detail, dry_run,
                                  started_at, duration_us, fuel_used, peak_memory, host_calls, guest_output,
                                  key_id, event_digest, event_summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        record.tenant,
        record.id,
        record.plugin_name,
        record.plugin_sha256,
        record.event_kind,
        record.outcome.as_str(),
        record.detail,
        record.dry_run,
        record.started_at,
        record.duration_us as i64,
        record.fuel_used as i64,
        record.peak_memory as i64,
        record.host_calls,
        record.guest_output,
        record.key_id,
        record.event_digest,
        record.event_summary,
    ])?;
    Ok(())
}

/// Refuses a retry of an action that another commit retried meanwhile: inside the write
/// transaction, so that of two concurrent retries of one failed action exactly one commits.
fn check_retries(tx: &Connection, tenant: &str, actions: &[Action]) -> Result<(), Declined> {
    for (failed, retry) in actions.iter().filter_map(|a| a.retry_of.as_deref().map(|f| (f, a))) {
        if let Some(live) = live_retry(tx, tenant, failed, &retry.id)? {
            return Err(live.refusal(failed).into());
        }
    }
    Ok(())
}

/// Records an observed attribute change on the person, where the embedded store holds them (a
/// tenant whose directory is on a platform has no local copy to update). The bounds on a person's
/// attributes are checked here again, where the change becomes final: past them, the commit is
/// refused.
fn apply_observed(tx: &Connection, tenant: &str, change: &AttributeChanged) -> Result<(), Declined> {
    let text: Option<String> = tx
        .prepare_cached("SELECT attributes FROM persons WHERE tenant = ?1 AND id = ?2")?
        .query_row([tenant, &change.person], |r| r.get(0))
        .optional()?;
    let Some(text) = text else { return Ok(()) };
    let current: Vec<Attribute> = from_json("persons.attributes", &text)?;
    let attributes = match apply_attribute_changes(&current, change.written()) {
        Ok(attributes) => attributes,
        Err(why) => {
            return Err(Refusal::Invalid(format!(
                "the event's attribute changes cannot be recorded on person '{}': {why}",
                change.person
            ))
            .into());
        }
    };
    tx.prepare_cached("UPDATE persons SET attributes = ?3 WHERE tenant = ?1 AND id = ?2")?.execute(params![
        tenant,
        change.person,
        to_json(&attributes)
    ])?;
    Ok(())
}

/// Commits `commit` inside the write transaction `tx`: the window budgets, retries, managed
/// entitlements and the person's attribute bounds checked again, then the invocation, its audit
/// entries and its actions written; the refusal instead, with nothing written.
pub(super) fn commit_in(tx: &Connection, commit: &Commit<'_>) -> Result<(), Declined> {
    let tenant = commit.record.tenant.as_str();
    check_windows(tx, tenant, commit.actions, commit.windows)?;
    check_retries(tx, tenant, commit.actions)?;
    for action in commit.actions {
        still_managed(tx, tenant, action)?;
    }
    if let Some(change) = commit.observed {
        apply_observed(tx, tenant, change)?;
    }
    insert_invocation(tx, commit.record)?;
    append_audit(tx, tenant, commit.audit)?;
    insert_actions(tx, tenant, commit.actions)?;
    Ok(())
}

impl InvocationStore for SqliteStore {
    fn commit_invocation(&self, record: &InvocationRecord, actions: &[Action]) -> Result<(), StoreError> {
        let audit = [record.plan_entry(actions)];
        self.commit(&Commit { record, actions, observed: None, windows: &[], audit: &audit })
            .map_err(Declined::into_store_error)
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<(), Declined> {
        self.governed(|tx| commit_in(tx, commit))
    }

    fn invocation_source(&self, tenant: &str, id: &str) -> Result<Option<InvocationSource>, StoreError> {
        Ok(self
            .read()?
            .prepare_cached("SELECT plugin_name, key_id FROM invocations WHERE tenant = ?1 AND id = ?2")?
            .query_row([tenant, id], |r| Ok(InvocationSource { plugin: r.get(0)?, key_id: r.get(1)? }))
            .optional()?)
    }

    fn counts(&self, tenant: &str) -> Result<Counts, StoreError> {
        let conn = self.read()?;
        let count = |table: &str| -> Result<u64, StoreError> {
            let n: i64 = conn
                .prepare_cached(&format!("SELECT COUNT(*) FROM {table} WHERE tenant = ?1"))?
                .query_row([tenant], |r| r.get(0))?;
            Ok(n as u64)
        };
        Ok(Counts { invocations: count("invocations")?, actions: count("actions")? })
    }

    fn plugin_outcomes(&self, tenant: &str, plugin: &str, since: &str) -> Result<Vec<OutcomeCount>, StoreError> {
        let conn = self.read()?;
        let mut stmt = conn.prepare_cached(
            "SELECT substr(started_at, 1, 13), outcome, COUNT(*) FROM invocations INDEXED BY invocations_by_plugin \
             WHERE tenant = ?1 AND plugin_name = ?2 AND started_at >= ?3 GROUP BY 1, 2 ORDER BY 1, 2",
        )?;
        let rows = stmt
            .query_map([tenant, plugin, since], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(hour, outcome, count)| {
                Ok(OutcomeCount { hour, outcome: parse_column("invocations.outcome", &outcome)?, count })
            })
            .collect()
    }
}
