//! One event through one plugin, end to end.

use std::sync::Arc;

use super::conclude::conclude;
use super::{ActionSummary, PluginSummary, RunError, RunReport};
use crate::event::Event;
use crate::imports::TenantContext;
use crate::model::now_rfc3339;
use crate::runtime::{Limits, LoadedPlugin, Runtime};
use crate::store::InvocationRecord;

/// Runs one event through one plugin for a tenant. When the plugin returns `ok`, thresholds are
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
    dry_run: bool,
) -> Result<RunReport, RunError> {
    let tenant = context.tenant.clone();
    if let Some(person) = event.person() {
        context.backend.person(&tenant, person).map_err(|_| {
            RunError::UnknownTarget(format!(
                "{} event names person '{person}', who is not in tenant '{tenant}'",
                event.kind()
            ))
        })?;
    }
    let started_at = now_rfc3339();
    let invocation = runtime.invoke(plugin, context.clone(), limits, event)?;
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
        key_id: Some(context.permission.key_id.clone()),
        event_digest: event.digest(),
        event_summary: event.summary(),
    };
    let observed = match event {
        Event::AttributeChanged(change) => Some(change),
        _ => None,
    };
    let completed = invocation.completed();
    let done = conclude(&context, &mut record, invocation.plan, &invocation.journal, completed, observed)?;
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
        outcome: invocation.outcome,
        guest_output: invocation.guest_output,
    })
}
