//! Thresholds (HelloID semantics): per target system and action kind, an absolute count and/or a
//! percentage of the system's entitlements, reached when the planned count is greater than or
//! equal to it. A reached threshold blocks every action of that kind for that system in the plan
//! — not just the excess — and the other kinds go on.

use serde::Deserialize;

use crate::model::{Action, ActionKind, ActionState};

/// 100 % in millionths of a percent, the unit percentages are compared in.
const WHOLE: u128 = 100_000_000;

/// A percentage in millionths of a percent: 12.5 % is 12 500 000.
fn millionths(percent: f64) -> u64 {
    (percent * 1e6).round() as u64
}

/// One threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The target system it is set on, or `*` for every system.
    pub system: String,
    /// The action kind it counts.
    pub kind: ActionKind,
    /// Reached when the plan holds at least this many actions.
    #[serde(default)]
    pub count: Option<u32>,
    /// Reached when the plan's actions are at least this percentage of the system's entitlements.
    #[serde(default)]
    pub percent: Option<f64>,
}

/// A threshold the plan reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The system.
    pub system: String,
    /// The kind of action.
    pub kind: ActionKind,
    /// The limit that applied (for a percentage: the count it amounts to).
    pub limit: u32,
    /// The planned count.
    pub count: u32,
    /// A sentence for a person.
    pub message: String,
}

impl Threshold {
    /// Checks the threshold sets a count, a percentage in (0, 100], or both.
    pub fn validate(&self) -> Result<(), String> {
        match (self.count, self.percent) {
            (None, None) => Err(format!("threshold on {} {}: set `count`, `percent` or both", self.system, self.kind)),
            (Some(0), _) => Err(format!("threshold on {} {}: `count` must be at least 1", self.system, self.kind)),
            (_, Some(p)) if !(p > 0.0 && p <= 100.0) || millionths(p) == 0 => Err(format!(
                "threshold on {} {}: `percent` must be at least 0.000001 (it is taken to six decimal places) \
                 and at most 100, not {p}",
                self.system, self.kind
            )),
            _ => Ok(()),
        }
    }

    fn applies(&self, system: &str, kind: ActionKind) -> bool {
        self.kind == kind && (self.system == "*" || self.system == system)
    }

    /// Whether checking `kind` actions on `system` needs the system's entitlement count: only a
    /// percentage that applies does.
    pub fn counts_entitlements(&self, system: &str, kind: ActionKind) -> bool {
        self.percent.is_some() && self.applies(system, kind)
    }

    /// Whether `planned` actions against a system holding `total` entitlements reach it.
    pub fn check(&self, system: &str, kind: ActionKind, planned: u32, total: u32) -> Option<Breach> {
        if !self.applies(system, kind) || planned == 0 {
            return None;
        }
        if let Some(limit) = self.count.filter(|limit| planned >= *limit) {
            return Some(Breach {
                system: system.into(),
                kind,
                limit,
                count: planned,
                message: format!(
                    "{planned} {kind} actions on '{system}' reach the threshold of {limit}; all of them are blocked for approval"
                ),
            });
        }
        let percent = self.percent?;
        // Exactly, in integers: planned / total >= percent / 100, with the percentage in
        // millionths of a percent (a float product such as 0.07 × 10 000 is a hair above 700).
        let share = u128::from(millionths(percent)) * u128::from(total);
        if total == 0 || u128::from(planned) * WHOLE < share {
            return None;
        }
        Some(Breach {
            system: system.into(),
            kind,
            // At most `total`: the share is at most 100 %.
            limit: share.div_ceil(WHOLE) as u32,
            count: planned,
            message: format!(
                "{planned} {kind} actions on '{system}' are {:.1}% of its {total} entitlements, reaching the threshold of {percent}%; all of them are blocked for approval",
                planned as f64 * 100.0 / total as f64
            ),
        })
    }
}

