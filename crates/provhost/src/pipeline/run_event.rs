//! One event through one plugin, end to end.

use std::sync::Arc;

use super::conclude::{Concluding, conclude, record_uncommitted};
use super::replay::{Decided, keep};
use super::{Mode, PluginSummary, RunError, RunReport};
use crate::api::ActionSummary;
use crate::audit::{InvocationRecord, Outcome};
use crate::backend::{Backend, BackendError};
use crate::event::Event;
use crate::gate::{Journal, TenantContext};
use crate::limits::Limits;
use crate::model::new_id;
use crate::runtime::{InvokeError, LoadedPlugin, Runtime};

/// Refuses an event naming a person or action the tenant does not have, before any plugin is
/// selected or run.
pub fn check_targets(backend: &dyn Backend, tenant: &str, event: &Event) -> Result<(), RunError> {
    let found = match (event, event.person()) {
        (Event::ActionFailed { action }, _) => backend.action(tenant, action).map(drop).map_err(|e| (e, None)),
        (_, Some(person)) => backend.person(tenant, person).map(drop).map_err(|e| (e, Some(person))),
        (_, None) => Ok(()),
    };
    found.map_err(|(e, person)| match (e, person) {
        (BackendError::NotFound(_), Some(person)) => RunError::UnknownTarget(format!(
            "{} event names person '{person}', who is not in tenant '{tenant}'",
            event.kind()
        )),
        (BackendError::NotFound(m), None) => RunError::UnknownTarget(m),
        (BackendError::Unavailable(m), _) => RunError::Backend(m),
    })
}

/// Runs one event through one plugin for a tenant, its targets already checked
/// ([`check_targets`], by the fan-out). When the plugin returns `ok`, thresholds are
/// applied to its plan (blocking whole kinds per system), and — unless `dry_run` — the plan
/// commits with the invocation and its audit records in one transaction, after the window budgets
/// are checked again, and the runnable actions are executed. Otherwise only the invocation record
/// is kept.
pub fn run_event(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    context: Arc<TenantContext>,
    limits: Limits,
    event: &Event,
    mode: Mode<'_>,
) -> Result<RunReport, RunError> {
    let Mode { dry_run, execution } = mode;
    let tenant = context.parts.tenant.clone();
    let span = tracing::info_span!(
        "invocation",
        tenant = %tenant,
        plugin = %plugin.name,
        sha256 = %plugin.sha256,
        key_id = %context.permission.key_id,
        invocation = tracing::field::Empty,
    );
    let _in_span = span.enter();
    let mut record = InvocationRecord {
        plugin_sha256: plugin.sha256.clone(),
        event_kind: event.kind().to_string(),
        key_id: Some(context.permission.key_id.clone()),
        event_digest: event.digest(),
        event_summary: event.summary(),
        ..InvocationRecord::starting(new_id(), &tenant, &plugin.name, dry_run)
    };
    let invocation = match runtime.invoke(plugin, context.clone(), limits, event) {
        Ok(invocation) => invocation,
        // Out of capacity, nothing ran: the caller is told to come back, and there is nothing
        // to record.
        Err(busy @ InvokeError::Busy(_)) => return Err(busy.into()),
        // The plugin could not be run (its event's failed action could not be looked up): that is
        // still recorded.
        Err(InvokeError::Backend(e)) => {
            record.outcome = Outcome::NotRun;
            record.detail = format!("the plugin was not run: {e}");
            record_uncommitted(&*context.parts.store, &record, &Journal::default())?;
            return Err(e.into());
        }
    };
    record.id = invocation.id.clone();
    span.record("invocation", record.id.as_str());
    record.outcome = invocation.outcome.outcome();
    record.detail = invocation.outcome.detail().to_string();
    record.duration_us = invocation.usage.wall_time_us;
    record.fuel_used = invocation.usage.fuel;
    record.peak_memory = invocation.usage.peak_memory;
    record.host_calls = invocation.usage.host_calls;
    record.guest_output = invocation.guest_output.clone();
    let observed = match event {
        Event::AttributeChanged(change) => Some(change),
        _ => None,
    };
    let completed = invocation.completed();
    let concluding =
        Concluding { plan: invocation.plan, journal: &invocation.journal, may_commit: completed, observed, execution };
    let done = conclude(&context, &mut record, concluding)?;
    let refused = invocation.journal.refused();
    let decided = Decided::of(
        record.outcome,
        &record.detail,
        done.committed,
        &done.actions,
        refused,
        &done.thresholds,
        record.duration_us,
    );
    keep(&context, &record, event, &decided);
    tracing::info!(
        outcome = %record.outcome,
        committed = done.committed,
        actions = done.actions.len(),
        duration_us = record.duration_us,
        "invocation ended"
    );
    Ok(RunReport {
        invocation: invocation.id,
        tenant,
        plugin: PluginSummary {
            name: plugin.name.clone(),
            sha256: plugin.sha256.clone(),
            api_version: plugin.api_version.clone(),
            compiled: plugin.compiled,
        },
        event: event.kind().to_string(),
        committed: done.committed,
        refused_at_commit: done.refused_at_commit,
        dry_run,
        actions: done.actions.iter().map(ActionSummary::from).collect(),
        thresholds: done.thresholds,
        refused: invocation.journal.refused().cloned().collect(),
        audit_notes: invocation.journal.notes,
        log: invocation.journal.logs,
        usage: invocation.usage,
        limits,
        outcome: invocation.outcome,
        guest_output: invocation.guest_output,
    })
}
