//! The one audit record of an invocation, built by the conclusion: how it ran and ended, each host
//! call the plugin made with provhost's decision and reason, the notes it wrote, and the plan it
//! committed with the actions' ids. The record is indexed under every person and action it names.

use serde_json::json;

use crate::audit::{AuditEntry, InvocationRecord, entries};
use crate::gate::{Import, Journal};
use crate::model::Action;

/// The invocation's record, with its calls and notes and, when it committed, its `plan`.
pub fn invocation_entry(r: &InvocationRecord, journal: &Journal, plan: Option<&[Action]>) -> AuditEntry {
    let mut entry = match plan {
        Some(plan) => r.plan_entry(plan),
        None => r.audit_entry(),
    };
    let calls: Vec<_> = journal
        .calls
        .iter()
        .map(|c| {
            let (interface, function) = c.function.parts();
            json!({ "interface": interface, "function": function, "ids": c.ids, "decision": c.decision,
                    "reason": c.reason, "planned": c.actions })
        })
        .collect();
    let notes: Vec<_> = journal
        .notes
        .iter()
        .map(|n| json!({ "action": n.action, "message": n.message, "is_error": n.is_error }))
        .collect();
    // The persons the calls named (a retry names an action instead), and every action planned,
    // retried or noted, besides those of the plan.
    let persons = journal
        .calls
        .iter()
        .filter(|c| c.function != Import::RetryAction)
        .filter_map(|c| c.ids.first().map(String::as_str))
        .chain(plan.into_iter().flatten().map(|a| a.person.as_str()));
    let actions = journal
        .calls
        .iter()
        .flat_map(|c| {
            let retried = (c.function == Import::RetryAction).then(|| c.ids.first()).flatten();
            c.actions.iter().chain(retried)
        })
        .chain(journal.notes.iter().filter_map(|n| n.action.as_ref()))
        .map(String::as_str)
        .chain(plan.into_iter().flatten().map(|a| a.id.as_str()));
    entry.details["calls"] = json!(calls);
    entry.details["notes"] = json!(notes);
    entry.details["refs"] = entries::refs(persons, actions);
    entry
}
