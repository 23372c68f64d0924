//! The audit records of one invocation, built by the conclusion: the invocation itself, each
//! host call with its decision, and each audit note the plugin wrote.

use serde_json::json;

use crate::audit::{AuditEntry, InvocationRecord, kind};
use crate::gate::Journal;

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
    std::iter::once(r.audit_entry()).chain(calls).chain(notes).collect()
}
