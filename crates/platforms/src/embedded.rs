//! The embedded backend: the directory in provhost's own store, and an executor that simulates
//! the target systems — it applies each action's effect and moves it pending → running → success,
//! or to error when the system is configured to fail.

use std::sync::Arc;

use super::{Backend, BackendError, BatchReads, Job};
use provhost_core::model::{
    Account, Action, ActionFilter, ActionKind, ActionTarget, Attribute, Entitlement, EntitlementType, Person,
};
use provhost_store::{Effect, Finish, Store};

/// The default backend, over provhost's embedded store.
#[derive(Clone)]
pub struct EmbeddedBackend {
    store: Arc<dyn Store>,
}

impl EmbeddedBackend {
    /// A backend reading and writing `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// What running `action` does to the simulated target system, or the error it ends with.
    fn simulate(&self, tenant: &str, action: &Action, reads: &BatchReads) -> Result<Finish, BackendError> {
        let system = reads.system(tenant, &action.system, || self.store.system(tenant, &action.system))?;
        let entitlement = |id: &str| reads.entitlement(tenant, id, || self.store.entitlement(tenant, id));
        if let Some(failure) = system.failure {
            return Ok(Finish::Error(format!("{}: {failure}", system.name)));
        }
        if let ActionTarget::Entitlement(id) = &action.target {
            let entitlement = entitlement(id)?;
            if !entitlement.managed {
                return Ok(Finish::Error(format!(
                    "{}: {} is no longer managed; provisioning leaves it alone, so the {} was not carried out",
                    system.name, entitlement.display_name, action.kind
                )));
            }
        }
        let outcome = match (&action.kind, &action.target) {
            (ActionKind::Update, ActionTarget::Account(account)) => {
                let person = reads.person(tenant, &action.person, || self.store.person(tenant, &action.person))?;
                let current = reads.account(tenant, account, || self.store.account(tenant, account))?;
                let attributes = merged_attributes(&current.attributes, &person.attributes, &system.consumes);
                let message = format!("{}: updated account {}", system.name, current.account_reference);
                (Effect::AccountAttributes { account: account.clone(), attributes }, message)
            }
            (ActionKind::Grant, ActionTarget::Entitlement(id)) => {
                let entitlement = entitlement(id)?;
                let effect = match entitlement.kind {
                    EntitlementType::AccountAccess => self
                        .store
                        .accounts_of(tenant, &action.person)?
                        .into_iter()
                        .find(|a| a.system == action.system)
                        .map(|a| Effect::AccountEnabled { account: a.id })
                        .unwrap_or(Effect::Nothing),
                    EntitlementType::Account | EntitlementType::Permission => Effect::Nothing,
                };
                (effect, format!("{}: granted {}", system.name, entitlement.display_name))
            }
            (ActionKind::Unmanage, ActionTarget::Entitlement(id)) => {
                let entitlement = entitlement(id)?;
                let message = format!("{}: {} is no longer managed", system.name, entitlement.display_name);
                (Effect::Unmanaged { entitlement: id.clone() }, message)
            }
            (ActionKind::Revoke, ActionTarget::Entitlement(id)) => {
                let entitlement = entitlement(id)?;
                let message = format!("{}: revoked {}", system.name, entitlement.display_name);
                (Effect::Revoked { entitlement: id.clone() }, message)
            }
            (kind, target) => return Ok(Finish::Error(format!("a {kind} action cannot act on {target:?}"))),
        };
        Ok(Finish::Success(outcome.0, outcome.1))
    }
}

/// The account's attributes with every attribute the system consumes taken from the person.
fn merged_attributes(account: &[Attribute], person: &[Attribute], consumes: &[String]) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = account.iter().filter(|a| !consumes.contains(&a.name)).cloned().collect();
    out.extend(person.iter().filter(|a| consumes.contains(&a.name)).cloned());
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

impl Backend for EmbeddedBackend {
    fn persons(&self, tenant: &str) -> Result<Vec<Person>, BackendError> {
        Ok(self.store.persons(tenant)?)
    }

    fn person(&self, tenant: &str, id: &str) -> Result<Person, BackendError> {
        Ok(self.store.person(tenant, id)?)
    }

    fn entitlements(&self, tenant: &str, person: &str) -> Result<Vec<Entitlement>, BackendError> {
        Ok(self.store.entitlements_of(tenant, person)?)
    }

    fn accounts(&self, tenant: &str, person: &str) -> Result<Vec<Account>, BackendError> {
        Ok(self.store.accounts_of(tenant, person)?)
    }

    fn entitlement(&self, tenant: &str, id: &str) -> Result<Entitlement, BackendError> {
        Ok(self.store.entitlement(tenant, id)?)
    }

    fn account(&self, tenant: &str, id: &str) -> Result<Account, BackendError> {
        Ok(self.store.account(tenant, id)?)
    }

    fn action(&self, tenant: &str, id: &str) -> Result<Action, BackendError> {
        Ok(self.store.action(tenant, id)?)
    }

