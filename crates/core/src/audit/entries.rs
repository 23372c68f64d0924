//! Every audit record a change to provhost's own state makes, built here from what changed: the
//! actions a unit of work moved (one record per unit, not per action), an API key created or
//! revoked, a system set failing or restored, a dead delivery re-driven, a checkpoint taken. The
//! store appends each in the same transaction as its change. An invocation's own record is
//! [`InvocationRecord::audit_entry`](super::InvocationRecord); its host calls and notes are built
//! from the gate's journal by the conclusion, above this layer.

use serde_json::json;

use super::{AuditEntry, Checkpoint, kind};
use crate::model::Action;
use crate::refusal::Refusal;

/// Who changed an action, for its audit record.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The audit record's kind.
    pub kind: &'static str,
    /// The API key behind the change.
    pub key_id: Option<&'a str>,
    /// The plugin behind the change.
    pub plugin: Option<&'a str>,
}

impl Actor<'static> {
    /// The executor, moving an action through its states.
    pub const EXECUTOR: Actor<'static> = Actor { kind: kind::ACTION_STATE, key_id: None, plugin: None };
}

/// One action's change in a unit of work: the action as it now is, and its HelloID name.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// The action, in the state it entered.
    pub action: &'a Action,
    /// How HelloID names the action (`UpdateAccount`, `GrantPermission`, …).
    pub audit_action: &'static str,
}

/// The one record of a unit of work that moved `changes` (an executor's claim or step, an
/// approval or rejection): each change with its state, message and HelloID name. The record is
/// indexed under every person and action it names (`details.refs`).
pub fn action_states(actor: Actor<'_>, changes: &[Change<'_>]) -> AuditEntry {
    let same = |field: fn(&Change<'_>) -> String| -> Option<String> {
        let first = field(changes.first()?);
        changes.iter().all(|c| field(c) == first).then_some(first)
    };
    let one = (changes.len() == 1).then(|| changes[0]);
    let decision = same(|c| c.action.state.as_str().to_owned()).unwrap_or_else(|| "mixed".into());
    let message = match one {
        Some(c) => c.action.message.clone(),
        None => {
            let mut states = std::collections::BTreeMap::<&str, usize>::new();
            changes.iter().for_each(|c| *states.entry(c.action.state.as_str()).or_default() += 1);
            let counts: Vec<String> = states.iter().map(|(state, n)| format!("{n} {state}")).collect();
            format!("{} actions: {}", changes.len(), counts.join(", "))
        }
    };
    let by = actor.key_id.map(|k| format!("API key {k}")).unwrap_or_else(|| "executor".to_string());
    AuditEntry {
        kind: actor.kind.into(),
        invocation: same(|c| c.action.invocation.clone().unwrap_or_default()).filter(|i| !i.is_empty()),
        key_id: actor.key_id.map(str::to_owned),
        plugin: actor.plugin.map(str::to_owned),
        person: same(|c| c.action.person.clone()),
        action: one.map(|c| c.action.id.clone()),
        system: same(|c| c.action.system.clone()),
        decision,
        audit_action: same(|c| c.audit_action.to_owned()),
        message,
        details: json!({
            "by": by,
            "changes": changes.iter().map(|c| json!({
                "action": c.action.id,
                "person": c.action.person,
                "system": c.action.system,
                "kind": c.action.kind,
                "target": c.action.target,
                "origin": c.action.origin,
                "retry_of": c.action.retry_of,
                "state": c.action.state,
                "message": c.action.message,
                "audit_action": c.audit_action,
            })).collect::<Vec<_>>(),
            "refs": refs(changes.iter().map(|c| c.action.person.as_str()), changes.iter().map(|c| c.action.id.as_str())),
        }),
    }
}

/// The record of an approval of blocked actions `ids` that key `by` asked for and provhost
/// refused: nothing changed.
pub fn approval_refused(by: &str, ids: &[String], refusal: &Refusal) -> AuditEntry {
    AuditEntry {
        kind: kind::APPROVAL.into(),
        key_id: Some(by.into()),
        action: (ids.len() == 1).then(|| ids[0].clone()),
        decision: refusal.code().into(),
        message: format!("approval by API key '{by}' refused: {refusal}"),
        details: json!({
            "by": format!("API key {by}"),
            "actions": ids,
            "refusal": refusal.to_string(),
            "refs": refs([], ids.iter().map(String::as_str)),
        }),
        ..Default::default()
    }
}

