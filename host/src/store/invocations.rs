//! Invocation records: one per plugin run, committed together with the actions it planned.

use rusqlite::params;
use serde::Serialize;

use super::actions::insert_actions;
use super::directory::to_json;
use super::{Store, StoreError, from_json};
use crate::event::AttributeChanged;
use crate::model::{Action, Attribute};

fn apply_observed(tx: &rusqlite::Transaction<'_>, tenant: &str, change: &AttributeChanged) -> Result<(), StoreError> {
    let text: String =
        tx.query_row("SELECT attributes FROM persons WHERE tenant = ?1 AND id = ?2", [tenant, &change.person], |r| {
            r.get(0)
        })?;
    let mut attributes: Vec<Attribute> = from_json("persons.attributes", &text)?;
    for c in &change.changes {
        attributes.retain(|a| a.name != c.attribute);
        if !c.new_values.is_empty() {
            attributes.push(Attribute { name: c.attribute.clone(), values: c.new_values.clone() });
        }
    }
    attributes.sort_by(|a, b| a.name.cmp(&b.name));
    tx.execute(
        "UPDATE persons SET attributes = ?3 WHERE tenant = ?1 AND id = ?2",
        params![tenant, change.person, to_json(&attributes)],
    )?;
    Ok(())
}

/// What is kept of one plugin invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvocationRecord {
    /// The invocation's id.
    pub id: String,
    /// The tenant it ran for.
    pub tenant: String,
    /// The plugin's name.
    pub plugin_name: String,
    /// The sha256 of the plugin component, hex.
    pub plugin_sha256: String,
    /// `attribute-changed`, `provisioning-completed` or `action-failed`.
    pub event_kind: String,
    /// `committed`, `plugin-error`, `trap`, `limit`, `refused`, ...
    pub outcome: String,
    /// The plugin's summary or the reason it failed.
    pub detail: String,
    /// Whether this was a dry run (nothing but this record is written).
    pub dry_run: bool,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Largest linear memory reached, in bytes.
    pub peak_memory: u64,
    /// Host calls made.
    pub host_calls: u32,
    /// What the plugin wrote to stdout and stderr, capped.
    pub guest_output: String,
}

impl Store {
    /// Records an invocation and commits the actions it planned, in one transaction: either both
    /// are stored or neither is.
    pub fn commit_invocation(&self, record: &InvocationRecord, actions: &[Action]) -> Result<(), StoreError> {
        self.commit_observed(record, actions, None)
    }

    /// As [`Store::commit_invocation`], and also records on the person the attribute change the
    /// event reported, so that the directory's person matches what the source system now holds.
    pub fn commit_observed(
        &self,
        record: &InvocationRecord,
        actions: &[Action],
        observed: Option<&AttributeChanged>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(change) = observed {
            apply_observed(&tx, &record.tenant, change)?;
        }
        tx.prepare_cached(
            "INSERT INTO invocations (tenant, id, plugin_name, plugin_sha256, event_kind, outcome, detail, dry_run,
                                      started_at, duration_us, fuel_used, peak_memory, host_calls, guest_output)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?
        .execute(params![
            record.tenant,
            record.id,
            record.plugin_name,
            record.plugin_sha256,
            record.event_kind,
            record.outcome,
            record.detail,
            record.dry_run,
            record.started_at,
            record.duration_us as i64,
            record.fuel_used as i64,
            record.peak_memory as i64,
            record.host_calls,
            record.guest_output,
        ])?;
        insert_actions(&tx, &record.tenant, actions)?;
        tx.commit()?;
        Ok(())
    }

    /// How many invocations the tenant has on record, and how many actions.
    pub fn counts(&self, tenant: &str) -> Result<(u64, u64), StoreError> {
        let conn = self.conn();
        let count = |table: &str| -> Result<u64, StoreError> {
            let n: i64 =
                conn.query_row(&format!("SELECT COUNT(*) FROM {table} WHERE tenant = ?1"), [tenant], |r| r.get(0))?;
            Ok(n as u64)
        };
        Ok((count("invocations")?, count("actions")?))
    }
}
