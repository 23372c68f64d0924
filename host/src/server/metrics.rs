//! Prometheus metrics through the prometheus-client crate, served in the OpenMetrics text format:
//! events, invocations by outcome, actions by state, refusals by reason, the store's group
//! commits, and two histograms, request duration by route and status, and invocation duration by
//! tenant, plugin and outcome.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::RunReport;
use crate::store::GroupStats;

/// Upper bounds of the duration histograms, in seconds.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// One label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

/// One label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

/// One label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

/// Who ran what, and how it ended.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Invocation {
    tenant: String,
    plugin: String,
    outcome: String,
}

/// The route (as the router matched it, never the raw path), the method and the status.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: String,
    route: String,
    status: u16,
}

/// The server's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    events: Counter,
    invocations: Family<Outcome, Counter>,
    actions: Family<State, Counter>,
    refusals: Family<Reason, Counter>,
    invocation_seconds: Family<Invocation, Histogram, fn() -> Histogram>,
    request_seconds: Family<Route, Histogram, fn() -> Histogram>,
    store_commits: Counter,
    store_changes: Counter,
    /// The store's totals as last rendered, so that the counters advance by the difference.
    rendered: Mutex<(u64, u64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let metrics = Metrics {
            events: Counter::default(),
            invocations: Family::default(),
            actions: Family::default(),
            refusals: Family::default(),
            invocation_seconds: Family::new_with_constructor(histogram as fn() -> Histogram),
            request_seconds: Family::new_with_constructor(histogram as fn() -> Histogram),
            store_commits: Counter::default(),
            store_changes: Counter::default(),
            rendered: Mutex::new((0, 0)),
            registry: Registry::default(),
        };
        registry.register("provhost_events", "Events received", metrics.events.clone());
        registry.register("provhost_invocations", "Plugin invocations by outcome", metrics.invocations.clone());
        registry.register(
            "provhost_actions",
            "Entitlement actions planned, by state at the answer",
            metrics.actions.clone(),
        );
        registry.register("provhost_refusals", "Refused calls by reason", metrics.refusals.clone());
        registry.register(
            "provhost_invocation_duration_seconds",
            "Time from instantiation to return, by tenant, plugin and outcome",
            metrics.invocation_seconds.clone(),
        );
        registry.register(
            "provhost_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "provhost_store_commits",
            "Store transactions committed (each holds a group of changes)",
            metrics.store_commits.clone(),
        );
        registry.register(
            "provhost_store_changes",
            "Changes committed in those transactions",
            metrics.store_changes.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    /// Counts an event received.
    pub fn event(&self) {
        self.events.inc();
    }

    /// Counts an invocation's outcome, duration, actions and refusals.
    pub fn invocation(&self, report: &RunReport) {
        let outcome = report.outcome.code().to_owned();
        self.invocations.get_or_create(&Outcome { outcome: outcome.clone() }).inc();
        let labels = Invocation { tenant: report.tenant.clone(), plugin: report.plugin.name.clone(), outcome };
        self.invocation_seconds.get_or_create(&labels).observe(report.usage.wall_time_us as f64 / 1e6);
        for a in &report.actions {
            self.actions.get_or_create(&State { state: a.state.to_string() }).inc();
        }
        for r in &report.refused {
            self.refusals.get_or_create(&Reason { reason: r.decision.to_owned() }).inc();
        }
    }

    /// Counts the refusal of a targeted request.
    pub fn refusal(&self, code: &str) {
        self.refusals.get_or_create(&Reason { reason: code.to_owned() }).inc();
    }

    /// Times one answered HTTP request.
    pub fn request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let labels = Route { method: method.to_owned(), route: route.to_owned(), status };
        self.request_seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// The metrics in the OpenMetrics text format, with the store's group commits.
    pub fn render(&self, store: &GroupStats) -> String {
        {
            let mut rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
            let (groups, units) = (store.groups(), store.units());
            self.store_commits.inc_by(groups.saturating_sub(rendered.0));
            self.store_changes.inc_by(units.saturating_sub(rendered.1));
            *rendered = (groups.max(rendered.0), units.max(rendered.1));
        }
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
