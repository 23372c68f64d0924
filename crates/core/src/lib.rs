//! provhost's core: the vocabulary and the rules every layer above shares, with no sandbox, no
//! SQL and no HTTP. The modules are listed bottom-up: a module imports only from modules listed
//! before it.

// Foundation: vocabulary and utilities that know nothing of the rest.
pub mod api;
pub mod auth;
pub mod backoff;
pub mod deadline;
pub mod event;
pub mod limits;
pub mod model;
pub mod refusal;
// Governance rules, pure.
pub mod policy;
// The audit records and the chain.
pub mod audit;
