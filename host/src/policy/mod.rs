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
pub use window::WindowBudget;

/// One tenant's exclusions, thresholds and window budgets.
#[derive(Debug, Clone, Default)]
pub struct TenantPolicy {
    /// Persons and systems provisioning leaves alone.
    pub exclusions: Exclusions,
    /// Thresholds evaluated on each plan at commit.
    pub thresholds: Vec<Threshold>,
    /// Rolling-window budgets checked at each action call and again at commit.
    pub windows: Vec<WindowBudget>,
}
