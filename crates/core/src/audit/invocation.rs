//! What is kept of one plugin invocation, and its own audit record.

use serde::Serialize;
use serde_json::json;

use super::{AuditEntry, Outcome, kind};

/// What is kept of one plugin invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InvocationRecord {
    /// The invocation's id.
    pub id: String,
    /// The tenant it ran for.
    pub tenant: String,
    /// The plugin's name.
    pub plugin_name: String,
    /// The sha256 of the plugin component, hex.
    pub plugin_sha256: String,
    /// `attribute-changed`, `provisioning-completed` or `action-failed`.
    pub event_kind: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The plugin's summary or the reason it failed.
    pub detail: String,
    /// Whether this was a dry run (nothing but this record is written).
    pub dry_run: bool,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Largest linear memory reached, in bytes.
    pub peak_memory: u64,
    /// Host calls made.
    pub host_calls: u32,
    /// What the plugin wrote to stdout and stderr, capped.
    pub guest_output: String,
    /// The API key it ran under.
    pub key_id: Option<String>,
    /// The sha256 of the event document as received.
    pub event_digest: String,
    /// One line on what the event was about.
    pub event_summary: String,
}

impl InvocationRecord {
    /// The record of history brought in from outside a plugin run (seed data, fixtures): it
    /// committed, with no plugin and no usage.
    pub fn history(id: &str, tenant: &str, source: &str, detail: &str) -> Self {
        InvocationRecord {
            event_kind: "seed".into(),
            outcome: Outcome::Committed,
            detail: detail.into(),
            event_summary: detail.into(),
            ..Self::starting(id.into(), tenant, source, false)
        }
    }

    /// The record of a run of `plugin` for `tenant` starting now; the rest is filled in as it
    /// runs and ends.
    pub fn starting(id: String, tenant: &str, plugin: &str, dry_run: bool) -> Self {
        InvocationRecord {
            id,
            tenant: tenant.into(),
            plugin_name: plugin.into(),
            dry_run,
            started_at: crate::model::now_rfc3339(),
            ..Default::default()
        }
    }

    /// The invocation's record with the plan it committed: each action with its id, person,
    /// system, kind, target and state (`pending`, or `blocked` by a threshold).
    pub fn plan_entry(&self, plan: &[crate::model::Action]) -> AuditEntry {
        let mut entry = self.audit_entry();
        entry.details["plan"] = serde_json::Value::Array(
            plan.iter()
                .map(|a| {
                    json!({ "action": a.id, "person": a.person, "system": a.system, "kind": a.kind,
                            "target": a.target, "state": a.state, "retry_of": a.retry_of })
                })
                .collect(),
        );
        entry.details["refs"] =
            super::entries::refs(plan.iter().map(|a| a.person.as_str()), plan.iter().map(|a| a.id.as_str()));
        entry
    }

    /// The invocation's own audit record: who ran which plugin on what, how it ended, what it
    /// used.
    pub fn audit_entry(&self) -> AuditEntry {
        AuditEntry {
            kind: kind::INVOCATION.into(),
            invocation: Some(self.id.clone()),
            key_id: self.key_id.clone(),
            plugin: Some(self.plugin_name.clone()),
            person: None,
            action: None,
            system: None,
            decision: if self.dry_run { format!("dry-run:{}", self.outcome) } else { self.outcome.to_string() },
            audit_action: None,
            message: self.detail.clone(),
            details: json!({
                "plugin_sha256": self.plugin_sha256,
                "event_kind": self.event_kind,
                "event_digest": self.event_digest,
                "event_summary": self.event_summary,
                "dry_run": self.dry_run,
                "started_at": self.started_at,
                "duration_us": self.duration_us,
                "fuel_used": self.fuel_used,
                "peak_memory": self.peak_memory,
                "host_calls": self.host_calls,
                "guest_output": self.guest_output,
            }),
        }
    }
}
