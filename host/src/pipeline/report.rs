//! What a run reports: the actions with their states, the refusals, notes, logs and usage.

use serde::{Deserialize, Serialize, Serializer};

use crate::imports::{AuditNote, CallRecord, LogLine};
use crate::model::{Action, ActionState, ActionTarget};
use crate::refusal::Refusal;
use crate::runtime::{InvocationOutcome, Usage};

/// An action as the run report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// What the plugin printed, capped.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub guest_output: String,
}

/// A refusal in a report, as its sentence.
fn as_text<S: Serializer>(refusal: &Option<Refusal>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(refusal.as_ref().expect("skipped when none"))
}
