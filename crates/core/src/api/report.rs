//! What a targeted request answers: the invocation, whether it committed, and its actions.

use serde::{Deserialize, Serialize};

use crate::model::{Action, ActionState, ActionTarget};

/// An action as the run report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionSummary {
    /// The action's id.
    pub id: String,
    /// `grant`, `update`, `revoke` or `unmanage`.
    #[schema(value_type = crate::model::ActionKind)]
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

/// What a targeted request did: the answer of the targeted endpoints, which the HelloID backend
/// reads back when provhost fronts a platform serving the same contract.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestReport {
    /// The invocation's id (its audit records carry it).
    pub invocation: String,
    /// Whether the actions were committed (a dry run: whether they would be).
    pub committed: bool,
    /// The actions, in their final states.
    pub actions: Vec<ActionSummary>,
    /// Thresholds reached: those actions were committed `blocked`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<String>,
}
