//! Prometheus metrics through the prometheus-client crate, served in the OpenMetrics text format:
//! events, invocations by outcome, actions by state, refusals by reason, the store's group
//! commits, and two histograms, request duration by route and status, and invocation duration by
//! tenant, plugin and outcome. The host's totals name no tenant; the invocation durations do, and
//! are rendered only for their own tenant's key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, text};
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

/// What ran, and how it ended (the tenant is the label of the tenant's own registry).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Invocation {
    plugin: String,
    outcome: String,
}

/// Invocation durations of one tenant.
type Durations = Family<Invocation, Histogram, fn() -> Histogram>;

/// The invocation durations' name and help.
const DURATIONS: (&str, &str) =
    ("provhost_invocation_duration_seconds", "Time from instantiation to return, by tenant, plugin and outcome");

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
    /// Per tenant, rendered only to that tenant's key.
    invocation_seconds: Mutex<HashMap<String, Durations>>,
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
            invocation_seconds: Mutex::default(),
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
        let labels = Invocation { plugin: report.plugin.name.clone(), outcome };
        let mut tenants = self.invocation_seconds.lock().unwrap_or_else(|p| p.into_inner());
        let durations = tenants
            .entry(report.tenant.clone())
            .or_insert_with(|| Family::new_with_constructor(histogram as fn() -> Histogram));
        durations.get_or_create(&labels).observe(report.usage.wall_time_us as f64 / 1e6);
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

    /// The metrics in the OpenMetrics text format, with the store's group commits: the host's
    /// totals, and the series labelled with `tenant`'s name if one is given (`None`: an
    /// anonymous scrape, which sees no tenant or plugin name).
    pub fn render(&self, store: &GroupStats, tenant: Option<&str>) -> String {
        {
            let mut rendered = self.rendered.lock().unwrap_or_else(|p| p.into_inner());
            let (groups, units) = (store.groups(), store.units());
            self.store_commits.inc_by(groups.saturating_sub(rendered.0));
            self.store_changes.inc_by(units.saturating_sub(rendered.1));
            *rendered = (groups.max(rendered.0), units.max(rendered.1));
        }
        let mut own = Registry::default();
        if let Some(tenant) = tenant {
            let durations = self.invocation_seconds.lock().unwrap_or_else(|p| p.into_inner()).get(tenant).cloned();
            own.sub_registry_with_label(("tenant".into(), tenant.to_owned().into())).register(
                DURATIONS.0,
                DURATIONS.1,
                durations.unwrap_or_else(|| Family::new_with_constructor(histogram as fn() -> Histogram)),
            );
        }
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let _ = text::encode_registry(&mut out, &own);
        let _ = text::encode_eof(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(metrics: &Metrics, tenant: &str, plugin: &str) {
        let mut tenants = metrics.invocation_seconds.lock().unwrap();
        let durations = tenants
            .entry(tenant.into())
            .or_insert_with(|| Family::new_with_constructor(histogram as fn() -> Histogram));
        durations.get_or_create(&Invocation { plugin: plugin.into(), outcome: "completed".into() }).observe(0.01);
    }

    #[test]
    fn a_tenant_sees_its_own_series_and_an_anonymous_scrape_no_tenant_or_plugin() {
        let metrics = Metrics::default();
        observe(&metrics, "contoso", "propagate-mail");
        observe(&metrics, "fabrikam", "secret-plugin");
        let stats = GroupStats::default();
        let contoso = metrics.render(&stats, Some("contoso"));
        assert!(contoso.contains(r#"tenant="contoso""#) && contoso.contains("propagate-mail"), "{contoso}");
        assert!(!contoso.contains("fabrikam") && !contoso.contains("secret-plugin"), "{contoso}");
        assert!(contoso.contains("provhost_events_total") && contoso.trim_end().ends_with("# EOF"));
        let anonymous = metrics.render(&stats, None);
        for name in ["contoso", "fabrikam", "propagate-mail", "secret-plugin", "tenant="] {
            assert!(!anonymous.contains(name), "{name} in {anonymous}");
        }
        assert!(anonymous.contains("provhost_store_commits_total"));
    }
}