/// Blocks every action of each (system, kind) group that reaches a threshold; returns the
/// breaches. `total` gives the number of entitlements a system holds.
pub fn apply(thresholds: &[Threshold], plan: &mut [Action], total: impl Fn(&str) -> u32) -> Vec<Breach> {
    let mut groups: Vec<(String, ActionKind)> = plan.iter().map(|a| (a.system.clone(), a.kind)).collect();
    groups.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    groups.dedup();
    let mut breaches = Vec::new();
    for (system, kind) in groups {
        let planned = plan.iter().filter(|a| a.system == system && a.kind == kind).count() as u32;
        let Some(breach) = thresholds.iter().find_map(|t| t.check(&system, kind, planned, total(&system))) else {
            continue;
        };
        for action in plan.iter_mut().filter(|a| a.system == system && a.kind == kind) {
            action.state = ActionState::Blocked;
            action.message = breach.message.clone();
        }
        breaches.push(breach);
    }
    breaches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::testing::action;

    fn threshold(system: &str, kind: ActionKind, count: Option<u32>, percent: Option<f64>) -> Threshold {
        Threshold { system: system.into(), kind, count, percent }
    }

    #[test]
    fn counts_and_percentages_trigger_at_greater_than_or_equal() {
        use ActionKind::*;
        // (threshold, planned, total entitlements, reached?)
        let cases = [
            (threshold("ad", Update, Some(3), None), 2, 100, false),
            (threshold("ad", Update, Some(3), None), 3, 100, true),
            (threshold("ad", Update, Some(3), None), 4, 100, true),
            (threshold("ad", Update, None, Some(10.0)), 9, 100, false),
            (threshold("ad", Update, None, Some(10.0)), 10, 100, true),
            (threshold("ad", Update, None, Some(10.0)), 1, 10, true),
            (threshold("ad", Update, None, Some(12.5)), 1, 9, false),
            (threshold("ad", Update, None, Some(12.5)), 2, 16, true),
            (threshold("ad", Update, None, Some(10.0)), 5, 0, false),
            (threshold("ad", Update, Some(50), Some(10.0)), 10, 100, true),
            (threshold("ad", Update, Some(5), Some(90.0)), 5, 100, true),
            (threshold("*", Update, Some(1), None), 1, 1, true),
            (threshold("ad", Grant, Some(1), None), 5, 5, false),
            (threshold("other", Update, Some(1), None), 5, 5, false),
        ];
        for (i, (t, planned, total, reached)) in cases.iter().enumerate() {
            assert_eq!(
                t.check("ad", Update, *planned, *total).is_some(),
                *reached,
                "case {i}: {t:?} {planned}/{total}"
            );
        }
    }

    #[test]
    fn a_percentage_is_compared_exactly_where_float_products_round_up() {
        // 0.07 × 10 000 is 700.0000000000001 in floating point: 7 of 10 000 is exactly 0.07 %.
        for (percent, planned, total) in [(0.07, 7, 10_000), (0.55, 33, 6_000), (0.000005, 1, 20_000_000)] {
            let t = threshold("ad", ActionKind::Update, None, Some(percent));
            let breach = t.check("ad", ActionKind::Update, planned, total);
            assert_eq!(breach.map(|b| b.limit), Some(planned), "{percent}% of {total}: {planned} reach it");
            assert!(t.check("ad", ActionKind::Update, planned - 1, total).is_none(), "{percent}% of {total}");
        }
    }

    #[test]
    fn a_percentage_reports_the_count_it_amounts_to() {
        let b = threshold("ad", ActionKind::Update, None, Some(10.0)).check("ad", ActionKind::Update, 3, 25).unwrap();
        assert_eq!((b.limit, b.count), (3, 3));
        assert!(b.message.contains("12.0% of its 25 entitlements"), "{}", b.message);
    }

    #[test]
    fn a_breach_blocks_all_of_its_kind_on_that_system_and_nothing_else() {
        use ActionKind::*;
        let mut plan = vec![
            action("exo", Update),
            action("exo", Update),
            action("exo", Grant),
            action("topdesk", Update),
            action("exo", Update),
        ];
        let breaches = apply(&[threshold("exo", Update, Some(3), None)], &mut plan, |_| 100);
        assert_eq!(breaches.len(), 1);
        let blocked: Vec<(&str, ActionKind)> =
            plan.iter().filter(|a| a.state == ActionState::Blocked).map(|a| (a.system.as_str(), a.kind)).collect();
        assert_eq!(blocked, [("exo", Update); 3], "all three, not just the excess");
        assert!(plan.iter().filter(|a| a.state == ActionState::Pending).count() == 2);
    }

    #[test]
    fn validation_names_what_is_missing_or_out_of_range() {
        assert!(
            threshold("a", ActionKind::Update, None, None).validate().unwrap_err().contains("set `count`, `percent`")
        );
        assert!(threshold("a", ActionKind::Update, Some(0), None).validate().is_err());
        assert!(threshold("a", ActionKind::Update, None, Some(150.0)).validate().unwrap_err().contains("not 150"));
        let too_fine = threshold("a", ActionKind::Update, None, Some(0.0000001)).validate().unwrap_err();
        assert!(too_fine.contains("six decimal places"), "{too_fine}");
        assert!(threshold("a", ActionKind::Update, Some(10), Some(5.0)).validate().is_ok());
    }

    #[test]
    fn only_an_applying_percentage_needs_the_entitlement_count() {
        let percent = threshold("exchange-online", ActionKind::Update, None, Some(10.0));
        let count = threshold("*", ActionKind::Update, Some(5), None);
        assert!(percent.counts_entitlements("exchange-online", ActionKind::Update));
        assert!(!percent.counts_entitlements("topdesk", ActionKind::Update));
        assert!(!percent.counts_entitlements("exchange-online", ActionKind::Grant));
        assert!(!count.counts_entitlements("exchange-online", ActionKind::Update));
    }
}
