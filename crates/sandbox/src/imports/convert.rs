//! Conversions between provhost's model and the generated WIT types.

use crate::bindings::types as wit;
use provhost_core::model::{
    Account, Action, ActionKind, ActionState, ActionTarget, Attribute, Entitlement, EntitlementType, Person,
};

impl From<ActionKind> for wit::ActionKind {
    fn from(k: ActionKind) -> Self {
        match k {
            ActionKind::Grant => wit::ActionKind::Grant,
            ActionKind::Update => wit::ActionKind::Update,
            ActionKind::Revoke => wit::ActionKind::Revoke,
            ActionKind::Unmanage => wit::ActionKind::Unmanage,
        }
    }
}

impl From<ActionState> for wit::ActionState {
    fn from(s: ActionState) -> Self {
        match s {
            ActionState::Pending => wit::ActionState::Pending,
            ActionState::Waiting => wit::ActionState::Waiting,
            ActionState::Running => wit::ActionState::Running,
            ActionState::Success => wit::ActionState::Success,
            ActionState::Error => wit::ActionState::Error,
            ActionState::Blocked => wit::ActionState::Blocked,
            ActionState::Rejected => wit::ActionState::Rejected,
        }
    }
}

impl From<wit::ActionState> for ActionState {
    fn from(s: wit::ActionState) -> Self {
        match s {
            wit::ActionState::Pending => ActionState::Pending,
            wit::ActionState::Waiting => ActionState::Waiting,
            wit::ActionState::Running => ActionState::Running,
            wit::ActionState::Success => ActionState::Success,
            wit::ActionState::Error => ActionState::Error,
            wit::ActionState::Blocked => ActionState::Blocked,
            wit::ActionState::Rejected => ActionState::Rejected,
        }
    }
}

fn attributes(list: Vec<Attribute>) -> Vec<wit::Attribute> {
    list.into_iter().map(|a| wit::Attribute { name: a.name, values: a.values }).collect()
}

impl From<Person> for wit::Person {
    fn from(p: Person) -> Self {
        wit::Person { id: p.id, display_name: p.display_name, attributes: attributes(p.attributes) }
    }
}

impl From<Entitlement> for wit::Entitlement {
    fn from(e: Entitlement) -> Self {
        wit::Entitlement {
            id: e.id,
            person: e.person,
            system: e.system,
            kind: match e.kind {
                EntitlementType::Account => wit::EntitlementType::Account,
                EntitlementType::AccountAccess => wit::EntitlementType::AccountAccess,
                EntitlementType::Permission => wit::EntitlementType::Permission,
            },
            display_name: e.display_name,
            managed: e.managed,
        }
    }
}

impl From<Account> for wit::Account {
    fn from(a: Account) -> Self {
        wit::Account {
            id: a.id,
            person: a.person,
            system: a.system,
            account_reference: a.account_reference,
            enabled: a.enabled,
            attributes: attributes(a.attributes),
        }
    }
}

impl From<Action> for wit::Action {
    fn from(a: Action) -> Self {
        wit::Action {
            id: a.id,
            person: a.person,
            system: a.system,
            target: match a.target {
                ActionTarget::Entitlement(id) => wit::ActionTarget::Entitlement(id),
                ActionTarget::Account(id) => wit::ActionTarget::Account(id),
            },
            kind: a.kind.into(),
            state: a.state.into(),
            origin: a.origin,
            message: a.message,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}
