//! Reads of actions: filters and pages.

use super::Make;
use crate::{DEMO_TENANT, seed_demo};
use provhost_core::model::{ActionFilter, ActionState};

pub fn filters_select_the_same_actions_with_or_without_the_others(make: Make) {
    let store = make();
    seed_demo(&*store).unwrap();
    let all = store.actions(DEMO_TENANT, &ActionFilter::default(), 100).unwrap();
    let failed = all.iter().find(|a| a.state == ActionState::Error).expect("the demo has a failed action");
    let filter = ActionFilter {
        person: Some(failed.person.clone()),
        state: Some(ActionState::Error),
        system: Some(failed.system.clone()),
    };
    let found = store.actions(DEMO_TENANT, &filter, 100).unwrap();
    let expected: Vec<&str> = all
        .iter()
        .filter(|a| a.person == failed.person && a.state == ActionState::Error && a.system == failed.system)
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), expected);
    let page = store.actions_page(DEMO_TENANT, &ActionFilter::default(), 1, 1).unwrap();
    assert_eq!(
        page.iter().map(|a| &a.id).collect::<Vec<_>>(),
        all.iter().skip(1).take(1).map(|a| &a.id).collect::<Vec<_>>()
    );
}
