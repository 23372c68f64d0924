//! One event through one plugin, end to end: check the event names something real, invoke the
//! plugin, commit its plan with the invocation record (or only the record), execute what was
//! committed, and report. The CLI and the HTTP service both go through here.

use std::sync::Arc;

use serde::Serialize;

use crate::backend::BackendError;
use crate::event::Event;
use crate::imports::{AuditNote, CallRecord, LogLine, TenantContext};
use crate::model::{Action, ActionState, ActionTarget, now_rfc3339};
use crate::runtime::{InvocationOutcome, Limits, LoadedPlugin, Runtime, Usage};
use crate::store::{InvocationRecord, Store, StoreError};

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

/// Runs one event through one plugin for a tenant, and commits and executes the plan unless
/// `dry_run` or the plugin did not return `ok`.
pub fn run_event(
    store: &Store,
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    context: Arc<TenantContext>,
    limits: Limits,
    event: &Event,
    dry_run: bool,
) -> Result<RunReport, RunError> {
    let backend = context.backend.clone();
    let tenant = context.tenant.clone();
    if let Some(person) = event.person() {
        backend.person(&tenant, person).map_err(|_| {
            RunError::UnknownTarget(format!(
                "{} event names person '{person}', who is not in tenant '{tenant}'",
                event.kind()
            ))
        })?;
    }
    let started_at = now_rfc3339();
    let invocation = runtime.invoke(plugin, context, limits, event)?;
    let commit = invocation.completed() && !dry_run;
    let record = InvocationRecord {
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
    };
    let planned: &[Action] = if commit { &invocation.plan } else { &[] };
    let observed = match event {
        Event::AttributeChanged(change) if commit => Some(change),
        _ => None,
    };
    store.commit_observed(&record, planned, observed)?;
    let actions = if commit { backend.execute(&tenant, planned)? } else { invocation.plan.clone() };
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
        committed: invocation.completed(),
        dry_run,
        actions: actions.iter().map(ActionSummary::from).collect(),
        refused: invocation.journal.refused().cloned().collect(),
        audit_notes: invocation.journal.notes,
        log: invocation.journal.logs,
        usage: invocation.usage,
        outcome: invocation.outcome,
        guest_output: invocation.guest_output,
    })
}
