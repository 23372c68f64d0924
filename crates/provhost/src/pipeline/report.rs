//! What a run reports: the actions with their states, the refusals, notes, logs and usage.

use serde::{Serialize, Serializer};

use crate::api::ActionSummary;
use crate::gate::{AuditNote, CallRecord, LogLine};
use crate::limits::Limits;
use crate::refusal::Refusal;
use crate::runtime::{InvocationOutcome, Usage};

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
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "as_text")]
    pub refused_at_commit: Option<Refusal>,
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
    /// The limits it ran under.
    pub limits: Limits,
    /// What the plugin printed, capped.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub guest_output: String,
}

/// A refusal in a report, as its sentence.
fn as_text<S: Serializer>(refusal: &Option<Refusal>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(refusal.as_ref().expect("skipped when none"))
}
