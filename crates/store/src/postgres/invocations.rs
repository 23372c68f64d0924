//! Invocation records, committed together with the actions they planned. The commit holds the
//! tenant's budget lock from before its first re-check ([`super::budget`]), so that its re-checks
//! (window budgets, retries, managed entitlements) see every other commit of the tenant on every
//! host, settled.

use super::actions::{check_windows, insert_plan, live_retry, still_managed};
use super::{PostgresStore, StoreError, from_json, parse_column, to_json};
use crate::postgres::statements::Tx;
use crate::{Commit, Counts, Declined, InvocationSource, InvocationStore, OutcomeCount};
use provhost_core::audit::InvocationRecord;
use provhost_core::event::AttributeChanged;
use provhost_core::model::{Action, Attribute, apply_attribute_changes};
use provhost_core::refusal::Refusal;

/// Refuses a retry of an action that another commit retried meanwhile.
fn check_retries(tx: &mut Tx<'_, '_>, tenant: &str, actions: &[Action]) -> Result<(), Declined> {
    for (failed, retry) in actions.iter().filter_map(|a| a.retry_of.as_deref().map(|f| (f, a))) {
        if let Some(live) = live_retry(tx, tenant, failed, &retry.id)? {
            return Err(live.refusal(failed).into());
        }
    }
    Ok(())
}

/// Records an observed attribute change on the person, where the store holds persons; past the
/// bounds on a person's attributes, the commit is refused. The person's row is locked `FOR NO KEY
/// UPDATE`, which an executor's change to one of the person's accounts (whose foreign key holds a
/// `KEY SHARE` lock on it until that transaction ends) does not block: a lock that did would make
/// the tenant's commits wait for its executor.
fn apply_observed(tx: &mut Tx<'_, '_>, tenant: &str, change: &AttributeChanged) -> Result<(), Declined> {
    let row = tx.query_opt(
        "SELECT attributes FROM persons WHERE tenant = $1 AND id = $2 FOR NO KEY UPDATE",
        &[&tenant, &change.person],
    )?;
    let Some(row) = row else { return Ok(()) };
    let current: Vec<Attribute> = from_json("persons.attributes", row.get(0))?;
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
    tx.execute(
        "UPDATE persons SET attributes = $3 WHERE tenant = $1 AND id = $2",
        &[&tenant, &change.person, &to_json(&attributes)],
    )?;
    Ok(())
}

/// Commits `commit` inside the write transaction `tx`, which holds the tenant's budget lock
/// already ([`super::budget::lock_budget`]; a group takes it once for all its plans), but for its
/// audit entries, which the caller appends to the chain after it (a group appends those of all its
/// plans at its end): the window budgets, retries, managed entitlements and the person's attribute
/// bounds checked again, then the invocation and its actions written; the refusal instead, with
/// nothing written. Every check comes before the first write, so a refused plan leaves its
/// transaction as it found it: a group of plans goes on without it (see [`super::group`]).
pub(super) fn commit_unchained(tx: &mut Tx<'_, '_>, commit: &Commit<'_>) -> Result<(), Declined> {
    let tenant = commit.record.tenant.as_str();
    check_windows(tx, tenant, commit.actions, commit.windows)?;
    check_retries(tx, tenant, commit.actions)?;
    still_managed(tx, tenant, commit.actions)?;
    if let Some(change) = commit.observed {
        apply_observed(tx, tenant, change)?;
    }
    insert_plan(tx, commit.record, commit.actions)?;
    Ok(())
}

impl InvocationStore for PostgresStore {
    fn commit_invocation(&self, record: &InvocationRecord, actions: &[Action]) -> Result<(), StoreError> {
        let audit = [record.plan_entry(actions)];
        self.commit(&Commit { record, actions, observed: None, windows: &[], audit: &audit })
            .map_err(Declined::into_store_error)
    }

    fn commit(&self, commit: &Commit<'_>) -> Result<(), Declined> {
        super::off_runtime(|| self.commit_grouped(commit, None)).map(drop)
    }

    fn invocation_source(&self, tenant: &str, id: &str) -> Result<Option<InvocationSource>, StoreError> {
        let row = self.read(|c| {
            Ok(c.query_opt(
                "SELECT plugin_name, key_id FROM invocations WHERE tenant = $1 AND id = $2",
                &[&tenant, &id],
            )?)
        })?;
        Ok(row.map(|r| InvocationSource { plugin: r.get(0), key_id: r.get(1) }))
    }

    fn counts(&self, tenant: &str) -> Result<Counts, StoreError> {
        let row = self.read(|c| {
            Ok(c.query_one(
                "SELECT (SELECT COUNT(*) FROM invocations WHERE tenant = $1), (SELECT COUNT(*) FROM actions WHERE tenant = $1)",
                &[&tenant],
            )?)
        })?;
        Ok(Counts { invocations: row.get::<_, i64>(0) as u64, actions: row.get::<_, i64>(1) as u64 })
    }

    fn plugin_outcomes(&self, tenant: &str, plugin: &str, since: &str) -> Result<Vec<OutcomeCount>, StoreError> {
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT substr(started_at, 1, 13), outcome, COUNT(*) FROM invocations
                 WHERE tenant = $1 AND plugin_name = $2 AND started_at >= $3 GROUP BY 1, 2 ORDER BY 1, 2",
                &[&tenant, &plugin, &since],
            )?)
        })?;
        rows.iter()
            .map(|r| {
                let outcome = parse_column("invocations.outcome", r.get(1))?;
                Ok(OutcomeCount { hour: r.get(0), outcome, count: r.get::<_, i64>(2) as u64 })
            })
            .collect()
    }
}
