//! One event through one plugin, end to end: check the event names something real, invoke the
//! plugin, commit its plan with the invocation record (or only the record), execute what was
//! committed, and report. The CLI and the HTTP service both go through here.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::{invocation_entries, invocation_entry};
use crate::backend::BackendError;
use crate::event::Event;
use crate::imports::{AuditNote, CallRecord, Journal, LogLine, TenantContext};
use crate::model::{Action, ActionState, ActionTarget, now_rfc3339};
use crate::policy::threshold;
use crate::runtime::{InvocationOutcome, Limits, LoadedPlugin, Runtime, Usage};
use crate::store::{Commit, InvocationRecord, Store, StoreError};

/// Why an event could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The event names a person or action the tenant does not have.
    #[error("the event cannot be run: {0}")]
    UnknownTarget(String),
    /// The backend failed.
    #[error("the backend failed: {0}")]
    Backend(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<BackendError> for RunError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::NotFound(m) => RunError::UnknownTarget(m),
            BackendError::Unavailable(m) => RunError::Backend(m),
        }
    }
}

/// An action as the run report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionSummary {
    /// The action's id.
    pub id: String,
    /// `grant`, `update`, `revoke` or `unmanage`.
    pub kind: String,
    /// The person.
    pub person: String,
    /// The target system.
    pub system: String,
    /// The entitlement it acts on, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entitlement: Option<String>,
    /// The account it acts on, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Its state.
    pub state: ActionState,
    /// Why it exists.
    pub origin: String,
    /// The latest message.
    pub message: String,
}

impl From<&Action> for ActionSummary {
    fn from(a: &Action) -> Self {
        let (entitlement, account) = match &a.target {
            ActionTarget::Entitlement(id) => (Some(id.clone()), None),
            ActionTarget::Account(id) => (None, Some(id.clone())),
        };
        Self {
            id: a.id.clone(),
            kind: a.kind.to_string(),
            person: a.person.clone(),
            system: a.system.clone(),
            entitlement,
            account,
            state: a.state,
            origin: a.origin.clone(),
            message: a.message.clone(),
        }
    }
}

/// The plugin as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginSummary {
    /// Its name.
    pub name: String,
    /// The sha256 of its component.
    pub sha256: String,
    /// The API version it was built for.
    pub api_version: String,
    /// Whether this run compiled it (false: from the compile cache).
    pub compiled: bool,
}

/// Everything `provhost run` prints about one event.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The invocation's id.
    pub invocation: String,
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: PluginSummary,
    /// The event's kind.
    pub event: String,
    /// How the invocation ended.
    pub outcome: InvocationOutcome,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether the plan was committed (a dry run: whether it would be).
    pub committed: bool,
    /// Why a plan the plugin returned was not committed after all (a window budget that another
    /// process used up meanwhile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused_at_commit: Option<String>,
    /// Thresholds the plan reached: the actions they count were committed `blocked`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<String>,
    /// The actions planned, in their final state when committed and executed.
    pub actions: Vec<ActionSummary>,
    /// The calls refused and why.
    pub refused: Vec<CallRecord>,
    /// The plugin's audit notes.
    pub audit_notes: Vec<AuditNote>,
    /// The plugin's log lines.
    pub log: Vec<LogLine>,
    /// What the invocation used.
    pub usage: Usage,
    /// What the plugin printed, capped.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub guest_output: String,
}

/// Records an invocation that committed nothing: one audit record, which carries what the plugin
/// asked for and was told in its details.
fn record_uncommitted(store: &Store, record: &InvocationRecord, journal: &Journal) -> Result<(), StoreError> {
    let mut entry = invocation_entry(record);
    entry.details["journal"] = serde_json::json!({ "calls": journal.calls, "notes": journal.notes });
    let commit = Commit { record, actions: &[], observed: None, windows: &[], audit: std::slice::from_ref(&entry) };
    store.commit(&commit)?.map_err(|refusal| StoreError::Conflict(refusal.to_string()))
}

