//! Every audit record a change to provhost's own state makes, built here from what changed: an
//! action entering a state, an API key created or revoked, a system set failing or restored, a
//! dead delivery re-driven. The store appends each in the same transaction as its change. An
//! invocation's own record is [`InvocationRecord::audit_entry`](super::InvocationRecord); its
//! host calls and notes are built from the gate's journal by the conclusion, above this layer.

use serde_json::json;

use super::{AuditEntry, helloid_action, kind};
use crate::model::{Action, ActionState, EntitlementType};

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

/// The record of action `a` entering `state` with `message`, named as HelloID names it (which
/// needs the type of the entitlement it acts on, if it acts on one).
pub fn action_state(
    a: &Action,
    (state, message): (ActionState, &str),
    actor: Actor<'_>,
    entitlement_type: Option<EntitlementType>,
) -> AuditEntry {
    AuditEntry {
        kind: actor.kind.into(),
        invocation: a.invocation.clone(),
        key_id: actor.key_id.map(str::to_owned),
        plugin: actor.plugin.map(str::to_owned),
        person: Some(a.person.clone()),
        action: Some(a.id.clone()),
        system: Some(a.system.clone()),
        decision: state.as_str().into(),
        audit_action: Some(helloid_action(a.kind, &a.target, entitlement_type).into()),
        message: message.into(),
        details: serde_json::json!({
            "kind": a.kind,
            "target": a.target,
            "origin": a.origin,
            "retry_of": a.retry_of,
            "by": actor.key_id.map(|k| format!("API key {k}")).unwrap_or_else(|| match actor.kind {
                kind::COMMIT => "plan commit".to_string(),
                _ => "embedded executor".to_string(),
            }),
        }),
    }
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
