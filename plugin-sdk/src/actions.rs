//! The targeted provisioning actions. Each returns a [`Receipt`] for an action planned in state
//! `pending`, or an [`Error`] the plugin can react to (forbidden, excluded, threshold-exceeded,
//! not-found, ...). Planned actions commit only if the plugin's handler returns `Ok`.

use crate::bindings::provhost::plugin::actions as wit;
use crate::{AccountId, ActionId, EntitlementId, Error, PersonId, Receipt};

/// Run the grant of an entitlement the person already has again.
pub fn re_enforce_entitlement(person: &PersonId, entitlement: &EntitlementId, reason: &str) -> Result<Receipt, Error> {
    wit::re_enforce_entitlement(person.as_str(), entitlement.as_str(), reason)
}

/// Run the update step for one of the person's accounts.
pub fn update_account(person: &PersonId, account: &AccountId, reason: &str) -> Result<Receipt, Error> {
    wit::update_account(person.as_str(), account.as_str(), reason)
}

/// Run the update step for every account of the person.
pub fn update_all_accounts(person: &PersonId, reason: &str) -> Result<Vec<Receipt>, Error> {
    wit::update_all_accounts(person.as_str(), reason)
}

/// Stop managing an entitlement; the target system keeps it as it is.
pub fn unmanage_entitlement(person: &PersonId, entitlement: &EntitlementId, reason: &str) -> Result<Receipt, Error> {
    wit::unmanage_entitlement(person.as_str(), entitlement.as_str(), reason)
}

/// Run a failed action again, as a new action with origin `manual retry`.
pub fn retry_action(action: &ActionId, reason: &str) -> Result<Receipt, Error> {
    wit::retry_action(action.as_str(), reason)
}
