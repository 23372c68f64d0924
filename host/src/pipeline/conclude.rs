//! Concluding a decision: thresholds, the one commit transaction with its audit records, and
//! execution; or, when nothing may be committed, the single invocation record.

use std::collections::BTreeMap;

use crate::audit::{invocation_entries, invocation_entry};
use crate::event::AttributeChanged;
use crate::imports::{Journal, TenantContext};
use crate::model::Action;
use crate::policy::threshold;
use crate::refusal::Refusal;
use crate::store::{Commit, InvocationRecord, Store, StoreError};
use crate::webhook;

use super::RunError;

/// What became of a plan.
#[derive(Debug, Clone)]
pub struct Conclusion {
    /// Whether it was committed (a dry run: whether it would be).
    pub committed: bool,
    /// Why a plan that could have committed was refused at commit (a window budget used up
    /// meanwhile by another process).
    pub refused_at_commit: Option<Refusal>,
    /// The actions, in their final states when committed and executed.
    pub actions: Vec<Action>,
    /// The thresholds the plan reached.
    pub thresholds: Vec<String>,
}

/// Records an invocation that committed nothing: one audit record, which carries what was asked
/// for and decided in its details.
fn record_uncommitted(store: &Store, record: &InvocationRecord, journal: &Journal) -> Result<(), StoreError> {
    let mut entry = invocation_entry(record);
    entry.details["journal"] = serde_json::json!({ "calls": journal.calls, "notes": journal.notes });
    let commit = Commit { record, actions: &[], observed: None, windows: &[], audit: std::slice::from_ref(&entry) };
    store.commit(&commit)?.map_err(|refusal| StoreError::Conflict(refusal.to_string()))
}

/// Concludes a plan. `may_commit` is false when the plugin did not return `ok`; `observed` is the
/// attribute change the event reported, recorded on the person with the commit.
pub fn conclude(
    context: &TenantContext,
    record: &mut InvocationRecord,
    mut plan: Vec<Action>,
    journal: &Journal,
    may_commit: bool,
    observed: Option<&AttributeChanged>,
) -> Result<Conclusion, RunError> {
    let (store, backend, tenant) = (&context.store, &context.backend, &context.tenant);
    let mut thresholds = Vec::new();
    if may_commit {
        // A system's entitlement count is read (from the platform, for a remote backend) only
        // where a percentage threshold applies.
        let policy = &context.policy.thresholds;
        let mut totals = BTreeMap::new();
        for action in &plan {
            if !totals.contains_key(&action.system)
                && policy.iter().any(|t| t.counts_entitlements(&action.system, action.kind))
            {
                totals.insert(action.system.clone(), backend.entitlement_count(tenant, &action.system)?);
            }
        }
        thresholds = threshold::apply(policy, &mut plan, |system| totals.get(system).copied().unwrap_or(0))
            .into_iter()
            .map(|b| b.message)
            .collect();
    }
    if !may_commit || record.dry_run {
        record_uncommitted(store, record, journal)?;
        return Ok(Conclusion { committed: may_commit, refused_at_commit: None, actions: plan, thresholds });
    }
    let audit = invocation_entries(record, journal);
    let commit = Commit { record, actions: &plan, observed, windows: &context.policy.windows, audit: &audit };
    if let Err(refusal) = store.commit(&commit)? {
        record.outcome = "refused".into();
        record.detail = format!("not committed: {refusal}");
        record_uncommitted(store, record, journal)?;
        return Ok(Conclusion { committed: false, refused_at_commit: Some(refusal), actions: plan, thresholds });
    }
    let executed = backend.execute(tenant, &plan)?;
    for action in plan.iter_mut() {
        if let Some(done) = executed.iter().find(|d| d.id == action.id) {
            *action = done.clone();
        }
    }
    webhook::queue(context, &record.id, &record.plugin_name, &plan)?;
    Ok(Conclusion { committed: true, refused_at_commit: None, actions: plan, thresholds })
}
