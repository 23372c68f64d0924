//! Replay before deploy: the events a tenant's invocations ran on are kept (when the tenant opts
//! in) with what each decided, and a new version of a plugin is run over them as a dry run —
//! nothing committed, nothing carried out, no invocation recorded — against the directory as it
//! stands now, under the governance the old version ran under (the tenant's policy, the key the
//! event came with, the plugin's capabilities), and its decisions compared with the old ones.
//! The replay itself is one audit record.

mod compare;
mod decided;
mod keep;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

pub use compare::{Delta, Difference, compare};
pub use decided::{Decided, Planned};
pub use keep::commit_keeping;

use super::RunError;
use super::thresholds::apply_thresholds;
use crate::audit::{Outcome, entries};
use crate::event::Event;
use crate::gate::TenantContext;
use crate::runtime::{InvokeError, Runtime};
use crate::store::{EventRange, KeptEvent, StoreError};
use crate::tenant::{Installed, Tenant};

/// What a replay says of the directory it ran against.
pub const AGAINST: &str = "the tenant's directory as it stands now (persons, accounts, entitlements and actions), \
                           not as it stood when each event came in";

/// One kept event replayed: what the old version decided, what the new one decides, and how they
/// differ.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// The kept event's place among everything kept.
    pub seq: u64,
    /// The old version's invocation on it.
    pub invocation: String,
    /// When it came in.
    pub at: String,
    /// The event in a line.
    pub event: String,
    /// What the old version decided.
    pub old: Decided,
    /// What the new version decides.
    pub new: Decided,
    /// How they differ.
    #[serde(flatten)]
    pub delta: Delta,
}

/// Totals over the events replayed.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Events compared.
    pub compared: u64,
    /// Events whose decisions were the same.
    pub identical: u64,
    /// Events whose decisions differed.
    pub different: u64,
    /// Events where the new version ends in an error (an error returned, a trap, not run) and the old did not.
    pub new_errors: u64,
    /// Events where the new version hits a limit and the old did not.
    pub new_limits: u64,
    /// Events that differ in a way `allow` does not allow.
    pub disallowed: u64,
    /// The old version's mean time per event, in microseconds, as it ran then.
    pub old_us_per_event: u64,
    /// The new version's mean time per event, in microseconds, in this replay.
    pub new_us_per_event: u64,
}

/// A replay's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// The tenant.
    pub tenant: String,
    /// The plugin replayed.
    pub plugin: String,
    /// The sha256 of the new component.
    pub component_sha256: String,
    /// What the new version ran against.
    pub against: &'static str,
    /// The differences allowed.
    pub allow: Vec<Difference>,
    /// Each event replayed, oldest first.
    pub events: Vec<Replayed>,
    /// The totals.
    pub summary: Summary,
    /// Where the next page starts (`offset`), when there may be more.
    pub next_offset: Option<usize>,
    /// Where the next page starts (`after`), when there may be more: the last event's `seq`.
    /// Paging on with it replays each kept event once, even as the oldest go meanwhile.
    pub next_after: Option<u64>,
}

impl ReplayReport {
    /// Whether the plans differ beyond what `allow` allows.
    pub fn fails(&self) -> bool {
        self.summary.disallowed > 0
    }
}

/// What to replay and who asks.
pub struct Replay<'a> {
    /// The tenant, with its configuration.
    pub tenant: &'a Tenant,
    /// The new version, installed under the plugin's name with the tenant's configuration of it.
    pub installed: &'a Installed,
    /// Which kept events.
    pub range: EventRange,
    /// The differences allowed.
    pub allow: Vec<Difference>,
    /// The API key replaying, named on the replay's record.
    pub by: &'a str,
}

