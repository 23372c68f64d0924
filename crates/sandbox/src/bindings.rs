//! The one place `bindgen!` runs over the WIT contract. Generated code stays private to the crate;
//! refusals travel as [`CallError`] so they reach the plugin as WIT errors and only host failures become traps. Exports are async, so that an invocation runs as a
//! future the host can cut off at its deadline whatever the guest is blocked in; provhost's own
//! imports are synchronous and check the deadline on entry.

use provhost_core::refusal::Refusal;

#[allow(missing_docs, clippy::all)]
mod generated {
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

pub(crate) use generated::Plugin;
pub(crate) use generated::PluginPre;
pub(crate) use generated::provhost::plugin::{actions, events, log, queries, types};

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
