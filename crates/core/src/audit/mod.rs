//! The audit trail: one record per unit of work — an invocation or request with every call it
//! made and its decision, an executor step with the state changes it made, an approval or
//! rejection, a key, system or delivery change — written in the same store transaction as the
//! change it describes, and chained by hash per tenant so that tampering shows.

mod chain;
mod checkpoint;
pub mod entries;
mod invocation;
mod names;
mod outcome;

pub use chain::{ChainBreak, ChainVerifier, FORMAT, content_hash, record_hash, verify_chain};
pub use checkpoint::{ChainHead, ChainStart, Checkpoint};
pub use entries::Actor;
pub use invocation::InvocationRecord;
pub use names::helloid_action;
pub use outcome::Outcome;

use serde::{Deserialize, Serialize};

/// What a record is about.
pub mod kind {
    /// One plugin run (also dry runs and runs that committed nothing).
    pub const INVOCATION: &str = "invocation";
    /// An executor step: the actions it claimed or ended, each with its new state.
    pub const ACTION_STATE: &str = "action-state";
    /// A blocked action approved.
    pub const APPROVAL: &str = "approval";
    /// A blocked action rejected.
    pub const REJECTION: &str = "rejection";
    /// An API key created or revoked.
    pub const KEY: &str = "key";
    /// A target system set failing or restored.
    pub const SYSTEM: &str = "system";
    /// A dead notification put back in the queue.
    pub const DELIVERY: &str = "delivery";
    /// A new plugin version replayed over kept events (a dry run: nothing else is recorded).
    pub const REPLAY: &str = "replay";
    /// A signed checkpoint taken of the chain (`provhost audit anchor`).
    pub const CHECKPOINT: &str = "checkpoint";
}

/// What a record says, before it is placed in the chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// One of [`kind`].
    pub kind: String,
    /// The invocation it belongs to.
    pub invocation: Option<String>,
    /// The API key that caused it (never a secret).
    pub key_id: Option<String>,
    /// The plugin involved.
    pub plugin: Option<String>,
    /// The person it concerns.
    pub person: Option<String>,
    /// The entitlement action it concerns.
    pub action: Option<String>,
    /// The target system it concerns.
    pub system: Option<String>,
    /// `allowed`, a refusal code, an outcome, or an action state.
    pub decision: String,
    /// The HelloID audit action name (`UpdateAccount`, `GrantPermission`, …) where one applies.
    pub audit_action: Option<String>,
    /// A sentence for a person.
    pub message: String,
    /// Everything else, as JSON.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A record as stored: its place in the tenant's chain and its hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// The tenant whose chain it is in.
    pub tenant: String,
    /// Position in the tenant's chain, from 1.
    pub seq: u64,
    /// The record's id.
    pub id: String,
    /// When it was written, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub at: String,
    /// What it says.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// The hash of the record before it (64 zeros for the first).
    pub prev_hash: String,
    /// The hash of this record's content, including `prev_hash`.
    pub hash: String,
    /// How `hash` is computed: 1, provhost's first format (fields in a fixed order); 2, SHA-256 of
    /// the record's RFC 8785 (JCS) form without `hash` (docs/audit.md gives the recipe).
    #[serde(default = "first_format")]
    pub format: u32,
}

fn first_format() -> u32 {
    1
}

/// The `prev_hash` of a tenant's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
