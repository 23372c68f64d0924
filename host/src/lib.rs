//! provhost: a WebAssembly plugin host for identity-provisioning automation.
//!
//! An event (an attribute changed, a provisioning run completed, an action failed) runs through a
//! sandboxed plugin that decides which targeted actions to take — re-enforce an entitlement,
//! update one or all accounts, unmanage an entitlement, retry a failed action. The host checks
//! each call, collects the plan, and commits it only after the plugin returns cleanly.
//!
//! The modules below are listed bottom-up, in the layers `docs/architecture.md` draws: a module
//! imports only from modules listed before it.

// Foundation: vocabulary and utilities that know nothing of the rest.
pub mod api;
mod auth;
mod backoff;
mod deadline;
pub mod event;
pub mod limits;
pub mod model;
pub mod refusal;
// Governance rules, pure.
pub mod policy;
// Persistence: the audit chain and the store.
pub mod audit;
pub mod store;
// Where a tenant's directory lives and actions run.
pub mod backend;
// What operators configure.
pub mod config;
pub mod manifest;
// The governance core: context, gate, plan, journal.
pub mod gate;
// The sandbox.
pub mod runtime;
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
