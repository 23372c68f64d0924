//! `GET /console/plugins`: each plugin configured for the tenant, with its sha256, API version,
//! capabilities, triggers and limits, and how its invocations of the last day ended —
//! completed, refused, trapped, limit, other — as counts and a small chart by hour, drawn on the
//! server as SVG, so that a misbehaving plugin shows at a glance. Each plugin is one `section`
//! built by [`section`], with the form that replays a new version of it (`replay`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};

use super::operator::Operator;
use super::refused::Refused;
use super::{layout, replay};
use crate::audit::Outcome;
use crate::policy::Scope;
use crate::server::AppState;
use crate::server::blocking::off_worker;
use crate::store::OutcomeCount;
use crate::tenant::Installed;

/// The hours the chart covers, up to the current one.
const HOURS: usize = 24;

/// The classes outcomes are counted in, each with its colour in the chart.
const CLASSES: [(&str, &str); 5] = [
    ("completed", "#1d6b34"),
    ("refused", "#b35900"),
    ("trapped", "#a4161a"),
    ("limit", "#5b2a86"),
    ("other", "#4a5260"),
];

/// The class of an outcome.
fn class(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Completed | Outcome::Committed => 0,
        Outcome::Trap => 2,
        Outcome::Limit => 3,
        Outcome::PluginError | Outcome::NotRun | Outcome::Unavailable => 4,
        // Refused at commit, or a denied request.
        Outcome::Refused | Outcome::Denied(_) => 1,
    }
}

/// Counts by hour (the last [`HOURS`], oldest first) and class.
type Chart = Vec<(String, [u64; 5])>;

/// The last [`HOURS`] hours ending with the one `now` is in, as `YYYY-MM-DDTHH`.
fn hours(now: time::OffsetDateTime) -> Vec<String> {
    (0..HOURS)
        .rev()
        .map(|back| {
            let t = now - time::Duration::hours(back as i64);
            format!("{:04}-{:02}-{:02}T{:02}", t.year(), u8::from(t.month()), t.day(), t.hour())
        })
        .collect()
}

/// The chart's rows from the store's counts.
fn chart(counts: &[OutcomeCount], hours: Vec<String>) -> Chart {
    let mut by_hour: BTreeMap<&str, [u64; 5]> = BTreeMap::new();
    for c in counts {
        by_hour.entry(c.hour.as_str()).or_default()[class(c.outcome)] += c.count;
    }
    hours
        .into_iter()
        .map(|h| {
            let row = by_hour.get(h.as_str()).copied().unwrap_or_default();
            (h, row)
        })
        .collect()
}

/// One bar segment: x, y, height, colour and what it says.
type Segment = (f64, f64, f64, &'static str, String);

/// The chart's segments: one stacked bar an hour, scaled to the busiest hour.
fn segments(chart: &Chart, (width, height): (f64, f64)) -> Vec<Segment> {
    let bar = width / HOURS as f64;
    let top = chart.iter().map(|(_, row)| row.iter().sum::<u64>()).max().unwrap_or(0).max(1) as f64;
    let mut drawn = Vec::new();
    for (i, (hour, row)) in chart.iter().enumerate() {
        let mut base = height;
        for (c, n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
            let h = *n as f64 / top * (height - 4.0);
            base -= h;
            drawn.push((i as f64 * bar + 1.0, base, h, CLASSES[c].1, format!("{hour}:00 — {n} {}", CLASSES[c].0)));
        }
    }
    drawn
}

/// The chart as SVG.
fn svg(chart: &Chart, name: &str) -> Markup {
    let (width, height) = (480.0, 80.0);
    let bar = width / HOURS as f64 - 2.0;
    html! {
        svg class="chart" role="img" width="480" height="96" viewBox="0 0 480 96" aria-label={ "Outcomes of " (name) " by hour, last 24 hours" } {
            line x1="0" y1=(height) x2=(width) y2=(height) stroke="#4a5260" {}
            @for (x, y, h, colour, what) in segments(chart, (width, height)) {
                rect x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{bar:.1}")) height=(format!("{h:.1}")) fill=(colour) {
                    title { (what) }
                }
            }
            text x="0" y="94" { (chart.first().map_or("", |(h, _)| h.as_str())) ":00" }
            text x="480" y="94" text-anchor="end" { "now" }
        }
    }
}