/// Runs one event through one plugin for a tenant. When the plugin returns `ok`, thresholds are
/// applied to its plan (blocking whole kinds per system), and — unless `dry_run` — the plan
/// commits with the invocation record in one transaction, after the window budgets are checked
/// again, and the runnable actions are executed. Otherwise only the invocation record is kept.
pub fn run_event(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    context: Arc<TenantContext>,
    limits: Limits,
    event: &Event,
    dry_run: bool,
) -> Result<RunReport, RunError> {
    let backend = context.backend.clone();
    let store = context.store.clone();
    let policy = context.policy.clone();
    let tenant = context.tenant.clone();
    let key_id = context.permission.key_id.clone();
    if let Some(person) = event.person() {
        backend.person(&tenant, person).map_err(|_| {
            RunError::UnknownTarget(format!(
                "{} event names person '{person}', who is not in tenant '{tenant}'",
                event.kind()
            ))
        })?;
    }
    let started_at = now_rfc3339();
    let mut invocation = runtime.invoke(plugin, context, limits, event)?;
    let mut breaches = Vec::new();
    if invocation.completed() {
        let mut totals = std::collections::BTreeMap::new();
        for action in &invocation.plan {
            if !totals.contains_key(&action.system) {
                totals.insert(action.system.clone(), backend.entitlement_count(&tenant, &action.system)?);
            }
        }
        breaches = threshold::apply(&policy.thresholds, &mut invocation.plan, |system| totals[system]);
    }
    let mut record = InvocationRecord {
        id: invocation.id.clone(),
        tenant: tenant.clone(),
        plugin_name: plugin.name.clone(),
        plugin_sha256: plugin.sha256.clone(),
        event_kind: event.kind().to_string(),
        outcome: invocation.outcome.code().to_string(),
        detail: invocation.outcome.detail().to_string(),
        dry_run,
        started_at,
        duration_us: invocation.usage.wall_time_us,
        fuel_used: invocation.usage.fuel,
        peak_memory: invocation.usage.peak_memory,
        host_calls: invocation.usage.host_calls,
        guest_output: invocation.guest_output.clone(),
        key_id: Some(key_id),
        event_digest: event.digest(),
        event_summary: event.summary(),
    };
    let mut committed = invocation.completed();
    let mut refused_at_commit = None;
    let mut actions = invocation.plan.clone();
    if committed && !dry_run {
        let observed = match event {
            Event::AttributeChanged(change) => Some(change),
            _ => None,
        };
        let audit = invocation_entries(&record, &invocation.journal);
        let commit =
            Commit { record: &record, actions: &invocation.plan, observed, windows: &policy.windows, audit: &audit };
        if let Err(refusal) = store.commit(&commit)? {
            committed = false;
            record.outcome = "refused".into();
            record.detail = format!("not committed: {refusal}");
            record_uncommitted(&store, &record, &invocation.journal)?;
            refused_at_commit = Some(refusal.to_string());
        } else {
            let executed = backend.execute(&tenant, &invocation.plan)?;
            for action in actions.iter_mut() {
                if let Some(done) = executed.iter().find(|d| d.id == action.id) {
                    *action = done.clone();
                }
            }
        }
    } else {
        record_uncommitted(&store, &record, &invocation.journal)?;
    }
    Ok(RunReport {
        invocation: invocation.id.clone(),
        tenant,
        plugin: PluginSummary {
            name: plugin.name.clone(),
            sha256: plugin.sha256.clone(),
            api_version: plugin.api_version.clone(),
            compiled: plugin.compiled,
        },
        event: event.kind().to_string(),
        committed,
        refused_at_commit,
        dry_run,
        actions: actions.iter().map(ActionSummary::from).collect(),
        thresholds: breaches.into_iter().map(|b| b.message).collect(),
        refused: invocation.journal.refused().cloned().collect(),
        audit_notes: invocation.journal.notes,
        log: invocation.journal.logs,
        usage: invocation.usage,
        outcome: invocation.outcome,
        guest_output: invocation.guest_output,
    })
}