/// Replays the kept events of `replay.range` through the new version and compares; records the
/// replay as one audit record.
pub fn replay(runtime: &Runtime, replay: Replay<'_>) -> Result<ReplayReport, RunError> {
    let Replay { tenant, installed, range, allow, by } = replay;
    let store = tenant.store();
    let plugin = &installed.plugin.name;
    let kept = store.kept_events(tenant.id(), plugin, &range)?;
    let keys: BTreeMap<String, _> = store.keys(Some(tenant.id()))?.into_iter().map(|k| (k.id.clone(), k)).collect();
    let mut contexts: BTreeMap<Option<String>, Arc<TenantContext>> = BTreeMap::new();
    let mut events = Vec::new();
    let mut summary = Summary::default();
    let (mut old_us, mut new_us) = (0u64, 0u64);
    for event in &kept {
        let key_id = store.invocation_source(tenant.id(), &event.invocation)?.and_then(|s| s.key_id);
        let context = match contexts.get(&key_id) {
            Some(context) => context.clone(),
            None => {
                // Under the key the event came with, as it is recorded (revoked or not): the
                // grants the old version ran under. A key no longer on record grants nothing.
                let none = crate::policy::Grants::default();
                let grants = key_id.as_ref().and_then(|id| keys.get(id)).map_or(&none, |k| &k.scopes);
                let requester = crate::tenant::Requester { key_id: key_id.as_deref().unwrap_or("unknown"), grants };
                let context = tenant.plugin_context(requester, &installed.plugin);
                contexts.insert(key_id.clone(), context.clone());
                context
            }
        };
        let replayed = replay_one(runtime, installed, context, event)?;
        summary.compared += 1;
        old_us += replayed.old.duration_us;
        new_us += replayed.new.duration_us;
        let differences = &replayed.delta.differences;
        if differences.is_empty() {
            summary.identical += 1;
        } else {
            summary.different += 1;
        }
        summary.new_errors += u64::from(differences.contains(&Difference::Errors));
        summary.new_limits += u64::from(differences.contains(&Difference::Limits));
        summary.disallowed += u64::from(differences.iter().any(|d| !allow.contains(d)));
        events.push(replayed);
    }
    summary.old_us_per_event = old_us.checked_div(summary.compared).unwrap_or(0);
    summary.new_us_per_event = new_us.checked_div(summary.compared).unwrap_or(0);
    let more = kept.len() == range.limit;
    let next_offset = more.then_some(range.offset + range.limit);
    let next_after = kept.last().filter(|_| more).map(|k| k.seq);
    let sha256 = installed.loaded.sha256.clone();
    let message = format!(
        "plugin {plugin} version {} replayed over {} kept events ({}): {} identical, {} different, {} new errors, {} new limits",
        &sha256[..12.min(sha256.len())],
        summary.compared,
        range_words(&range),
        summary.identical,
        summary.different,
        summary.new_errors,
        summary.new_limits,
    );
    let details = json!({
        "since": range.since, "until": range.until, "after": range.after, "offset": range.offset, "limit": range.limit,
        "first": kept.first().map(|k| k.seq), "last": kept.last().map(|k| k.seq),
        "allow": allow, "summary": summary,
    });
    store.record_replay(tenant.id(), &entries::replayed(by, plugin, &sha256, message, details))?;
    Ok(ReplayReport {
        tenant: tenant.id().to_owned(),
        plugin: plugin.clone(),
        component_sha256: sha256,
        against: AGAINST,
        allow,
        events,
        summary,
        next_offset,
        next_after,
    })
}

/// A range in words, for the replay's record.
fn range_words(range: &EventRange) -> String {
    let since = range.since.as_deref().map_or_else(|| "the first kept".to_owned(), |s| format!("from {s}"));
    let until = range.until.as_deref().map_or_else(|| "on".to_owned(), |u| format!("until {u}"));
    let after = range.after.map_or_else(String::new, |seq| format!(", after kept event {seq}"));
    format!("{since} {until}{after}, skipping {}, at most {}", range.offset, range.limit)
}

/// Runs one kept event through the new version as a dry run and compares it with what the old
/// version decided.
fn replay_one(
    runtime: &Runtime,
    installed: &Installed,
    context: Arc<TenantContext>,
    kept: &KeptEvent,
) -> Result<Replayed, RunError> {
    let old: Decided = serde_json::from_str(&kept.decided)
        .map_err(|e| StoreError::Corrupt { column: "kept_events.decided", reason: e.to_string() })?;
    let event = Event::from_json(&kept.event)
        .map_err(|e| StoreError::Corrupt { column: "kept_events.event", reason: e.to_string() })?;
    let started = Instant::now();
    let new = match runtime.invoke(&installed.loaded, context.clone(), installed.plugin.limits, &event) {
        Ok(mut invocation) => {
            let completed = invocation.completed();
            let mut plan = std::mem::take(&mut invocation.plan);
            let (mut outcome, mut detail) = (invocation.outcome.outcome(), invocation.outcome.detail().to_owned());
            let mut thresholds = Vec::new();
            match completed.then(|| apply_thresholds(&context, &mut plan)) {
                Some(Err(failed)) => (outcome, detail) = (Outcome::Unavailable, failed.to_string()),
                Some(Ok(reached)) => thresholds = reached,
                None => {}
            }
            let (refused, us) = (invocation.journal.refused(), invocation.usage.wall_time_us);
            Decided::of(outcome, &detail, outcome == Outcome::Completed, &plan, refused, &thresholds, us)
        }
        Err(busy @ InvokeError::Busy(_)) => return Err(busy.into()),
        Err(InvokeError::Backend(e)) => {
            let us = started.elapsed().as_micros() as u64;
            Decided::of(Outcome::NotRun, &format!("the plugin was not run: {e}"), false, &[], [], &[], us)
        }
    };
    let delta = compare(&old, &new);
    Ok(Replayed {
        seq: kept.seq,
        invocation: kept.invocation.clone(),
        at: kept.at.clone(),
        event: event.summary(),
        old,
        new,
        delta,
    })
}
