//! The calls a plugin (through its WIT imports) or an HTTP client (through the targeted endpoints)
//! makes of the gate, as values: each knows its WIT import, the ids it names, its reason, the
//! scope it needs and the action kind it plans. A new host action is one variant here, its rule
//! in [`Gate::decide`](super::Gate::decide), its WIT item and its SDK wrapper.

use serde::{Serialize, Serializer};

use provhost_core::model::{ActionFilter, ActionKind};
use provhost_core::policy::Scope;

/// A WIT import of the plugin world, as the journal and the audit trail name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Import {
    /// `actions.re-enforce-entitlement`
    ReEnforceEntitlement,
    /// `actions.update-account`
    UpdateAccount,
    /// `actions.update-all-accounts`
    UpdateAllAccounts,
    /// `actions.unmanage-entitlement`
    UnmanageEntitlement,
    /// `actions.retry-action`
    RetryAction,
    /// `queries.get-person`
    GetPerson,
    /// `queries.list-entitlements`
    ListEntitlements,
    /// `queries.list-accounts`
    ListAccounts,
    /// `queries.list-actions`
    ListActions,
    /// A method of the 0.2.0 `queries.person` resource: its id, display name or one attribute
    PersonRead,
    /// `log.log`
    Log,
    /// `log.audit-note`
    AuditNote,
    /// `log.config` (0.1.0)
    Config,
    /// `settings.get` (0.2.0)
    SettingsGet,
}

impl Import {
    /// The import's name, `interface.function`: the one place each is spelled.
    pub const fn name(self) -> &'static str {
        match self {
            Import::ReEnforceEntitlement => "actions.re-enforce-entitlement",
            Import::UpdateAccount => "actions.update-account",
            Import::UpdateAllAccounts => "actions.update-all-accounts",
            Import::UnmanageEntitlement => "actions.unmanage-entitlement",
            Import::RetryAction => "actions.retry-action",
            Import::GetPerson => "queries.get-person",
            Import::ListEntitlements => "queries.list-entitlements",
            Import::ListAccounts => "queries.list-accounts",
            Import::ListActions => "queries.list-actions",
            Import::PersonRead => "queries.person",
            Import::Log => "log.log",
            Import::AuditNote => "log.audit-note",
            Import::Config => "log.config",
            Import::SettingsGet => "settings.get",
        }
    }

    /// The interface and the function, as the audit record splits them.
    pub fn parts(self) -> (&'static str, &'static str) {
        self.name().split_once('.').expect("every import is `interface.function`")
    }
}

impl Serialize for Import {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A call that plans actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Run the grant of a granted entitlement again.
    ReEnforce {
        /// The person.
        person: String,
        /// Their entitlement.
        entitlement: String,
        /// Why.
        reason: String,
    },
    /// Run the update step of one account.
    UpdateAccount {
        /// The person.
        person: String,
        /// Their account.
        account: String,
        /// Why.
        reason: String,
    },
    /// Run the update step of every account of a person.
    UpdateAllAccounts {
        /// The person.
        person: String,
        /// Why.
        reason: String,
    },
    /// Stop managing an entitlement.
    Unmanage {
        /// The person.
        person: String,
        /// Their entitlement.
        entitlement: String,
        /// Why.
        reason: String,
    },
    /// Run a failed action again, as a new action.
    Retry {
        /// The failed action.
        action: String,
        /// Why.
        reason: String,
    },
}

impl Call {
    /// Re-enforces `entitlement` of `person`.
    pub fn re_enforce(person: impl Into<String>, entitlement: impl Into<String>, reason: impl Into<String>) -> Self {
        Call::ReEnforce { person: person.into(), entitlement: entitlement.into(), reason: reason.into() }
    }

    /// Updates `account` of `person`.
    pub fn update_account(person: impl Into<String>, account: impl Into<String>, reason: impl Into<String>) -> Self {
        Call::UpdateAccount { person: person.into(), account: account.into(), reason: reason.into() }
    }

    /// Updates every account of `person`.
    pub fn update_all_accounts(person: impl Into<String>, reason: impl Into<String>) -> Self {
        Call::UpdateAllAccounts { person: person.into(), reason: reason.into() }
    }

    /// Unmanages `entitlement` of `person`.
    pub fn unmanage(person: impl Into<String>, entitlement: impl Into<String>, reason: impl Into<String>) -> Self {
        Call::Unmanage { person: person.into(), entitlement: entitlement.into(), reason: reason.into() }
    }

    /// Retries the failed `action`.
    pub fn retry(action: impl Into<String>, reason: impl Into<String>) -> Self {
        Call::Retry { action: action.into(), reason: reason.into() }
    }

