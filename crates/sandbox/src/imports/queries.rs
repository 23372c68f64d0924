//! `provhost:plugin/queries`, both versions: read-through to the tenant's backend. 0.2.0 hands
//! over only what the plugin asks for (a person's attributes one at a time, one system's
//! entitlements and accounts, at most `limit` actions); each version's import is one line over the
//! same reads.

use wasmtime::component::Resource;

use super::{CallError, HostState};
use crate::bindings::next::queries as next;
use crate::bindings::queries::Host;
use crate::bindings::types::{Account, Action, ActionFilter, Entitlement, Person};
use provhost_core::model;
use provhost_core::refusal::Refusal;
use provhost_gate::{Gate, Import, LIST_ACTIONS_LIMIT, Query};

/// The items of `list` in `system`, or all of them when no system is given.
fn in_system<T>(list: Vec<T>, system: &Option<String>, of: impl Fn(&T) -> &str) -> Vec<T> {
    match system {
        Some(system) => list.into_iter().filter(|item| of(item) == system).collect(),
        None => list,
    }
}

impl HostState {
    /// Runs a read through the gate (counted and checked first, then bounds, scope, answer
    /// bounded, decision recorded) and converts the answer.
    fn query<T: serde::Serialize, W: From<T>>(
        &mut self,
        query: Query,
        read: impl FnOnce(&Gate) -> Result<Vec<T>, Refusal>,
    ) -> Result<Vec<W>, CallError> {
        self.begin_call(query.import())?;
        Ok(self.gate.query(&query, read)?.into_iter().map(W::from).collect())
    }

    fn person(&mut self, person: String) -> Result<model::Person, CallError> {
        let query = Query::GetPerson { person: person.clone() };
        let found = self.query(query, |g| Ok(vec![g.backend().person(g.tenant(), &person)?]))?;
        Ok(found.into_iter().next().expect("one person was read"))
    }

    fn entitlements(&mut self, person: String, system: Option<String>) -> Result<Vec<Entitlement>, CallError> {
        self.query(Query::ListEntitlements { person: person.clone() }, |g| {
            g.backend().person(g.tenant(), &person)?;
            Ok(in_system(g.backend().entitlements(g.tenant(), &person)?, &system, |e| &e.system))
        })
    }

    fn accounts(&mut self, person: String, system: Option<String>) -> Result<Vec<Account>, CallError> {
        self.query(Query::ListAccounts { person: person.clone() }, |g| {
            g.backend().person(g.tenant(), &person)?;
            Ok(in_system(g.backend().accounts(g.tenant(), &person)?, &system, |a| &a.system))
        })
    }

    fn actions(&mut self, filter: ActionFilter, limit: u32) -> Result<Vec<Action>, CallError> {
        let filter = model::ActionFilter {
            person: filter.person,
            state: filter.state.map(Into::into),
            system: filter.system,
            ..Default::default()
        };
        let limit = (limit as usize).min(LIST_ACTIONS_LIMIT);
        self.query(Query::ListActions { filter: filter.clone() }, |g| {
            Ok(g.backend().actions(g.tenant(), &filter, limit)?)
        })
    }

    /// A person handed out by 0.2.0's `get-person`, once the read is counted.
    fn held_person(&mut self, person: &Resource<model::Person>) -> wasmtime::Result<&model::Person> {
        self.begin_call(Import::PersonRead).map_err(CallError::into_trap)?;
        Ok(self.table.get(person)?)
    }
}

impl Host for HostState {
    fn get_person(&mut self, person: String) -> Result<Person, CallError> {
        self.person(person).map(Person::from)
    }

    fn list_entitlements(&mut self, person: String) -> Result<Vec<Entitlement>, CallError> {
        self.entitlements(person, None)
    }

    fn list_accounts(&mut self, person: String) -> Result<Vec<Account>, CallError> {
        self.accounts(person, None)
    }

    fn list_actions(&mut self, filter: ActionFilter) -> Result<Vec<Action>, CallError> {
        self.actions(filter, u32::MAX)
    }
}

impl next::Host for HostState {
    fn get_person(&mut self, person: String) -> Result<Resource<model::Person>, CallError> {
        let person = self.person(person)?;
        self.table.push(person).map_err(|full| CallError::Trap(full.into()))
    }

    fn list_entitlements(&mut self, person: String, system: Option<String>) -> Result<Vec<Entitlement>, CallError> {
        self.entitlements(person, system)
    }

    fn list_accounts(&mut self, person: String, system: Option<String>) -> Result<Vec<Account>, CallError> {
        self.accounts(person, system)
    }

    fn list_actions(&mut self, filter: ActionFilter, limit: u32) -> Result<Vec<Action>, CallError> {
        self.actions(filter, limit)
    }
}

impl next::HostPerson for HostState {
    fn id(&mut self, person: Resource<model::Person>) -> wasmtime::Result<String> {
        Ok(self.held_person(&person)?.id.clone())
    }

    fn display_name(&mut self, person: Resource<model::Person>) -> wasmtime::Result<String> {
        Ok(self.held_person(&person)?.display_name.clone())
    }

    fn attribute(&mut self, person: Resource<model::Person>, name: String) -> wasmtime::Result<Vec<String>> {
        let held = self.held_person(&person)?;
        Ok(held.attributes.iter().find(|a| a.name == name).map(|a| a.values.clone()).unwrap_or_default())
    }

