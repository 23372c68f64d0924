//! HelloID audit action names, so that existing dashboards can read provhost's records.

use crate::model::{ActionKind, ActionTarget, EntitlementType};

/// The HelloID audit action for an action of `kind` on `target`, given the entitlement's type
/// when the target is an entitlement.
pub fn helloid_action(kind: ActionKind, target: &ActionTarget, entitlement: Option<EntitlementType>) -> &'static str {
    match (kind, target, entitlement) {
        (ActionKind::Update, ActionTarget::Account(_), _) => "UpdateAccount",
        (ActionKind::Grant, _, Some(EntitlementType::Account)) => "CreateAccount",
        (ActionKind::Grant, _, Some(EntitlementType::AccountAccess)) => "EnableAccount",
        (ActionKind::Grant, _, _) => "GrantPermission",
        (ActionKind::Revoke, _, Some(EntitlementType::Account)) => "DeleteAccount",
        (ActionKind::Revoke, _, Some(EntitlementType::AccountAccess)) => "DisableAccount",
        (ActionKind::Revoke, _, _) => "RevokePermission",
        (ActionKind::Unmanage, _, Some(EntitlementType::Account | EntitlementType::AccountAccess)) => "UnmanageAccount",
        (ActionKind::Unmanage, _, _) => "UnmanagePermission",
        (ActionKind::Update, ActionTarget::Entitlement(_), _) => "UpdateAccount",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_helloid() {
        let e = ActionTarget::Entitlement("e".into());
        let a = ActionTarget::Account("a".into());
        assert_eq!(helloid_action(ActionKind::Update, &a, None), "UpdateAccount");
        assert_eq!(helloid_action(ActionKind::Grant, &e, Some(EntitlementType::Account)), "CreateAccount");
        assert_eq!(helloid_action(ActionKind::Grant, &e, Some(EntitlementType::AccountAccess)), "EnableAccount");
        assert_eq!(helloid_action(ActionKind::Grant, &e, Some(EntitlementType::Permission)), "GrantPermission");
        assert_eq!(helloid_action(ActionKind::Revoke, &e, Some(EntitlementType::Permission)), "RevokePermission");
        assert_eq!(helloid_action(ActionKind::Unmanage, &e, Some(EntitlementType::Account)), "UnmanageAccount");
    }
}
