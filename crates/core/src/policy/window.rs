//! Rolling-window budgets: at most `max` actions of a kind against a system within a window
//! (e.g. 500 updates per hour), counted from the store so that separate processes share them.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::model::{Action, ActionKind, ActionState};
use crate::refusal::Refusal;

/// One budget.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowBudget {
    /// The target system, or `*` for every system (each counted on its own).
    pub system: String,
    /// The action kind counted.
    pub kind: ActionKind,
    /// The most actions within the window.
    pub max: u32,
    /// The window's length, e.g. `1h`, `15m`, `1day`.
    #[serde(deserialize_with = "duration")]
    pub per: Duration,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!("`per` = \"{text}\" is not a duration like \"1h\" or \"15m\": {e}"))
    })
}

impl WindowBudget {
    /// Checks `max` is at least 1 and the window is not empty.
    pub fn validate(&self) -> Result<(), String> {
        if self.max == 0 {
            return Err(format!("window on {} {}: `max` must be at least 1", self.system, self.kind));
        }
        if self.per.is_zero() {
            return Err(format!("window on {} {}: `per` must be longer than zero", self.system, self.kind));
        }
        Ok(())
    }

    /// Whether the budget counts actions of this kind against this system.
    pub fn applies(&self, system: &str, kind: ActionKind) -> bool {
        self.kind == kind && (self.system == "*" || self.system == system)
    }

    /// `Ok` if `adding` actions fit beside the `used` committed within the window: the plan's
    /// actions of this system and kind, counting (at plan time) the one asked for, or (at commit)
    /// all of them. Otherwise the refusal names the limit and the count.
    pub fn admit(&self, system: &str, used: u32, adding: u32) -> Result<(), Refusal> {
        let wanted = u64::from(used) + u64::from(adding);
        if wanted <= u64::from(self.max) {
            return Ok(());
        }
        let count = u32::try_from(wanted).unwrap_or(u32::MAX);
        Err(Refusal::ThresholdExceeded {
            system: system.into(),
            kind: self.kind,
            limit: self.max,
            count,
            message: format!(
                "the budget of {} {} actions on '{system}' per {} is used up ({used} committed in the window, {} planned now)",
                self.max,
                self.kind,
                humantime::format_duration(self.per),
                adding.saturating_sub(1)
            ),
        })
    }
}

/// Refuses `actions` (those of them still to run) when they would overrun a window budget, given
/// what was committed: `used(system, kind, per)` counts the actions of `kind` against `system`
/// within the window of length `per`. The refusal names the first budget overrun, as
/// [`WindowBudget::admit`] words it, and comes back as `E`, the caller's error, beside the
/// caller's own failures to count. The store calls this inside its write transaction, feeding it
/// counts from that transaction, so that concurrent commits cannot together overrun a budget.
pub fn first_overrun<E: From<Refusal>>(
    actions: &[Action],
    windows: &[WindowBudget],
    mut used: impl FnMut(&str, ActionKind, Duration) -> Result<u32, E>,
) -> Result<(), E> {
    for Runnable { system, kind, planned } in runnable(actions) {
        for budget in windows.iter().filter(|b| b.applies(system, kind)) {
            budget.admit(system, used(system, kind, budget.per)?, planned)?;
        }
    }
    Ok(())
}

/// How many actions of one kind against one system a plan would run.
struct Runnable<'a> {
    /// The target system.
    system: &'a str,
    /// The action kind.
    kind: ActionKind,
    /// How many of the plan's runnable actions are of this system and kind.
    planned: u32,
}

/// The runnable (pending) actions of `actions`, counted by system and kind, in the order of the
/// system's name and then the kind's.
fn runnable(actions: &[Action]) -> Vec<Runnable<'_>> {
    let mut pending: Vec<&Action> = actions.iter().filter(|a| a.state == ActionState::Pending).collect();
    pending.sort_by_key(|a| (a.system.as_str(), a.kind.as_str()));
    let mut counted: Vec<Runnable<'_>> = Vec::new();
    for action in pending {
        match counted.last_mut() {
            Some(last) if last.system == action.system && last.kind == action.kind => last.planned += 1,
            _ => counted.push(Runnable { system: &action.system, kind: action.kind, planned: 1 }),
        }
    }
    counted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max: u32) -> WindowBudget {
        WindowBudget { system: "*".into(), kind: ActionKind::Update, max, per: Duration::from_secs(3600) }
    }

    #[test]
    fn the_budget_admits_up_to_max_counting_committed_and_planned() {
        let b = budget(3);
        assert!(b.admit("exo", 0, 1).is_ok());
        assert!(b.admit("exo", 1, 2).is_ok(), "the third fits");
        let Err(Refusal::ThresholdExceeded { limit, count, message, .. }) = b.admit("exo", 2, 2) else { panic!() };
        assert_eq!((limit, count), (3, 4));
        assert!(
            message.contains("3 update actions on 'exo' per 1h is used up (2 committed in the window, 1 planned now)"),
            "{message}"
        );
    }

    #[test]
    fn the_first_overrun_counts_only_runnable_actions_per_system_and_kind() {
        let mut blocked = crate::policy::testing::action("exo", ActionKind::Update);
        blocked.state = ActionState::Blocked;
        let plan = [
            crate::policy::testing::action("exo", ActionKind::Update),
            crate::policy::testing::action("exo", ActionKind::Update),
            crate::policy::testing::action("topdesk", ActionKind::Update),
            crate::policy::testing::action("exo", ActionKind::Grant),
            blocked,
        ];
        let check = |committed: u32| {
            let mut asked = Vec::new();
            let verdict = first_overrun::<Refusal>(&plan, &[budget(3)], |system, kind, per| {
                asked.push((system.to_owned(), kind, per));
                Ok(committed)
            });
            (verdict, asked)
        };
        let (verdict, asked) = check(1);
        assert!(verdict.is_ok(), "1 committed + 2 planned on exo fits 3");
        assert_eq!(asked.len(), 2, "counted once per system for updates, never for grants: {asked:?}");
        let (Err(Refusal::ThresholdExceeded { system, count, .. }), _) = check(2) else { panic!("exo overruns") };
        assert_eq!((system.as_str(), count), ("exo", 4), "the blocked action does not count");
        let failed = first_overrun(&plan, &[budget(3)], |_, _, _| Err(Counting::StoreGone));
        assert!(matches!(failed, Err(Counting::StoreGone)), "the caller's own failure comes back as it is");
    }

    /// A caller's error: a refusal, or its own failure to count.
    #[derive(Debug)]
    enum Counting {
        Refused,
        StoreGone,
    }

    impl From<Refusal> for Counting {
        fn from(_: Refusal) -> Self {
            Counting::Refused
        }
    }

    #[test]
    fn budgets_apply_by_system_and_kind() {
        let mut b = budget(1);
        assert!(b.applies("any", ActionKind::Update));
        assert!(!b.applies("any", ActionKind::Grant));
        b.system = "exo".into();
        assert!(!b.applies("topdesk", ActionKind::Update));
    }

    #[test]
    fn durations_parse_and_bad_ones_are_explained() {
        let ok: WindowBudget = toml::from_str("system = \"*\"\nkind = \"update\"\nmax = 5\nper = \"15m\"").unwrap();
        assert_eq!(ok.per, Duration::from_secs(900));
        let err =
            toml::from_str::<WindowBudget>("system = \"*\"\nkind = \"update\"\nmax = 5\nper = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("`per` = \"soon\" is not a duration"), "{err}");
    }
}
