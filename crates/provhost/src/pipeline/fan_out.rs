//! An event's fan-out in one tenant: its SailPoint sources mapped to the tenant's systems, the
//! plugins it runs through selected, the person or action it names checked once, then the event
//! through each plugin under the requester's context, each invocation concluded by [`run_event`].
//! `POST /v1/events`, `provhost run` and `provhost test` all come here.

use super::{Mode, RunError, RunReport, check_targets, run_event};
use crate::event::Event;
use crate::limits::Limits;
use crate::runtime::Runtime;
use crate::tenant::{Installed, Requester, Tenant};

/// The plugins an event runs through.
#[derive(Clone, Copy)]
pub enum Plugins<'a> {
    /// Every installed plugin of the tenant whose triggers the event matches, in name order.
    Triggered,
    /// One plugin under `limits`, whatever its triggers: `provhost run` refuses beforehand a
    /// configured plugin the event does not trigger ([`not_triggered`]); a component run by file,
    /// or by `provhost test`, ignores its triggers.
    One {
        /// The plugin.
        plugin: &'a Installed,
        /// Its limits for this run.
        limits: Limits,
    },
}

/// Why `plugin` is not triggered by `event` once `tenant` maps its sources, if it is not: the
/// sentence names the plugin, what it watches and, for a SailPoint source the tenant does not
/// map, how to map it.
pub fn not_triggered(tenant: &Tenant, plugin: &Installed, event: &Event) -> Option<String> {
    let (event, unmapped) = tenant.map_sources(event.clone());
    let why = plugin.triggered_by(&event).err()?;
    let also = unmapped.map(|u| format!("; {u}")).unwrap_or_default();
    Some(format!("plugin '{}' is not triggered by this event: {why}{also}", plugin.plugin.name))
}

/// What an event did in a tenant.
pub struct FanOut {
    /// The event as the tenant's plugins saw it, its sources mapped.
    pub event: Event,
    /// One report per plugin the event ran through, in order.
    pub reports: Vec<RunReport>,
    /// For an attribute change from a SailPoint source the tenant does not map, a sentence naming
    /// the source and saying how to map it.
    pub unmapped: Option<String>,
}

/// Runs `event` through `plugins` of `tenant` for `requester`, as `mode` says; the first run that
/// fails ends the fan-out with its error.
pub fn fan_out(
    runtime: &Runtime,
    tenant: &Tenant,
    requester: Requester<'_>,
    event: Event,
    plugins: Plugins<'_>,
    mode: Mode<'_>,
) -> Result<FanOut, RunError> {
    let (event, unmapped) = tenant.map_sources(event);
    let selected: Vec<(&Installed, Limits)> = match plugins {
        Plugins::Triggered => tenant.triggered(&event).map(|p| (p, p.plugin.limits)).collect(),
        Plugins::One { plugin, limits } => vec![(plugin, limits)],
    };
    check_targets(tenant.backend().as_ref(), tenant.id(), &event)?;
    let mut reports = Vec::with_capacity(selected.len());
    for (plugin, limits) in selected {
        let context = tenant.plugin_context(requester, &plugin.plugin);
        reports.push(run_event(runtime, &plugin.loaded, context, limits, &event, mode)?);
    }
    Ok(FanOut { event, reports, unmapped })
}