/// The `details.refs` of a record: the persons and actions it concerns, each once, which the
/// store indexes so that a person's or an action's records are found.
pub fn refs<'a>(
    persons: impl IntoIterator<Item = &'a str>,
    actions: impl IntoIterator<Item = &'a str>,
) -> serde_json::Value {
    let once = |ids: &mut dyn Iterator<Item = &'a str>| -> Vec<&'a str> {
        let mut seen: Vec<&str> = ids.collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    json!({ "persons": once(&mut persons.into_iter()), "actions": once(&mut actions.into_iter()) })
}

/// The record of API key `id` created for `tenant`. `key_id` names the key that caused a record;
/// the operator's command had none, so the key concerned is in the details.
pub fn key_created(
    id: &str,
    tenant: &str,
    description: &str,
    scopes: &impl serde::Serialize,
    expires_at: &Option<String>,
) -> AuditEntry {
    AuditEntry {
        kind: kind::KEY.into(),
        decision: "created".into(),
        message: format!("API key '{id}' created for tenant '{tenant}': {description}"),
        details: json!({ "key": id, "scopes": scopes, "expires_at": expires_at }),
        ..Default::default()
    }
}

/// The record of API key `id` revoked.
pub fn key_revoked(id: &str) -> AuditEntry {
    AuditEntry {
        kind: kind::KEY.into(),
        decision: "revoked".into(),
        message: format!("API key '{id}' revoked"),
        details: json!({ "key": id }),
        ..Default::default()
    }
}

/// The record of `system` set to fail every action (with `failure`'s reason) or restored.
pub fn system_state(system: &str, failure: Option<&str>) -> AuditEntry {
    let (decision, message) = match failure {
        Some(why) => ("failing", format!("system '{system}' set to fail every action: {why}")),
        None => ("restored", format!("system '{system}' restored")),
    };
    AuditEntry {
        kind: kind::SYSTEM.into(),
        system: Some(system.into()),
        decision: decision.into(),
        message,
        ..Default::default()
    }
}

/// The record of dead delivery `id` put back in the queue at the request of key `by`.
pub fn delivery_redriven(id: &str, by: &str) -> AuditEntry {
    AuditEntry {
        kind: kind::DELIVERY.into(),
        key_id: Some(by.into()),
        decision: "redriven".into(),
        message: format!("dead delivery '{id}' put back in the queue"),
        details: json!({ "delivery": id }),
        ..Default::default()
    }
}

/// The one record of a replay by key `by` of component `sha256` as plugin `plugin` over kept
/// events: `message` says over which range and how it compared, `details` holds the range and the
/// summary. A replay commits nothing else.
pub fn replayed(by: &str, plugin: &str, sha256: &str, message: String, details: serde_json::Value) -> AuditEntry {
    let mut details = details;
    details["component_sha256"] = json!(sha256);
    AuditEntry {
        kind: kind::REPLAY.into(),
        key_id: Some(by.into()),
        plugin: Some(plugin.into()),
        decision: "replayed".into(),
        message,
        details,
        ..Default::default()
    }
}

/// The record of `checkpoint` taken of its tenant's chain by `by` (who ran `provhost audit
/// anchor`): the record it names and that record's hash, where the chain starts, and the
/// signature, so that the last checkpoint is found in the store and checked against the chain.
pub fn checkpoint_taken(checkpoint: &Checkpoint, by: &str) -> AuditEntry {
    AuditEntry {
        kind: kind::CHECKPOINT.into(),
        decision: "anchored".into(),
        message: format!("checkpoint of record {} (hash {}) taken by {by}", checkpoint.seq, checkpoint.hash),
        details: json!({ "by": by, "checkpoint": checkpoint }),
        ..Default::default()
    }
}
