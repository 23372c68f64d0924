//! Governance as plain Rust, free of wasm types: scopes (key ∩ manifest), exclusions, thresholds
//! and rolling-window budgets. A tenant's policy is compiled once and shared by `Arc`.

pub mod exclusion;
#[cfg(test)]
mod properties;
pub mod scope;
pub mod threshold;
pub mod window;

pub use exclusion::{AttributeRule, Exclusions};
pub use scope::{Grant, Grants, Permission, Scope};
pub use threshold::{Breach, Threshold};
pub use window::{WindowBudget, first_overrun};

/// One tenant's exclusions, thresholds and window budgets.
#[derive(Debug, Clone, Default)]
pub struct TenantPolicy {
    /// Persons and systems provisioning leaves alone.
    pub exclusions: Exclusions,
    /// Thresholds evaluated on each plan at commit.
    pub thresholds: Vec<Threshold>,
    /// Rolling-window budgets checked at each action call and again at commit and approval.
    pub windows: Vec<WindowBudget>,
    /// Four eyes: the API key that caused a block (it made the request that planned the blocked
    /// action) cannot approve it.
    pub four_eyes: bool,
}

#[cfg(test)]
pub(crate) mod testing {
    //! Actions to feed the checks with.

    use crate::model::{Action, ActionKind, ActionState, ActionTarget};

    /// A pending action of `kind` against `system`, for person `p`.
    pub fn action(system: &str, kind: ActionKind) -> Action {
        Action {
            id: format!("{system}-{kind}"),
            person: "p".into(),
            system: system.into(),
            target: ActionTarget::Account("a".into()),
            kind,
            state: ActionState::Pending,
            origin: "t".into(),
            message: String::new(),
            retry_of: None,
            invocation: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }
}
