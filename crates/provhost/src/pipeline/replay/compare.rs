//! Comparing what a new version decided for a kept event with what the old one decided: the
//! actions added, removed or changed (blocked by a threshold or no longer), the refusals and
//! thresholds that came or went, and how each ended.

use serde::{Deserialize, Serialize};

use super::decided::{Decided, Planned};
use crate::audit::Outcome;

/// A kind of difference between two versions' decisions, as `--allow` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Difference {
    /// The new version plans an action the old one did not.
    Added,
    /// The old version planned an action the new one does not.
    Removed,
    /// An action both plan is blocked by a threshold in one and not in the other.
    Changed,
    /// The calls refused differ.
    Refusals,
    /// The thresholds reached differ.
    Thresholds,
    /// The new version ends with an error (an error returned, a trap, not run) where the old did not.
    Errors,
    /// The new version hits a limit where the old did not.
    Limits,
    /// Otherwise ends differently (e.g. the old one's error is gone).
    Outcome,
}

/// An action both versions plan, blocked in one and not the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Changed {
    /// As the old version planned it.
    pub was: Planned,
    /// As the new version plans it.
    pub now: Planned,
}

/// How the two versions' decisions for one event differ; all empty when they do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Delta {
    /// Actions only the new version plans.
    pub added: Vec<Planned>,
    /// Actions only the old version planned.
    pub removed: Vec<Planned>,
    /// Actions both plan, blocked differently.
    pub changed: Vec<Changed>,
    /// Refused calls only the new version makes.
    pub refusals_added: Vec<String>,
    /// Refused calls only the old version made.
    pub refusals_removed: Vec<String>,
    /// Thresholds only the new version's plan reaches.
    pub thresholds_added: Vec<String>,
    /// Thresholds only the old version's plan reached.
    pub thresholds_removed: Vec<String>,
    /// The kinds of difference found, each once.
    pub differences: Vec<Difference>,
}

/// Two lists' items paired up, each counted as often as it occurs.
struct Paired<T> {
    /// The items of the new list not in the old.
    added: Vec<T>,
    /// The items of the old list not in the new.
    removed: Vec<T>,
    /// The items of both, as each list holds them.
    matched: Vec<Matched<T>>,
}

/// One item of both lists.
struct Matched<T> {
    was: T,
    now: T,
}

/// Pairs the items of `old` and `new` that are the `same`.
fn both_ways<T: Clone>(old: &[T], new: &[T], same: impl Fn(&T, &T) -> bool) -> Paired<T> {
    let mut unused: Vec<Option<&T>> = old.iter().map(Some).collect();
    let (mut added, mut matched) = (Vec::new(), Vec::new());
    for item in new {
        match unused.iter_mut().find(|o| o.is_some_and(|o| same(o, item))) {
            Some(slot) => matched.push(Matched { was: slot.take().expect("found").clone(), now: item.clone() }),
            None => added.push(item.clone()),
        }
    }
    Paired { added, removed: unused.into_iter().flatten().cloned().collect(), matched }
}

/// How `new` differs from `old`.
pub fn compare(old: &Decided, new: &Decided) -> Delta {
    let Paired { added, removed, matched } = both_ways(&old.actions, &new.actions, Planned::same_action);
    let changed: Vec<Changed> = matched
        .into_iter()
        .filter(|m| m.was.blocked != m.now.blocked)
        .map(|Matched { was, now }| Changed { was, now })
        .collect();
    let Paired { added: refusals_added, removed: refusals_removed, .. } =
        both_ways(&old.refused, &new.refused, |a, b| a == b);
    let Paired { added: thresholds_added, removed: thresholds_removed, .. } =
        both_ways(&old.thresholds, &new.thresholds, |a, b| a == b);
    let mut differences = Vec::new();
    let mut note = |found: bool, kind| {
        if found {
            differences.push(kind);
        }
    };
    note(!added.is_empty(), Difference::Added);
    note(!removed.is_empty(), Difference::Removed);
    note(!changed.is_empty(), Difference::Changed);
    note(!refusals_added.is_empty() || !refusals_removed.is_empty(), Difference::Refusals);
    note(!thresholds_added.is_empty() || !thresholds_removed.is_empty(), Difference::Thresholds);
    let ended_otherwise = old.outcome != new.outcome;
    let new_limit = ended_otherwise && new.outcome == Outcome::Limit;
    let new_error = ended_otherwise && !new_limit && old.completed() && !new.completed();
    note(new_error, Difference::Errors);
    note(new_limit, Difference::Limits);
    note(ended_otherwise && !new_error && !new_limit, Difference::Outcome);
    Delta {
        added,
        removed,
        changed,
        refusals_added,
        refusals_removed,
        thresholds_added,
        thresholds_removed,
        differences,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ActionKind;

    fn planned(system: &str, blocked: bool) -> Planned {
        Planned {
            person: "p".into(),
            system: system.into(),
            kind: ActionKind::Update,
            target: format!("account {system}-1"),
            origin: "update account".into(),
            retry_of: None,
            blocked,
        }
    }

    fn decided(outcome: &str, actions: Vec<Planned>, refused: &[&str]) -> Decided {
        let outcome: Outcome = outcome.parse().unwrap();
        Decided {
            outcome,
            detail: String::new(),
            committed: outcome == Outcome::Completed,
            actions,
            refused: refused.iter().map(|r| r.to_string()).collect(),
            thresholds: Vec::new(),
            duration_us: 1,
        }
    }

    #[test]
    fn the_same_decision_differs_in_nothing() {
        let old = decided("completed", vec![planned("a", false), planned("b", true)], &["x: forbidden"]);
        assert_eq!(compare(&old, &old.clone()), Delta::default());
    }

    #[test]
    fn added_removed_and_changed_actions_are_each_named_once() {
        let old = decided("completed", vec![planned("a", false), planned("a", false), planned("b", false)], &[]);
        let new =
            decided("completed", vec![planned("a", false), planned("b", true), planned("c", false)], &["x: forbidden"]);
        let delta = compare(&old, &new);
        assert_eq!(delta.added, [planned("c", false)]);
        assert_eq!(delta.removed, [planned("a", false)], "the second of two equal actions");
        assert_eq!(delta.changed, [Changed { was: planned("b", false), now: planned("b", true) }]);
        assert_eq!(delta.refusals_added, ["x: forbidden"]);
        let kinds = [Difference::Added, Difference::Removed, Difference::Changed, Difference::Refusals];
        assert_eq!(delta.differences, kinds);
    }

    #[test]
    fn a_new_trap_is_an_error_a_new_limit_a_limit_and_a_fixed_error_an_outcome() {
        let ok = decided("completed", vec![], &[]);
        assert_eq!(compare(&ok, &decided("trap", vec![], &[])).differences, [Difference::Errors]);
        assert_eq!(compare(&ok, &decided("limit", vec![], &[])).differences, [Difference::Limits]);
        assert_eq!(compare(&decided("trap", vec![], &[]), &ok).differences, [Difference::Outcome]);
    }
}
