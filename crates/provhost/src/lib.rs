//! provhost: a WebAssembly plugin host for identity-provisioning automation.
//!
//! An event (an attribute changed, a provisioning run completed, an action failed) runs through a
//! sandboxed plugin that decides which targeted actions to take — re-enforce an entitlement,
//! update one or all accounts, unmanage an entitlement, retry a failed action. The host checks
//! each call, collects the plan, and commits it only after the plugin returns cleanly.
//!
//! This crate is the application: the pipeline, the executor, webhooks, the server and the CLI.
//! The layers below are crates of their own (`docs/architecture.md` draws them); they are
//! re-exported here under the names the host's code and its embedders use. The modules of this
//! crate are listed bottom-up: a module imports only from modules listed before it.

pub use provhost_config as config;
pub use provhost_config::manifest;
pub use provhost_core::{api, audit, event, limits, model, policy, refusal};
use provhost_core::{auth, backoff};
pub use provhost_gate as gate;
pub use provhost_platforms as backend;
pub use provhost_sandbox as runtime;
pub use provhost_store as store;

// Wiring a tenant: contexts, plugins, selection.
pub mod tenant;
// Notifications after committed actions finish.
pub mod webhook;
// Carrying out committed actions under leases.
pub mod executor;
// The data flow: invocation or request → gate → plan → commit → execution.
pub mod pipeline;
// Applications on top.
mod bench;
mod case_runner;
mod cli;
pub mod server;

pub use cli::main;
