//! Prometheus metrics: events, invocations by outcome, invocation latency, actions by state,
//! refusals by reason — rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use crate::pipeline::RunReport;
use crate::store::GroupStats;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Counts {
    events: u64,
    invocations: BTreeMap<String, u64>,
    actions: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    latency_buckets: [u64; BUCKETS.len()],
    latency_sum: f64,
    latency_count: u64,
}

/// The server's metrics.
#[derive(Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

impl Metrics {
    /// Counts an event received.
    pub fn event(&self) {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).events += 1;
    }

    /// Counts an invocation's outcome, latency, actions and refusals.
    pub fn invocation(&self, report: &RunReport) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.invocations.entry(report.outcome.code().to_owned()).or_default() += 1;
        let seconds = report.usage.wall_time_us as f64 / 1e6;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                c.latency_buckets[i] += 1;
            }
        }
        c.latency_sum += seconds;
        c.latency_count += 1;
        for a in &report.actions {
            *c.actions.entry(a.state.to_string()).or_default() += 1;
        }
        for r in &report.refused {
            *c.refusals.entry(r.decision.to_owned()).or_default() += 1;
        }
    }

    /// Counts the refusal of a targeted request.
    pub fn refusal(&self, code: &str) {
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).refusals.entry(code.to_owned()).or_default() += 1;
    }

    /// The metrics in Prometheus text format, with the store's group commits.
    pub fn render(&self, store: &GroupStats) -> String {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        let _ = writeln!(out, "# HELP provhost_events_total Events received.\n# TYPE provhost_events_total counter");
        let _ = writeln!(out, "provhost_events_total {}", c.events);
        let family = |out: &mut String, name: &str, help: &str, label: &str, values: &BTreeMap<String, u64>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (value, n) in values {
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        };
        family(&mut out, "provhost_invocations_total", "Plugin invocations by outcome.", "outcome", &c.invocations);
        family(
            &mut out,
            "provhost_actions_total",
            "Entitlement actions planned, by state after the run.",
            "state",
            &c.actions,
        );
        family(&mut out, "provhost_refusals_total", "Refused calls by reason.", "reason", &c.refusals);
        let name = "provhost_invocation_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time from instantiation to return.\n# TYPE {name} histogram");
        for (bound, n) in BUCKETS.iter().zip(c.latency_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", c.latency_count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", c.latency_sum, c.latency_count);
        for (name, help, n) in [
            (
                "provhost_store_commits_total",
                "Store transactions committed (each holds a group of changes).",
                store.groups(),
            ),
            ("provhost_store_changes_total", "Changes committed in those transactions.", store.units()),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
        }
        out
    }
}
