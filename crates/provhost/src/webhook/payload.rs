//! The notification payload, in the shape of SailPoint's "Provisioning Completed" trigger.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::gate::TenantContext;
use crate::model::{Action, ActionKind, ActionState, ActionTarget, Attribute, EntitlementType};
use crate::store::Effect;

fn result(state: ActionState) -> &'static str {
    match state {
        ActionState::Success => "SUCCESS",
        ActionState::Error => "FAILED",
        ActionState::Rejected => "CANCELLED",
        ActionState::Pending | ActionState::Waiting | ActionState::Running | ActionState::Blocked => "PENDING",
    }
}

/// What an action's account request says that the backend knows: read before the unit of work
/// that ends the action, so that the payload is built inside its transaction.
#[derive(Debug, Clone)]
pub struct Part {
    system: String,
    account_id: String,
    operation: &'static str,
    attribute_requests: Vec<Value>,
}

impl Part {
    /// Reads what the account request for `a` says, as it will be once `effect` (what carrying
    /// the action out changes, when known) is applied.
    pub fn read(context: &TenantContext, a: &Action, effect: Option<&Effect>) -> Part {
        let (backend, tenant) = (&context.parts.backend, &context.parts.tenant);
        let system = context.parts.store.system(tenant, &a.system).map(|s| s.name).unwrap_or_else(|_| a.system.clone());
        let set = |attributes: &[Attribute]| -> Vec<Value> {
            attributes
                .iter()
                .map(|attr| json!({"attributeName": attr.name, "attributeValue": attr.values.join(","), "operation": "Set"}))
                .collect()
        };
        let (account_id, operation, attribute_requests) = match &a.target {
            ActionTarget::Account(id) => {
                let account = backend.account(tenant, id).ok();
                let requests = match effect {
                    Some(Effect::AccountAttributes { attributes, .. }) => set(attributes),
                    _ => account.as_ref().map(|acc| set(&acc.attributes)).unwrap_or_default(),
                };
                (account.map(|acc| acc.account_reference).unwrap_or_else(|| id.clone()), "Modify", requests)
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
        Part { system, account_id, operation, attribute_requests }
    }

    /// The account request for `a` as it ended.
    fn request(&self, a: &Action) -> Value {
        json!({
            "source": {"id": a.system, "type": "SOURCE", "name": self.system},
            "accountId": self.account_id,
            "accountOperation": self.operation,
            "provisioningResult": result(a.state),
            "provisioningTarget": self.system,
            "ticketId": null,
            "attributeRequests": self.attribute_requests,
            "actionId": a.id,
            "actionState": a.state,
            "message": a.message,
        })
    }
}

/// What a notification names besides its person: the unit that ran its actions and who asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Naming<'a> {
    /// Its `trackingNumber`: the invocation, or the id a fixed tracking gives.
    pub tracking_number: &'a str,
    /// What ran the actions (the plugin, `api`, `approval`...), named in its `action`.
    pub origin: &'a str,
    /// The key that requested them.
    pub requester: &'a str,
}

/// One payload per person whose actions ran in the unit `naming` names; `parts` holds each
/// action's account request as read before, `names` each person's display name.
pub fn provisioning_completed(
    naming: Naming<'_>,
    actions: &[&Action],
    parts: &HashMap<String, Part>,
    names: &HashMap<String, String>,
) -> Vec<Value> {
    let mut by_person: BTreeMap<&str, Vec<&Action>> = BTreeMap::new();
    for a in actions {
        by_person.entry(a.person.as_str()).or_default().push(a);
    }
    by_person
        .into_iter()
        .map(|(person, actions)| {
            let mut sources: Vec<&str> = actions.iter().map(|a| a.system.as_str()).collect();
            sources.dedup();
            let messages = |state: ActionState| -> Vec<&str> {
                actions.iter().filter(|a| a.state == state).map(|a| a.message.as_str()).collect()
            };
            let requests: Vec<Value> =
                actions.iter().filter_map(|a| parts.get(&a.id).map(|part| part.request(a))).collect();
            let Naming { tracking_number, origin, requester } = naming;
            json!({
                "trackingNumber": tracking_number,
                "sources": sources.join(", "),
                "action": format!("provhost:{origin}"),
                "errors": messages(ActionState::Error),
                "warnings": messages(ActionState::Blocked),
                "recipient": {"type": "IDENTITY", "id": person, "name": names.get(person).cloned().unwrap_or_default()},
                "requester": {"type": "API_KEY", "id": requester, "name": requester},
                "accountRequests": requests,
            })
        })
        .collect()
}
