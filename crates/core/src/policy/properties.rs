//! Property tests over the threshold and window arithmetic: for any counts and limits, a decision
//! is taken without overflow or panic, and it is the one the rule states.

use std::time::Duration;

use proptest::prelude::*;

use super::{Threshold, WindowBudget};
use crate::model::{Action, ActionKind, ActionState, ActionTarget};

fn kind() -> impl Strategy<Value = ActionKind> {
    prop_oneof![Just(ActionKind::Grant), Just(ActionKind::Update), Just(ActionKind::Revoke), Just(ActionKind::Unmanage)]
}

fn action(system: String, kind: ActionKind, n: usize) -> Action {
    Action {
        id: format!("a{n}"),
        person: "p".into(),
        system,
        target: ActionTarget::Account(format!("acc{n}")),
        kind,
        state: ActionState::Pending,
        origin: "update account".into(),
        message: String::new(),
        retry_of: None,
        invocation: None,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

proptest! {
    #[test]
    fn a_window_admits_exactly_while_used_and_planned_leave_room(
        max in any::<u32>(), used in any::<u32>(), adding in 1u32..=u32::MAX, kind in kind(),
    ) {
        let budget = WindowBudget { system: "ad".into(), kind, max, per: Duration::from_secs(3600) };
        let room = u64::from(used) + u64::from(adding) <= u64::from(max);
        match budget.admit("ad", used, adding) {
            Ok(()) => prop_assert!(room),
            Err(refusal) => {
                prop_assert!(!room);
                prop_assert_eq!(refusal.code(), "threshold-exceeded");
            }
        }
    }

    #[test]
    fn a_window_at_the_edge_of_u32_still_decides(used in (u32::MAX - 3)..=u32::MAX, adding in 1u32..5) {
        let budget = WindowBudget { system: "ad".into(), kind: ActionKind::Update, max: u32::MAX, per: Duration::from_secs(60) };
        let room = u64::from(used) + u64::from(adding) <= u64::from(u32::MAX);
        prop_assert_eq!(budget.admit("ad", used, adding).is_ok(), room);
    }

    #[test]
    fn a_threshold_blocks_whole_groups_and_only_those_that_reach_it(
        count in proptest::option::of(1u32..50),
        // The percentage in millionths of a percent, as a configuration writes it to six places.
        millionths in proptest::option::of(prop_oneof![1u64..=100, 1u64..=100_000_000, Just(70_000), Just(100_000_000)]),
        total in prop_oneof![any::<u32>(), 1u32..200, Just(10_000), Just(20_000_000)],
        groups in proptest::collection::vec((0usize..3, kind(), 1usize..40), 0..6),
    ) {
        prop_assume!(count.is_some() || millionths.is_some());
        let percent = millionths.map(|m| m as f64 / 1e6);
        let threshold = Threshold { system: "*".into(), kind: ActionKind::Update, count, percent };
        prop_assert!(threshold.validate().is_ok());
        let mut plan = Vec::new();
        for (system, kind, n) in groups {
            for i in 0..n {
                plan.push(action(format!("s{system}"), kind, plan.len() + i));
            }
        }
        let breaches = super::threshold::apply(std::slice::from_ref(&threshold), &mut plan, |_| total);
        for action in &plan {
            let group: Vec<&Action> = plan.iter().filter(|a| a.system == action.system && a.kind == action.kind).collect();
            let planned = group.len() as u64;
            let by_count = count.is_some_and(|c| planned >= u64::from(c));
            // planned / total >= m / 100 000 000, in integers: no rounding anywhere.
            let by_percent = millionths
                .is_some_and(|m| total > 0 && u128::from(planned) * 100_000_000 >= u128::from(m) * u128::from(total));
            let reached = action.kind == ActionKind::Update && (by_count || by_percent);
            prop_assert_eq!(action.state == ActionState::Blocked, reached, "{} of {}", planned, total);
            prop_assert!(group.iter().all(|a| a.state == action.state), "all of a group or none of it");
        }
        prop_assert!(breaches.iter().all(|b| b.kind == ActionKind::Update));
        for breach in breaches.iter().filter(|b| count.is_none_or(|c| b.count < c)) {
            // Reached by the percentage alone: the limit is the smallest count that reaches it.
            let m = u128::from(millionths.unwrap());
            let smallest = (m * u128::from(total)).div_ceil(100_000_000);
            prop_assert_eq!(u128::from(breach.limit), smallest);
        }
    }
}
