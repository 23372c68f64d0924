//! An in-memory backend: a snapshot of a tenant's directory held in maps. Reads cost no I/O and
//! executing an action only marks it done — what the benchmarks use to measure provhost's own
//! cost per event without the store's.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Backend, BackendError, Job};
use provhost_core::model::{Account, Action, ActionFilter, Entitlement, Person};
use provhost_store::{Effect, Finish, Store, StoreError};

/// A tenant's directory in memory.
#[derive(Default)]
pub struct MemoryBackend {
    persons: HashMap<String, Person>,
    entitlements: HashMap<String, Entitlement>,
    accounts: HashMap<String, Account>,
    actions: Mutex<Vec<Action>>,
}

fn missing(kind: &str, id: &str) -> BackendError {
    BackendError::NotFound(format!("{kind} '{id}' not found"))
}

impl MemoryBackend {
    /// A snapshot of a tenant in `store`: persons, entitlements, accounts and actions.
    pub fn snapshot(store: &dyn Store, tenant: &str) -> Result<Self, StoreError> {
        let mut backend = MemoryBackend::default();
        for person in store.persons(tenant)? {
            for e in store.entitlements_of(tenant, &person.id)? {
                backend.entitlements.insert(e.id.clone(), e);
            }
            for a in store.accounts_of(tenant, &person.id)? {
                backend.accounts.insert(a.id.clone(), a);
            }
            backend.persons.insert(person.id.clone(), person);
        }
        *backend.actions.lock().unwrap_or_else(|p| p.into_inner()) =
            store.actions(tenant, &ActionFilter::default(), usize::MAX >> 1)?;
        Ok(backend)
    }
}

impl Backend for MemoryBackend {
    fn persons(&self, _tenant: &str) -> Result<Vec<Person>, BackendError> {
        let mut all: Vec<Person> = self.persons.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    fn person(&self, _tenant: &str, id: &str) -> Result<Person, BackendError> {
        self.persons.get(id).cloned().ok_or_else(|| missing("person", id))
    }

    fn entitlements(&self, _tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
        let mut found: Vec<Entitlement> = self.entitlements.values().filter(|e| e.person == person).cloned().collect();
        found.sort_by(|a, b| (&a.system, &a.display_name).cmp(&(&b.system, &b.display_name)));
        Ok(found)
    }

    fn accounts(&self, _tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
        let mut found: Vec<Account> = self.accounts.values().filter(|a| a.person == person).cloned().collect();
        found.sort_by(|a, b| (&a.system, &a.id).cmp(&(&b.system, &b.id)));
        Ok(found)
    }

    fn entitlement(&self, _tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
        self.entitlements.get(id).cloned().ok_or_else(|| missing("entitlement", id))
    }

    fn account(&self, _tenant: &str, id: &str) -> Result<Account, BackendError> {
        self.accounts.get(id).cloned().ok_or_else(|| missing("account", id))
    }

    fn action(&self, _tenant: &str, id: &str) -> Result<Action, BackendError> {
        let actions = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        actions.iter().find(|a| a.id == id).cloned().ok_or_else(|| missing("action", id))
    }

    fn actions(&self, _tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
        let actions = self.actions.lock().unwrap_or_else(|p| p.into_inner());
        Ok(actions
            .iter()
            .filter(|a| filter.person.as_ref().is_none_or(|p| &a.person == p))
            .filter(|a| filter.state.is_none_or(|s| a.state == s))
            .filter(|a| filter.system.as_ref().is_none_or(|s| &a.system == s))
            .take(limit)
            .cloned()
            .collect())
    }

    fn entitlement_count(&self, _tenant: &str, system: &str) -> Result<u32, BackendError> {
        Ok(self.entitlements.values().filter(|e| e.system == system).count() as u32)
    }

    fn carry_out(&self, _tenant: &str, _job: &Job<'_>) -> Result<Finish, BackendError> {
        Ok(Finish::Success(Effect::Nothing, "done in memory".into()))
    }
}
