//! Read-only queries against the identity platform.

use crate::bindings::provhost::plugin::queries as wit;
use crate::{Account, Action, ActionFilter, Entitlement, Error, Person, PersonId};

/// The person with this id.
pub fn get_person(person: &PersonId) -> Result<Person, Error> {
    wit::get_person(person.as_str())
}

/// Every entitlement the person holds.
pub fn list_entitlements(person: &PersonId) -> Result<Vec<Entitlement>, Error> {
    wit::list_entitlements(person.as_str())
}

/// Every account the person owns.
pub fn list_accounts(person: &PersonId) -> Result<Vec<Account>, Error> {
    wit::list_accounts(person.as_str())
}

/// Entitlement actions matching the filter, newest first.
pub fn list_actions(filter: &ActionFilter) -> Result<Vec<Action>, Error> {
    wit::list_actions(filter)
}
