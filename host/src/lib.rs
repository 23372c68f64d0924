//! provhost: a WebAssembly plugin host for identity-provisioning automation.
//!
//! An event (an attribute changed, a provisioning run completed, an action failed) runs through a
//! sandboxed plugin that decides which targeted actions to take — re-enforce an entitlement,
//! update one or all accounts, unmanage an entitlement, retry a failed action. The host checks
//! each call, collects the plan, and commits it only after the plugin returns cleanly.

pub mod audit;
pub mod auth;
pub mod backend;
pub mod bench;
mod bindings;
pub mod cases;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod event;
pub mod imports;
pub mod manifest;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod refusal;
pub mod retry;
pub mod runtime;
pub mod server;
pub mod store;
pub mod webhook;
