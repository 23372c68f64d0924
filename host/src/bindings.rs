//! The one place `bindgen!` runs over the WIT contract. Generated code stays private to the crate;
//! refusals travel as [`CallError`](crate::imports::CallError) so they reach the plugin as WIT
//! errors and only host failures become traps.

#[allow(missing_docs, clippy::all)]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "plugin",
        imports: { default: trappable },
        trappable_error_type: {
            "provhost:plugin/types.error" => crate::imports::CallError,
        },
    });
}

pub(crate) use generated::Plugin;
pub(crate) use generated::PluginPre;
pub(crate) use generated::provhost::plugin::{actions, events, log, queries, types};
