//! Read-only queries against the identity platform. Each asks for only what the plugin needs: a
//! person's attributes are read one at a time, entitlements and accounts of one system when one is
//! named, at most `limit` actions.

use crate::bindings::provhost::plugin::queries as wit;
use crate::{Account, Action, ActionFilter, Entitlement, Error, PersonId, SystemId};

/// A person as the identity platform knows them: `id()`, `display_name()` and
/// `attribute(name)`, the values of one attribute, empty when the person does not have it.
#[cfg(not(feature = "contract-0-1"))]
pub use wit::Person;

/// The person with this id.
pub fn get_person(person: &PersonId) -> Result<Person, Error> {
    contract::get_person(person.as_str())
}

/// The entitlements the person holds: in `system` only, when it is given.
pub fn list_entitlements(person: &PersonId, system: Option<&SystemId>) -> Result<Vec<Entitlement>, Error> {
    contract::list_entitlements(person.as_str(), system.map(SystemId::as_str))
}

/// The accounts the person owns: in `system` only, when it is given.
pub fn list_accounts(person: &PersonId, system: Option<&SystemId>) -> Result<Vec<Account>, Error> {
    contract::list_accounts(person.as_str(), system.map(SystemId::as_str))
}

/// Entitlement actions matching the filter, newest first, at most `limit` (never more than 500).
pub fn list_actions(filter: &ActionFilter, limit: u32) -> Result<Vec<Action>, Error> {
    contract::list_actions(filter, limit)
}

#[cfg(not(feature = "contract-0-1"))]
mod contract {
    pub use super::wit::{get_person, list_accounts, list_actions, list_entitlements};
}

/// The same API over the frozen 0.1.0 contract, whose queries return everything: what 0.2.0 leaves
/// on the host is filtered here, in the plugin.
#[cfg(feature = "contract-0-1")]
mod contract {
    use super::wit;
    use crate::{Account, Action, ActionFilter, Entitlement, Error};

    /// A person as the identity platform knows them.
    pub struct Person(wit::Person);

    impl Person {
        /// The person's id.
        pub fn id(&self) -> String {
            self.0.id.clone()
        }

        /// Name for display and logs.
        pub fn display_name(&self) -> String {
            self.0.display_name.clone()
        }

        /// The values of an attribute, empty if the person does not have it.
        pub fn attribute(&self, name: &str) -> Vec<String> {
            self.0.attributes.iter().find(|a| a.name == name).map(|a| a.values.clone()).unwrap_or_default()
        }
    }

    pub fn get_person(person: &str) -> Result<Person, Error> {
        wit::get_person(person).map(Person)
    }

    fn in_system<T>(list: Vec<T>, system: Option<&str>, of: impl Fn(&T) -> &str) -> Vec<T> {
        list.into_iter().filter(|item| system.is_none_or(|s| of(item) == s)).collect()
    }

    pub fn list_entitlements(person: &str, system: Option<&str>) -> Result<Vec<Entitlement>, Error> {
        Ok(in_system(wit::list_entitlements(person)?, system, |e| &e.system))
    }

    pub fn list_accounts(person: &str, system: Option<&str>) -> Result<Vec<Account>, Error> {
        Ok(in_system(wit::list_accounts(person)?, system, |a| &a.system))
    }

    pub fn list_actions(filter: &ActionFilter, limit: u32) -> Result<Vec<Action>, Error> {
        let mut actions = wit::list_actions(filter)?;
        actions.truncate(limit as usize);
        Ok(actions)
    }
}

#[cfg(feature = "contract-0-1")]
pub use contract::Person;
