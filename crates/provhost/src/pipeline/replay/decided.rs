//! What an invocation decided, in the form a replay compares: how it ended, the actions it
//! planned (blocked by a threshold or not), the calls refused and the thresholds reached. Kept
//! with each event as the old version's, built again for the new version's dry run.

use serde::{Deserialize, Serialize};

use crate::audit::Outcome;
use crate::gate::CallRecord;
use crate::model::{Action, ActionKind, ActionState, ActionTarget};

/// One planned action, without what only its commit gives it (its id, its times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Planned {
    /// The person it is for.
    pub person: String,
    /// The system it runs against.
    pub system: String,
    /// The step it runs.
    pub kind: ActionKind,
    /// What it acts on: `entitlement ID` or `account ID`.
    pub target: String,
    /// Why it exists (`re-enforce`, `update account`, `manual retry`, ...).
    pub origin: String,
    /// The failed action it retries, if it is a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_of: Option<String>,
    /// Whether a threshold blocked it for approval.
    pub blocked: bool,
}

impl Planned {
    /// Whether `other` is the same action: alike in everything but whether it is blocked.
    pub fn same_action(&self, other: &Planned) -> bool {
        self.person == other.person
            && self.system == other.system
            && self.kind == other.kind
            && self.target == other.target
            && self.origin == other.origin
            && self.retry_of == other.retry_of
    }
}

impl From<&Action> for Planned {
    fn from(a: &Action) -> Self {
        let target = match &a.target {
            ActionTarget::Entitlement(id) => format!("entitlement {id}"),
            ActionTarget::Account(id) => format!("account {id}"),
        };
        Planned {
            person: a.person.clone(),
            system: a.system.clone(),
            kind: a.kind,
            target,
            origin: a.origin.clone(),
            retry_of: a.retry_of.clone(),
            blocked: a.state == ActionState::Blocked,
        }
    }
}

/// What one invocation decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decided {
    /// How it ended: `completed`, `plugin-error`, `trap`, `limit`, ...
    #[schema(value_type = String)]
    pub outcome: Outcome,
    /// The plugin's summary or error, the trap or the limit, in words.
    pub detail: String,
    /// Whether its plan committed (a replay: whether it would).
    pub committed: bool,
    /// The actions planned, in order.
    pub actions: Vec<Planned>,
    /// The calls refused: the import, its ids and the refusal's code.
    pub refused: Vec<String>,
    /// The thresholds the plan reached.
    pub thresholds: Vec<String>,
    /// How long the plugin ran, in microseconds.
    pub duration_us: u64,
}

impl Decided {
    /// What an invocation that ended `outcome` (in words: `detail`) decided: `actions` as
    /// concluded, the journal's refused calls, the thresholds reached.
    pub fn of<'a>(
        outcome: Outcome,
        detail: &str,
        committed: bool,
        actions: &[Action],
        refused: impl IntoIterator<Item = &'a CallRecord>,
        thresholds: &[String],
        duration_us: u64,
    ) -> Self {
        Decided {
            outcome,
            detail: detail.to_owned(),
            committed,
            actions: actions.iter().map(Planned::from).collect(),
            refused: refused
                .into_iter()
                .map(|c| format!("{} {}: {}", c.function.name(), c.ids.join(" "), c.decision))
                .collect(),
            thresholds: thresholds.to_vec(),
            duration_us,
        }
    }

    /// Whether the invocation ended the way that lets a plan commit.
    pub fn completed(&self) -> bool {
        self.outcome == Outcome::Completed
    }
}