    fn actions(&self, tenant: &str, filter: &ActionFilter, limit: usize) -> Result<Vec<Action>, BackendError> {
        Ok(self.store.actions(tenant, filter, limit)?)
    }

    fn entitlement_count(&self, tenant: &str, system: &str) -> Result<u32, BackendError> {
        Ok(self.store.entitlement_count(tenant, system)?)
    }

    fn carry_out(&self, tenant: &str, job: &Job<'_>) -> Result<Finish, BackendError> {
        self.simulate(tenant, job.action, job.reads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provhost_core::audit::InvocationRecord;
    use provhost_core::model::{ActionState, new_id, now_rfc3339};
    use provhost_store::{DEMO_TENANT, Due, seed_demo};

    /// Claims `action`, has the backend carry it out and records the end, as an executor does.
    fn execute(store: &dyn Store, backend: &EmbeddedBackend, action: &Action) -> Action {
        let ids = [action.id.clone()];
        let lease = std::time::Duration::from_secs(60);
        let claim = store.claim_actions("test", lease, Due::These(DEMO_TENANT, &ids)).unwrap().remove(0);
        let job = Job {
            action: &claim.action,
            attempt: claim.attempt,
            follow: None,
            noted: &|_| true,
            reads: &BatchReads::new(std::time::Duration::ZERO),
        };
        let finish = backend.carry_out(DEMO_TENANT, &job).unwrap();
        store.finish_actions(DEMO_TENANT, "test", &[(claim.key, finish)], &|_| Vec::new()).unwrap().remove(0)
    }

    fn demo() -> (Arc<dyn Store>, EmbeddedBackend) {
        let store: Arc<dyn Store> = Arc::new(provhost_store::SqliteStore::in_memory().unwrap());
        seed_demo(&*store).unwrap();
        (store.clone(), EmbeddedBackend::new(store))
    }

    fn commit(store: &dyn Store, action: &Action) {
        let record = InvocationRecord::history(&new_id(), DEMO_TENANT, "test", "test history");
        store.commit_invocation(&record, std::slice::from_ref(action)).unwrap();
    }

    fn planned(person: &Person, system: &str, kind: ActionKind, target: ActionTarget) -> Action {
        let at = now_rfc3339();
        Action {
            id: new_id(),
            person: person.id.clone(),
            system: system.into(),
            target,
            kind,
            state: ActionState::Pending,
            origin: "test".into(),
            message: String::new(),
            retry_of: None,
            invocation: None,
            created_at: at.clone(),
            updated_at: at,
        }
    }

    #[test]
    fn update_copies_consumed_person_attributes_and_records_each_state() {
        let (store, backend) = demo();
        let person = &store.persons(DEMO_TENANT).unwrap()[0];
        let account =
            store.accounts_of(DEMO_TENANT, &person.id).unwrap().into_iter().find(|a| a.system == "topdesk").unwrap();
        let action = planned(person, "topdesk", ActionKind::Update, ActionTarget::Account(account.id.clone()));
        commit(&*store, &action);
        let done = [execute(&*store, &backend, &action)];
        assert_eq!(done[0].state, ActionState::Success);
        let states: Vec<_> =
            store.action_history(DEMO_TENANT, &action.id).unwrap().into_iter().map(|h| h.state).collect();
        assert_eq!(states, [ActionState::Pending, ActionState::Running, ActionState::Success]);
        let after = store.account(DEMO_TENANT, &account.id).unwrap();
        let names: Vec<_> = after.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["department", "mail"]);
    }

    #[test]
    fn a_failing_system_ends_the_action_in_error_and_changes_nothing() {
        let (store, backend) = demo();
        store.set_system_failure(DEMO_TENANT, "exchange-online", Some("mailbox server down")).unwrap();
        let person = &store.persons(DEMO_TENANT).unwrap()[0];
        let entitlement = store
            .entitlements_of(DEMO_TENANT, &person.id)
            .unwrap()
            .into_iter()
            .find(|e| e.system == "exchange-online")
            .unwrap();
        let action =
            planned(person, "exchange-online", ActionKind::Unmanage, ActionTarget::Entitlement(entitlement.id.clone()));
        commit(&*store, &action);
        let done = [execute(&*store, &backend, &action)];
        assert_eq!(done[0].state, ActionState::Error);
        assert!(done[0].message.contains("mailbox server down"), "{}", done[0].message);
        assert!(store.entitlement(DEMO_TENANT, &entitlement.id).unwrap().managed);
    }

    #[test]
    fn unmanage_stops_managing_and_keeps_the_entitlement() {
        let (store, backend) = demo();
        let person = &store.persons(DEMO_TENANT).unwrap()[0];
        let entitlement = store.entitlements_of(DEMO_TENANT, &person.id).unwrap().remove(0);
        let action = planned(
            person,
            &entitlement.system,
            ActionKind::Unmanage,
            ActionTarget::Entitlement(entitlement.id.clone()),
        );
        commit(&*store, &action);
        assert_eq!([execute(&*store, &backend, &action)][0].state, ActionState::Success);
        assert!(!store.entitlement(DEMO_TENANT, &entitlement.id).unwrap().managed);
    }
}
