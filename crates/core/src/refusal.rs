//! Why provhost refused a plugin's call: the host-side twin of the WIT `error` variant, free of
//! wasm types so that policy, the store and backends can produce it.

use crate::model::{ActionKind, ActionState};

/// A refused host call. Every case carries a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not granted to the API key or not declared by the plugin.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The person or system is excluded.
    #[error("excluded: {0}")]
    Excluded(String),
    /// A threshold or window budget is reached.
    #[error("threshold exceeded: {message}")]
    ThresholdExceeded {
        /// The system the threshold is set on.
        system: String,
        /// The kind of action it counts.
        kind: ActionKind,
        /// The limit.
        limit: u32,
        /// The count reached.
        count: u32,
        /// A sentence for a person.
        message: String,
    },
    /// A named record does not exist (for this person).
    #[error("not found: {0}")]
    NotFound(String),
    /// The call is malformed or does not apply.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The call conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend could not answer.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The invocation's budget of host calls or planned actions is used up.
    #[error("budget exhausted: {0}")]
    BudgetExhausted(String),
}

impl Refusal {
    /// Every refusal's code, as [`Refusal::code`] names it.
    pub const CODES: [&'static str; 8] = [
        "forbidden",
        "excluded",
        "threshold-exceeded",
        "not-found",
        "invalid",
        "conflict",
        "unavailable",
        "budget-exhausted",
    ];

    /// The decision's name in reports and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Forbidden(_) => "forbidden",
            Refusal::Excluded(_) => "excluded",
            Refusal::ThresholdExceeded { .. } => "threshold-exceeded",
            Refusal::NotFound(_) => "not-found",
            Refusal::Invalid(_) => "invalid",
            Refusal::Conflict(_) => "conflict",
            Refusal::Unavailable(_) => "unavailable",
            Refusal::BudgetExhausted(_) => "budget-exhausted",
        }
    }

    /// A retry of `failed`, which `live` (in `state`, neither failed nor rejected) already
    /// retries: one failed action has at most one live retry.
    pub fn already_retried(failed: &str, live: &str, state: ActionState) -> Refusal {
        Refusal::Conflict(format!(
            "action '{failed}' was already retried by action '{live}', which is {state}; retry that one if it fails"
        ))
    }
}
