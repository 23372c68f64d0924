//! The demo tenant `provhost init` creates.

use super::Make;
use crate::demo::PERSONS;
use crate::{DEMO_TENANT, seed_demo};
use provhost_core::model::{ActionFilter, ActionState};

pub fn demo_tenant_has_persons_with_accounts_entitlements_and_a_failed_action(make: Make) {
    let store = make();
    seed_demo(&*store).unwrap();
    let persons = store.persons(DEMO_TENANT).unwrap();
    assert_eq!(persons.len(), PERSONS.len());
    let jan = store.person(DEMO_TENANT, PERSONS[0].id).unwrap();
    assert_eq!(jan.display_name, "Jan Jansen");
    assert_eq!(store.accounts_of(DEMO_TENANT, &jan.id).unwrap().len(), 4);
    assert_eq!(store.entitlements_of(DEMO_TENANT, &jan.id).unwrap().len(), 6);
    let failed = store
        .actions(DEMO_TENANT, &ActionFilter { state: Some(ActionState::Error), ..Default::default() }, 10)
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].system, "topdesk");
    assert!(seed_demo(&*store).is_err(), "seeding twice must fail, not duplicate");
}
