//! The one place `bindgen!` runs over the WIT contract. Generated code stays private to the crate;
//! refusals travel as [`CallError`](crate::runtime::imports::CallError) so they reach the plugin as WIT
//! errors and only host failures become traps. Exports are async, so that an invocation runs as a
//! future the host can cut off at its deadline whatever the guest is blocked in; provhost's own
//! imports are synchronous and check the deadline on entry.

#[allow(missing_docs, clippy::all)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "plugin",
        imports: { default: trappable },
        exports: { default: async },
        trappable_error_type: {
            "provhost:plugin/types.error" => crate::runtime::imports::CallError,
        },
    });
}

pub(crate) use generated::Plugin;
pub(crate) use generated::PluginPre;
pub(crate) use generated::provhost::plugin::{actions, events, log, queries, types};