/// One plugin: what it is, what it may do, how it fared, and (for a key granted `plugins:replay`)
/// the form that replays a new version of it.
fn section(operator: &Operator, installed: &Installed, chart: &Chart) -> Markup {
    let (plugin, loaded) = (&installed.plugin, &installed.loaded);
    let totals = chart.iter().fold([0u64; 5], |mut t, (_, row)| {
        for (c, n) in row.iter().enumerate() {
            t[c] += n;
        }
        t
    });
    let id = format!("plugin-{}", plugin.name);
    html! {
        section class="group" aria-labelledby=(id) {
            h2 id=(id) { (plugin.name) }
            dl {
                dt { "sha256" } dd class="mono" { (loaded.sha256) }
                dt { "API version" } dd { (loaded.api_version) }
                dt { "Capabilities" } dd class="mono" { (plugin.capabilities.names().join(", ")) }
                dt { "Triggers" } dd {
                    "events: " (list(&plugin.triggers.events)) "; attributes: " (list(&plugin.triggers.attributes))
                    "; systems: " (list(&plugin.triggers.systems))
                }
                dt { "Limits" } dd {
                    (plugin.limits.fuel) " fuel, " (plugin.limits.memory_bytes) " bytes of memory, "
                    (plugin.limits.timeout_ms) " ms, " (plugin.limits.max_host_calls) " host calls"
                }
            }
            h3 { "The last 24 hours" }
            table {
                thead { tr { @for (name, _) in CLASSES { th scope="col" { (name) } } } }
                tbody { tr { @for n in totals { td { (n) } } } }
            }
            (svg(chart, &plugin.name))
            p class="legend" { @for (name, colour) in CLASSES { span style={ "color:" (colour) } { "■ " } (name) " " } }
            @if operator.allows(Scope::PluginsReplay) {
                h3 { "Replay a new version" }
                p { "Runs the new version over this plugin's kept events as a dry run and shows how its decisions differ." }
                (replay::form(operator, &plugin.name, &replay::Range::default(), None))
            }
        }
    }
}

/// Names, or "any" for none.
fn list(names: &[String]) -> String {
    if names.is_empty() { "any".into() } else { names.join(", ") }
}

/// `GET /console/plugins`.
pub async fn show(State(app): State<Arc<AppState>>, operator: Operator) -> Result<Markup, Refused> {
    let tenant = app.tenant(operator.tenant());
    let names: Vec<String> = tenant.plugins().iter().map(|p| p.plugin.name.clone()).collect();
    let now = time::OffsetDateTime::now_utc();
    let since = format!("{}:00:00.000Z", hours(now)[0]);
    let (store, id) = (app.store.clone(), operator.tenant().to_owned());
    let counts = off_worker(move || {
        names
            .iter()
            .map(|name| Ok(store.plugin_outcomes(&id, name, &since)?))
            .collect::<Result<Vec<_>, crate::server::problem::Problem>>()
    })
    .await?;
    let body = html! {
        h1 { "Plugins" }
        @if tenant.plugins().is_empty() { p { "No plugin is configured for this tenant." } }
        @for (installed, counts) in tenant.plugins().iter().zip(&counts) {
            (section(&operator, installed, &chart(counts, hours(now))))
        }
    };
    Ok(layout::page("Plugins", Some(&operator), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_fall_into_their_classes_by_hour() {
        let now = time::macros::datetime!(2026-12-02 19:42 UTC);
        let hours = hours(now);
        assert_eq!((hours.len(), hours[0].as_str(), hours[23].as_str()), (24, "2026-12-01T20", "2026-12-02T19"));
        let count = |hour: &str, outcome: &str, count| OutcomeCount {
            hour: hour.into(),
            outcome: outcome.parse().unwrap(),
            count,
        };
        let counts = [
            count("2026-12-02T19", "completed", 3),
            count("2026-12-02T19", "forbidden", 2),
            count("2026-12-02T19", "refused", 1),
            count("2026-12-02T18", "trap", 4),
            count("2026-12-02T18", "limit", 5),
            count("2026-12-02T18", "plugin-error", 6),
        ];
        let chart = chart(&counts, hours);
        assert_eq!(chart[23], ("2026-12-02T19".into(), [3, 3, 0, 0, 0]));
        assert_eq!(chart[22], ("2026-12-02T18".into(), [0, 0, 4, 5, 6]));
        assert!(chart[..22].iter().all(|(_, row)| row == &[0; 5]));
        let drawn = svg(&chart, "p").into_string();
        assert_eq!(drawn.matches("<rect").count(), 5, "{drawn}");
        assert!(drawn.contains("2026-12-02T18:00 — 4 trapped"), "{drawn}");
    }
}