    fn drop(&mut self, person: Resource<model::Person>) -> wasmtime::Result<()> {
        self.table.delete(person)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::types::{ActionState, Host as _};
    use crate::imports::testing::demo_state;
    use provhost_core::limits::Limits;

    const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

    #[test]
    fn reads_return_the_demo_directory() {
        let (_store, mut state) = demo_state(Limits::default());
        let jan = state.get_person(JAN.into()).unwrap();
        assert_eq!(jan.display_name, "Jan Jansen");
        assert!(jan.attributes.iter().any(|a| a.name == "proxyAddresses" && a.values.len() == 2));
        assert_eq!(state.list_accounts(JAN.into()).unwrap().len(), 4);
        let failed = state
            .list_actions(ActionFilter { person: Some(JAN.into()), state: Some(ActionState::Error), system: None })
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(state.host_calls, 3);
    }

    #[test]
    fn contract_0_2_0_hands_over_only_what_is_asked_for() {
        use next::HostPerson as _;
        let (_store, mut state) = demo_state(Limits::default());
        let jan = next::Host::get_person(&mut state, JAN.into()).unwrap();
        let mail = state.attribute(Resource::new_borrow(jan.rep()), "proxyAddresses".into()).unwrap();
        assert_eq!(mail.len(), 2);
        assert!(state.attribute(Resource::new_borrow(jan.rep()), "nothing".into()).unwrap().is_empty());
        assert_eq!(state.display_name(Resource::new_borrow(jan.rep())).unwrap(), "Jan Jansen");
        assert_eq!(state.host_calls, 4, "the read and each of the person's methods count");
        next::HostPerson::drop(&mut state, jan).unwrap();
        assert_eq!(state.resources_held(), 0, "a dropped person is gone from the table");

        let every = next::Host::list_accounts(&mut state, JAN.into(), None).unwrap();
        let topdesk = next::Host::list_accounts(&mut state, JAN.into(), Some("topdesk".into())).unwrap();
        assert_eq!((every.len(), topdesk.len()), (4, 1));
        assert!(topdesk.iter().all(|a| a.system == "topdesk"));
        let entitlements = next::Host::list_entitlements(&mut state, JAN.into(), Some("topdesk".into())).unwrap();
        assert!(entitlements.iter().all(|e| e.system == "topdesk"));
        let all = ActionFilter { person: None, state: None, system: None };
        assert_eq!(next::Host::list_actions(&mut state, all.clone(), 1).unwrap().len(), 1);
        assert!(next::Host::list_actions(&mut state, all, 0).unwrap().is_empty());
    }

    #[test]
    fn a_plugin_asking_for_more_actions_than_the_bound_gets_the_bound() {
        let (store, mut state) = demo_state(Limits::default());
        let tenant = provhost_store::DEMO_TENANT;
        let seed = store.actions(tenant, &model::ActionFilter::default(), 1).unwrap().remove(0);
        let many: Vec<model::Action> =
            (0..=LIST_ACTIONS_LIMIT).map(|_| model::Action { id: model::new_id(), ..seed.clone() }).collect();
        let record = provhost_core::audit::InvocationRecord::history(&model::new_id(), tenant, "test", "many");
        store.commit_invocation(&record, &many).unwrap();
        let all = ActionFilter { person: None, state: None, system: None };
        let listed = next::Host::list_actions(&mut state, all, u32::MAX).unwrap();
        assert_eq!(listed.len(), LIST_ACTIONS_LIMIT, "u32::MAX asked for, the bound handed over");
    }

    #[test]
    fn a_persons_methods_after_the_deadline_trap() {
        use next::HostPerson as _;
        let (_store, mut state) = demo_state(Limits::default());
        let jan = next::Host::get_person(&mut state, JAN.into()).unwrap();
        state.deadline = std::time::Instant::now();
        let trap = state.attribute(jan, "mail".into()).unwrap_err();
        assert!(trap.to_string().contains("deadline"), "{trap}");
    }

    #[test]
    fn an_answer_past_its_bound_is_refused_and_recorded() {
        let (store, mut state) = demo_state(Limits::default());
        let values = vec!["v".repeat(1 << 10); 2 << 10];
        let attributes = vec![provhost_core::model::Attribute { name: "notes".into(), values }];
        let hoarder = model::Person { id: "hoarder".into(), display_name: "H".into(), attributes };
        store.insert_person(provhost_store::DEMO_TENANT, &hoarder).unwrap();
        let err = state.get_person("hoarder".into()).unwrap_err();
        let message = format!("{:?}", state.convert_error(err).unwrap());
        assert!(
            message.contains("Unavailable(\"the answer is 2") && message.contains("at most 1048576 bytes"),
            "{message}"
        );
        assert_eq!(state.gate.journal.calls[0].decision, "unavailable");
    }

    #[test]
    fn an_unknown_person_is_a_not_found_error_naming_the_id() {
        let (_store, mut state) = demo_state(Limits::default());
        let err = state.list_entitlements("nobody".into()).unwrap_err();
        let message = format!("{:?}", state.convert_error(err).unwrap());
        assert!(message.contains("NotFound") && message.contains("person 'nobody' not found"), "{message}");
        assert_eq!(state.gate.journal.calls[0].decision, "not-found");
    }
}
