//! The notification payload, in the shape of SailPoint's "Provisioning Completed" trigger.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::gate::TenantContext;
use crate::model::{Action, ActionKind, ActionState, ActionTarget, EntitlementType};

fn result(state: ActionState) -> &'static str {
    match state {
        ActionState::Success => "SUCCESS",
        ActionState::Error => "FAILED",
        ActionState::Rejected => "CANCELLED",
        ActionState::Pending | ActionState::Waiting | ActionState::Running | ActionState::Blocked => "PENDING",
    }
}

/// One account request for an action, with what it changed.
fn account_request(context: &TenantContext, a: &Action) -> Value {
    let backend = &context.backend;
    let tenant = &context.tenant;
    let system = context.store.system(tenant, &a.system).map(|s| s.name).unwrap_or_else(|_| a.system.clone());
    let (account_id, operation, attribute_requests) = match &a.target {
        ActionTarget::Account(id) => {
            let account = backend.account(tenant, id).ok();
            let set: Vec<Value> = account
                .as_ref()
                .map(|acc| {
                    acc.attributes
                        .iter()
                        .map(|attr| json!({"attributeName": attr.name, "attributeValue": attr.values.join(","), "operation": "Set"}))
                        .collect()
                })
                .unwrap_or_default();
            (account.map(|acc| acc.account_reference).unwrap_or_else(|| id.clone()), "Modify", set)
        }
        ActionTarget::Entitlement(id) => {
            let entitlement = backend.entitlement(tenant, id).ok();
            let kind = entitlement.as_ref().map(|e| e.kind);
            let name = entitlement.map(|e| e.display_name).unwrap_or_else(|| id.clone());
            let (operation, requests) = match (a.kind, kind) {
                (ActionKind::Grant, Some(EntitlementType::Account)) => ("Create", vec![]),
                (ActionKind::Grant, Some(EntitlementType::AccountAccess)) => ("Enable", vec![]),
                (ActionKind::Revoke, Some(EntitlementType::Account)) => ("Delete", vec![]),
                (ActionKind::Revoke, Some(EntitlementType::AccountAccess)) => ("Disable", vec![]),
                (ActionKind::Unmanage, _) => ("Unmanage", vec![]),
                (ActionKind::Revoke, _) => (
                    "Modify",
                    vec![json!({"attributeName": "entitlement", "attributeValue": name, "operation": "Remove"})],
                ),
                _ => (
                    "Modify",
                    vec![json!({"attributeName": "entitlement", "attributeValue": name, "operation": "Add"})],
                ),
            };
            (id.clone(), operation, requests)
        }
    };
    json!({
        "source": {"id": a.system, "type": "SOURCE", "name": system},
        "accountId": account_id,
        "accountOperation": operation,
        "provisioningResult": result(a.state),
        "provisioningTarget": system,
        "ticketId": null,
        "attributeRequests": attribute_requests,
        "actionId": a.id,
        "actionState": a.state,
        "message": a.message,
    })
}

/// One payload per person whose actions ran in this invocation.
pub fn provisioning_completed(
    context: &TenantContext,
    invocation: &str,
    origin: &str,
    actions: &[Action],
) -> Vec<Value> {
    let mut by_person: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
    for a in actions {
        by_person.entry(a.person.as_str()).or_default().push(a);
    }
    by_person
        .into_iter()
        .map(|(person, actions)| {
            let name = context.backend.person(&context.tenant, person).map(|p| p.display_name).unwrap_or_default();
            let mut sources: Vec<&str> = actions.iter().map(|a| a.system.as_str()).collect();
            sources.dedup();
            let messages = |state: ActionState| -> Vec<&str> {
                actions.iter().filter(|a| a.state == state).map(|a| a.message.as_str()).collect()
            };
            json!({
                "trackingNumber": invocation,
                "sources": sources.join(", "),
                "action": format!("provhost:{origin}"),
                "errors": messages(ActionState::Error),
                "warnings": messages(ActionState::Blocked),
                "recipient": {"type": "IDENTITY", "id": person, "name": name},
                "requester": {"type": "API_KEY", "id": context.permission.key_id, "name": context.permission.key_id},
                "accountRequests": actions.iter().map(|a| account_request(context, a)).collect::<Vec<_>>(),
            })
        })
        .collect()
}
