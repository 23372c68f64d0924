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
        kind: Some(failed.kind),
        since: Some(failed.created_at.clone()),
        ..Default::default()
    };
    let found = store.actions(DEMO_TENANT, &filter, 100).unwrap();
    let expected: Vec<&str> = all
        .iter()
        .filter(|a| a.person == failed.person && a.state == ActionState::Error && a.system == failed.system)
        .filter(|a| a.kind == failed.kind && a.created_at >= failed.created_at)
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(found.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), expected);
    let page = store.actions_page(DEMO_TENANT, &ActionFilter::default(), 1, 1).unwrap();
    assert_eq!(
        page.iter().map(|a| &a.id).collect::<Vec<_>>(),
        all.iter().skip(1).take(1).map(|a| &a.id).collect::<Vec<_>>()
    );
}

pub fn actions_are_filtered_by_plugin_kind_and_time(make: Make) {
    use provhost_core::audit::InvocationRecord;
    use provhost_core::model::{ActionKind, new_id};
    let store = make();
    seed_demo(&*store).unwrap();
    let template = store.actions(DEMO_TENANT, &ActionFilter::default(), 1).unwrap().remove(0);
    let commit = |plugin: &str, kind: ActionKind, at: &str| {
        let invocation = new_id();
        let action = provhost_core::model::Action {
            id: new_id(),
            kind,
            invocation: Some(invocation.clone()),
            retry_of: None,
            created_at: at.into(),
            updated_at: at.into(),
            ..template.clone()
        };
        store
            .commit_invocation(
                &InvocationRecord::history(&invocation, DEMO_TENANT, plugin, "test"),
                std::slice::from_ref(&action),
            )
            .unwrap();
        action.id
    };
    let early = commit("mailer", ActionKind::Update, "2020-01-01T00:00:00.000Z");
    let late = commit("mailer", ActionKind::Grant, "2020-01-03T00:00:00.000Z");
    let other = commit("other", ActionKind::Update, "2020-01-02T00:00:00.000Z");
    let ids = |filter: ActionFilter| -> Vec<String> {
        store.actions(DEMO_TENANT, &filter, 100).unwrap().into_iter().map(|a| a.id).collect()
    };
    assert_eq!(
        ids(ActionFilter { plugin: Some("mailer".into()), ..Default::default() }),
        [late.clone(), early.clone()]
    );
    let updates = ActionFilter { plugin: Some("mailer".into()), kind: Some(ActionKind::Update), ..Default::default() };
    assert_eq!(ids(updates), std::slice::from_ref(&early));
    let window = ActionFilter {
        since: Some("2020-01-02T00:00:00.000Z".into()),
        until: Some("2020-01-03T00:00:00.000Z".into()),
        ..Default::default()
    };
    assert_eq!(ids(window), [other]);
    assert!(ids(ActionFilter { plugin: Some("absent".into()), ..Default::default() }).is_empty());
}
