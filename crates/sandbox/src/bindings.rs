//! The one place `bindgen!` runs over the WIT contract, once per version provhost serves: 0.1.0,
//! frozen, and 0.2.0. Generated code stays private to the crate. The interfaces 0.2.0 took over
//! unchanged (`types`, `events`) are bound once, to 0.1.0's Rust types, so both versions lower the
//! same records and every converter is written once. Refusals travel as [`CallError`] so they reach
//! the plugin as WIT errors and only host failures become traps. Exports are async, so that an
//! invocation runs as a future the host can cut off at its deadline whatever the guest is blocked
//! in; provhost's own imports are synchronous and check the deadline on entry.

use provhost_core::refusal::Refusal;

#[allow(missing_docs, clippy::all)]
mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "plugin",
        imports: { default: trappable },
        exports: { default: async },
        trappable_error_type: {
            "provhost:plugin/types.error" => super::CallError,
        },
    });
}

#[allow(missing_docs, clippy::all)]
mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.2.0",
        world: "plugin",
        imports: { default: trappable },
        exports: { default: async },
        trappable_error_type: {
            "provhost:plugin/types.error" => super::CallError,
        },
        with: {
            "provhost:plugin/types@0.2.0": crate::bindings::v0_1::provhost::plugin::types,
            "provhost:plugin/events@0.2.0": crate::bindings::v0_1::provhost::plugin::events,
            "provhost:plugin/queries.person": provhost_core::model::Person,
        },
    });
}

pub(crate) use v0_1::provhost::plugin::{actions, events, log, queries, types};

/// Each version's world, for linking and instantiating (`crate::versions`).
pub(crate) use v0_1::{Plugin as Plugin0_1, PluginPre as PluginPre0_1};
pub(crate) use v0_2::{Plugin as Plugin0_2, PluginPre as PluginPre0_2};

/// The imports 0.2.0 changed or added; the others are 0.1.0's.
pub(crate) mod next {
    pub(crate) use super::v0_2::provhost::plugin::{actions, log, queries, settings};
}

/// The contract versions this provhost serves, oldest first.
pub const API_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// How a host call ends when it does not succeed: a refusal the plugin receives as a WIT
/// `error`, or a trap that ends the invocation.
#[derive(Debug)]
pub enum CallError {
    /// Returned to the plugin as the WIT `error` variant.
    Refused(Refusal),
    /// Ends the invocation.
    Trap(wasmtime::Error),
}

impl From<Refusal> for CallError {
    fn from(r: Refusal) -> Self {
        CallError::Refused(r)
    }
}

impl CallError {
    /// For imports that have no error case: a refusal ends the invocation too.
    pub(super) fn into_trap(self) -> wasmtime::Error {
        match self {
            CallError::Refused(r) => wasmtime::Error::msg(r.to_string()),
            CallError::Trap(e) => e,
        }
    }
}
