//! The audit records of one invocation: the invocation itself, each host call with its
//! decision, and each audit note the plugin wrote.

use serde_json::json;

use super::{AuditEntry, kind};
use crate::imports::Journal;
use crate::store::InvocationRecord;

/// The record of the invocation: who ran which plugin on what, how it ended, what it used.
pub fn invocation_entry(r: &InvocationRecord) -> AuditEntry {
    AuditEntry {
        kind: kind::INVOCATION.into(),
        invocation: Some(r.id.clone()),
        key_id: r.key_id.clone(),
        plugin: Some(r.plugin_name.clone()),
        person: None,
        action: None,
        system: None,
        decision: if r.dry_run { format!("dry-run:{}", r.outcome) } else { r.outcome.clone() },
        audit_action: None,
        message: r.detail.clone(),
        details: json!({
            "plugin_sha256": r.plugin_sha256,
            "event_kind": r.event_kind,
            "event_digest": r.event_digest,
            "event_summary": r.event_summary,
            "dry_run": r.dry_run,
            "started_at": r.started_at,
            "duration_us": r.duration_us,
            "fuel_used": r.fuel_used,
            "peak_memory": r.peak_memory,
            "host_calls": r.host_calls,
            "guest_output": r.guest_output,
        }),
    }
}

/// The invocation's record followed by one record per host call and per audit note.
pub fn invocation_entries(r: &InvocationRecord, journal: &Journal) -> Vec<AuditEntry> {
    let base = |kind: &str| AuditEntry {
        kind: kind.into(),
        invocation: Some(r.id.clone()),
        key_id: r.key_id.clone(),
        plugin: Some(r.plugin_name.clone()),
        ..Default::default()
    };
    let calls = journal.calls.iter().map(|c| {
        let (interface, function) = c.function.split_once('.').unwrap_or(("", c.function));
        AuditEntry {
            person: c.ids.first().filter(|_| interface != "actions" || function != "retry-action").cloned(),
            action: c.actions.first().cloned().or_else(|| (function == "retry-action").then(|| c.ids[0].clone())),
            decision: c.decision.into(),
            message: c.reason.clone().unwrap_or_else(|| format!("{} allowed", c.function)),
            details: json!({ "interface": interface, "function": function, "ids": c.ids, "planned": c.actions }),
            ..base(kind::HOST_CALL)
        }
    });
    let notes = journal.notes.iter().map(|n| AuditEntry {
        action: n.action.clone(),
        decision: if n.is_error { "error".into() } else { "info".into() },
        message: n.message.clone(),
        details: json!({ "is_error": n.is_error }),
        ..base(kind::NOTE)
    });
    std::iter::once(invocation_entry(r)).chain(calls).chain(notes).collect()
}
