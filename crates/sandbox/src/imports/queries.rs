//! `provhost:plugin/queries`: read-through to the tenant's backend.

use super::{CallError, HostState};
use crate::bindings::queries::Host;
use crate::bindings::types::{Account, Action, ActionFilter, Entitlement, Person};
use provhost_core::model;
use provhost_core::refusal::Refusal;
use provhost_gate::{Gate, LIST_ACTIONS_LIMIT, Query};

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
}

impl Host for HostState {
    fn get_person(&mut self, person: String) -> Result<Person, CallError> {
        let query = Query::GetPerson { person: person.clone() };
        let found = self.query(query, |g| Ok(vec![g.backend().person(g.tenant(), &person)?]))?;
        Ok(found.into_iter().next().expect("one person was read"))
    }

    fn list_entitlements(&mut self, person: String) -> Result<Vec<Entitlement>, CallError> {
        self.query(Query::ListEntitlements { person: person.clone() }, |g| {
            g.backend().person(g.tenant(), &person)?;
            Ok(g.backend().entitlements(g.tenant(), &person)?)
        })
    }

    fn list_accounts(&mut self, person: String) -> Result<Vec<Account>, CallError> {
        self.query(Query::ListAccounts { person: person.clone() }, |g| {
            g.backend().person(g.tenant(), &person)?;
            Ok(g.backend().accounts(g.tenant(), &person)?)
        })
    }

    fn list_actions(&mut self, filter: ActionFilter) -> Result<Vec<Action>, CallError> {
        let filter = model::ActionFilter {
            person: filter.person,
            state: filter.state.map(Into::into),
            system: filter.system,
            ..Default::default()
        };
        self.query(Query::ListActions { filter: filter.clone() }, |g| {
            Ok(g.backend().actions(g.tenant(), &filter, LIST_ACTIONS_LIMIT)?)
        })
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