    /// The WIT import that makes this call.
    pub fn import(&self) -> Import {
        match self {
            Call::ReEnforce { .. } => Import::ReEnforceEntitlement,
            Call::UpdateAccount { .. } => Import::UpdateAccount,
            Call::UpdateAllAccounts { .. } => Import::UpdateAllAccounts,
            Call::Unmanage { .. } => Import::UnmanageEntitlement,
            Call::Retry { .. } => Import::RetryAction,
        }
    }

    /// The ids the call names, in argument order.
    pub fn ids(&self) -> Vec<&str> {
        match self {
            Call::ReEnforce { person, entitlement: target, .. }
            | Call::UpdateAccount { person, account: target, .. }
            | Call::Unmanage { person, entitlement: target, .. } => vec![person, target],
            Call::UpdateAllAccounts { person, .. } => vec![person],
            Call::Retry { action, .. } => vec![action],
        }
    }

    /// Why the call is made, for the actions' message and the audit trail.
    pub fn reason(&self) -> &str {
        match self {
            Call::ReEnforce { reason, .. }
            | Call::UpdateAccount { reason, .. }
            | Call::UpdateAllAccounts { reason, .. }
            | Call::Unmanage { reason, .. }
            | Call::Retry { reason, .. } => reason,
        }
    }

    /// The scope the key and the manifest must both grant for the systems the call touches.
    pub fn scope(&self) -> Scope {
        match self {
            Call::ReEnforce { .. } => Scope::EntitlementsReEnforce,
            Call::UpdateAccount { .. } | Call::UpdateAllAccounts { .. } => Scope::AccountsUpdate,
            Call::Unmanage { .. } => Scope::EntitlementsUnmanage,
            Call::Retry { .. } => Scope::ActionsRetry,
        }
    }

    /// The kind of action the call plans; `None` for a retry, which plans the failed action's.
    pub fn kind(&self) -> Option<ActionKind> {
        match self {
            Call::ReEnforce { .. } => Some(ActionKind::Grant),
            Call::UpdateAccount { .. } | Call::UpdateAllAccounts { .. } => Some(ActionKind::Update),
            Call::Unmanage { .. } => Some(ActionKind::Unmanage),
            Call::Retry { .. } => None,
        }
    }

    /// Why the actions it plans exist, as their `origin` says.
    pub fn origin(&self) -> &'static str {
        match self {
            Call::ReEnforce { .. } => "re-enforce",
            Call::UpdateAccount { .. } | Call::UpdateAllAccounts { .. } => "update account",
            Call::Unmanage { .. } => "unmanage",
            Call::Retry { .. } => "manual retry",
        }
    }
}

/// A call that reads through to the tenant's backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// One person.
    GetPerson {
        /// The person.
        person: String,
    },
    /// A person's entitlements.
    ListEntitlements {
        /// The person.
        person: String,
    },
    /// A person's accounts.
    ListAccounts {
        /// The person.
        person: String,
    },
    /// Actions matching a filter, at most [`LIST_ACTIONS_LIMIT`](super::LIST_ACTIONS_LIMIT).
    ListActions {
        /// The filter.
        filter: ActionFilter,
    },
}

impl Query {
    /// The WIT import that makes this query.
    pub fn import(&self) -> Import {
        match self {
            Query::GetPerson { .. } => Import::GetPerson,
            Query::ListEntitlements { .. } => Import::ListEntitlements,
            Query::ListAccounts { .. } => Import::ListAccounts,
            Query::ListActions { .. } => Import::ListActions,
        }
    }

    /// The ids the query names: the person (and, for a list of actions, the system) it asks
    /// about, empty where it names none.
    pub fn ids(&self) -> Vec<&str> {
        match self {
            Query::GetPerson { person } | Query::ListEntitlements { person } | Query::ListAccounts { person } => {
                vec![person]
            }
            Query::ListActions { filter } => {
                vec![filter.person.as_deref().unwrap_or_default(), filter.system.as_deref().unwrap_or_default()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_knows_its_import_ids_scope_and_kind() {
        let call = Call::re_enforce("p", "e", "why");
        assert_eq!(
            (call.import().name(), call.ids(), call.reason()),
            ("actions.re-enforce-entitlement", vec!["p", "e"], "why")
        );
        assert_eq!((call.scope(), call.kind()), (Scope::EntitlementsReEnforce, Some(ActionKind::Grant)));
        let retry = Call::retry("a", "again");
        assert_eq!((retry.import().parts(), retry.ids(), retry.kind()), (("actions", "retry-action"), vec!["a"], None));
        let all = Call::update_all_accounts("p", "r");
        assert_eq!((all.scope(), all.origin()), (Scope::AccountsUpdate, "update account"));
        assert_eq!(serde_json::to_string(&Import::ListActions).unwrap(), "\"queries.list-actions\"");
    }
}
