//! `provhost bench`: what provhost adds on top of a plugin's own work — whole CLI runs, the
//! per-event cost in process against a native baseline, the server under load, and resident
//! memory. Figures are medians over repeated runs; ratios are taken within the same run.

mod console;
mod invoke;
mod load;
mod memory;
mod native;
mod process;
mod profile;

use std::fmt::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::event::Event;
use crate::runtime::Runtime;

/// Events per instance in the warm-instance rows.
const WARM_EVENTS: u32 = 1000;

/// How many of the plugins measured, at the end of the list, target the frozen contract 0.1.0;
/// the memory figures leave them out.
const PLUGINS_0_1: usize = 1;

/// How much to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Where the built plugins are (`plugins/target`).
    pub plugins: PathBuf,
    /// The event every measurement uses.
    pub event: PathBuf,
    /// In-process iterations per plugin.
    pub iterations: usize,
    /// CLI runs after the first.
    pub runs: usize,
    /// Seconds per load level.
    pub load_seconds: f64,
    /// Only these parts (`invoke`, `cli`, `load`, `memory`, `console`); empty for all.
    pub only: Vec<String>,
    /// A PostgreSQL server (a URL naming a database beside which the user may create others) to
    /// run the load on too, with one and with two servers, beside the embedded store.
    pub postgres: Option<String>,
    /// Where to write a guest profile of each plugin's invocations, fresh and warm, before
    /// anything is timed.
    pub guest_profile: Option<PathBuf>,
}

impl BenchOptions {
    fn wants(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }
}

/// The median of durations, in µs.
fn median_us(times: &mut [Duration]) -> f64 {
    times.sort();
    times.get(times.len() / 2).map(|d| d.as_secs_f64() * 1e6).unwrap_or(0.0)
}

/// The plugins measured: noop, propagate-mail in each language on the current contract, then
/// propagate-mail in Rust on the frozen 0.1.0 (the last [`PLUGINS_0_1`]).
fn plugins(root: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("noop (Rust)", root.join("wasm32-wasip2/release/noop.wasm")),
        ("propagate-mail (Rust)", root.join("wasm32-wasip2/release/propagate_mail.wasm")),
        ("propagate-mail (Python)", root.join("python/propagate_mail.wasm")),
        ("propagate-mail (JavaScript)", root.join("js/propagate_mail.wasm")),
        ("propagate-mail (Rust)", root.join("wasm32-wasip2/release/propagate_mail_v0_1.wasm")),
    ]
}

/// What the columns on carrying actions out say, under both load tables.
const CARRIED_OUT: &str = "Events/s counts answers, not work done: actions left to carry out are those \
    pending, running or waiting as the level ends (a batch under way is among them), each level starting \
    once the actions of the one before were carried out. Where they are many, actions were planned faster \
    than they were carried out, and that events/s is not kept up. Sustained events/s divides the events \
    answered by the level's time and the wait after it until the last of their actions was carried out.";

/// A level's sustained events/s, or why there is none.
fn sustained(f: &load::LoadFigures) -> String {
    let limit = load::DRAIN_LIMIT.as_secs();
    f.sustained_events_per_second.map_or(format!("not carried out within {limit} s"), |e| format!("{e:.0}"))
}

/// The table of the load on the embedded store beside PostgreSQL with one and two servers, at the
/// levels the PostgreSQL runs measured.
fn write_scale_out(
    out: &mut String,
    embedded: &[load::LoadFigures],
    one: &[load::LoadFigures],
    two: &[load::LoadFigures],
) {
    let _ = writeln!(out, "\n## Server under load: embedded store beside PostgreSQL, one and two servers (same run)\n");
    let _ = writeln!(
        out,
        "| store | servers | concurrent requests | events/s | of SQLite's | p50 | p99 | errors | actions executed/s | actions left to carry out | sustained events/s | sustained, of SQLite's | transactions per event |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let rows = [("SQLite", 1, embedded), ("PostgreSQL", 1, one), ("PostgreSQL", 2, two)];
    for (store, servers, figures) in rows {
        for f in figures.iter().filter(|f| one.iter().any(|o| o.concurrency == f.concurrency)) {
            let per_event = f.transactions_per_event.map_or("—".to_string(), |t| format!("{t:.1}"));
            let sqlite = embedded.iter().find(|e| e.concurrency == f.concurrency);
            let ratio =
                sqlite.map_or("—".to_string(), |e| format!("{:.2}", f.events_per_second / e.events_per_second));
            let sustained_ratio =
                match (f.sustained_events_per_second, sqlite.and_then(|e| e.sustained_events_per_second)) {
                    (Some(f), Some(e)) => format!("{:.2}", f / e),
                    _ => "—".to_string(),
                };
            let _ = writeln!(
                out,
                "| {store} | {servers} | {} | {:.0} | {ratio} | {:.2} ms | {:.2} ms | {} | {:.0} | {} | {} | {sustained_ratio} | {per_event} |",
                f.concurrency,
                f.events_per_second,
                f.p50_ms,
                f.p99_ms,
                f.errors,
                f.actions_per_second,
                f.unfinished,
                sustained(f)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nSQLite's server runs in this process; each PostgreSQL server is a `provhost serve` process of its own \
         (its data directory, connection pool, instance pool and executor) on the same database and the same \
         cores as the load generator, which splits the load evenly across them. {CARRIED_OUT} Transactions per \
         event count those of the level and of the wait after it, every statement run outside a transaction \
         (each read) as one."
    );
}

/// The parts `options` asks for, in the order they run.
pub fn parts(options: &BenchOptions) -> usize {
    let profiles = usize::from(options.guest_profile.is_some());
    profiles + ["invoke", "cli", "load", "memory", "console"].iter().filter(|p| options.wants(p)).count()
}

/// Runs every measurement and returns the report as Markdown; `starting` hears of each part as it
/// begins.
pub fn run(options: &BenchOptions, starting: &dyn Fn(&str)) -> anyhow::Result<String> {
    let event_text = std::fs::read_to_string(&options.event)?;
    let event = Event::from_json(&event_text)?;
    let root = options.plugins.canonicalize().map_err(|e| anyhow::anyhow!("{}: {e}", options.plugins.display()))?;
    let plugins = plugins(&root);
    for (label, path) in &plugins {
        anyhow::ensure!(path.exists(), "{label} is not built at {}; run scripts/build-plugins.sh", path.display());
    }
    let mut out = String::new();
    let _ = writeln!(out, "# provhost benchmarks\n");
    let _ = writeln!(
        out,
        "Measured by `provhost bench` on {} ({} cores). Medians over repeated runs; ratios within the same run.\n",
        std::env::consts::ARCH,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    let fresh = NonZeroU32::MIN;
    let warm = NonZeroU32::new(WARM_EVENTS).expect("not zero");
    let runs = || {
        plugins.iter().map(|p| (p, fresh, "")).chain(plugins[1..].iter().map(|p| (p, warm, ", warm instance (opt-in)")))
    };
    // One compile cache for the in-process parts, so that a component profiled first is not
    // compiled again to be timed.
    let in_process_cache = tempfile::tempdir()?;
    if let Some(dir) = &options.guest_profile {
        starting("guest profiles");
        let runtime = Runtime::new(in_process_cache.path().to_owned())?;
        let profiled: Vec<_> = runs()
            .map(|((label, path), events_per_instance, _)| profile::Profiled { label, path, events_per_instance })
            .collect();
        let written = profile::write(&runtime, &profiled, &event, options.iterations, dir)?;
        let _ = writeln!(out, "Guest profiles ({} events each) written to {}.\n", options.iterations, dir.display());
        for path in written {
            let _ = writeln!(out, "- `{}`", path.display());
        }
        let _ = writeln!(out);
    }
    if options.wants("invoke") {
        starting("in-process invocations");
        let runtime = Runtime::new(in_process_cache.path().to_owned())?;
        let _ = writeln!(out, "## Per event, in process (instantiate + handle + plan; no store writes)\n");
        let _ = writeln!(
            out,
            "| plugin | contract | per event | of which instantiating | native baseline, same run | over native | sandboxed / native |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: |"
        );
        for ((label, path), events_per_instance, how) in runs() {
            let f = invoke::sandboxed(&runtime, label, path, &event, options.iterations, events_per_instance)?;
            if path == &plugins[0].1 {
                let _ = writeln!(
                    out,
                    "| {label}: a fresh instance doing nothing | {} | {:.1} µs | {:.1} µs | — | — | — |",
                    f.api_version, f.sandboxed_us, f.instantiate_us
                );
                continue;
            }
            let over = f.sandboxed_us - f.native_us;
            let _ = writeln!(
                out,
                "| {label}{how} | {} | {:.1} µs | {:.1} µs | {:.1} µs | {over:+.1} µs | {:.1} |",
                f.api_version,
                f.sandboxed_us,
                f.instantiate_us,
                f.native_us,
                f.sandboxed_us / f.native_us
            );
        }
        let _ = writeln!(
            out,
            "\nA warm instance serves up to {WARM_EVENTS} events of one tenant (`events-per-instance`), so its \
             interpreter starts once instead of per event. The native baseline is propagate-mail's logic \
             in Rust on the same gate, timed alternately with each sandboxed event. The contract column is the \
             WIT version the component targets: one host serves 0.1.0 and 0.2.0 side by side."
        );
    }
    if options.wants("cli") {
        starting("whole CLI runs");
        let _ = writeln!(out, "\n## `provhost run`, whole process (store on disk, plan committed and executed)\n");
        let _ = writeln!(out, "| plugin | first run (compiles) | later runs (compile cache) |\n| --- | ---: | ---: |");
        for (label, path) in &plugins {
            let (first, later) = process::provhost_run(path, &options.event, options.runs)?;
            let _ = writeln!(out, "| {label} | {first:.0} ms | {later:.1} ms |");
        }
        if let Some(python) = process::python_step(options.runs) {
            let _ = writeln!(out, "| for scale: `python3 -c pass` | — | {python:.1} ms |");
        }
    }
    if options.wants("load") {
        starting("server under load");
        let rust = &plugins[1].1;
        let levels = [1, 16, 64];
        let seconds = Duration::from_secs_f64(options.load_seconds);
        let figures = load::run(rust, &options.event, &levels, seconds, load::Setup::Embedded)?;
        let _ = writeln!(
            out,
            "\n## Server under load (propagate-mail in Rust; each event commits its plan, synced to disk)\n"
        );
        let _ = writeln!(
            out,
            "| concurrent requests | events/s | p50 | p99 | errors | store changes per synced commit | actions executed/s | actions left to carry out | sustained events/s | generator |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for f in &figures {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.1} | {:.0} | {} | {} | {} |",
                f.concurrency,
                f.events_per_second,
                f.p50_ms,
                f.p99_ms,
                f.errors,
                f.changes_per_commit,
                f.actions_per_second,
                f.unfinished,
                sustained(f),
                f.generator
            );
        }
        let _ = writeln!(
            out,
            "\nAn event is answered once its plan is committed (the plan with its invocation and audit records, \
             one store change); the executor carries the actions out after the answer, in store changes of its own. \
             Concurrent changes share one synced commit. {CARRIED_OUT}"
        );
        if let Some(server) = &options.postgres {
            starting("server under load on PostgreSQL");
            let levels = [16, 64];
            let one = load::run(rust, &options.event, &levels, seconds, load::Setup::Postgres { server, hosts: 1 })?;
            let two = load::run(rust, &options.event, &levels, seconds, load::Setup::Postgres { server, hosts: 2 })?;
            write_scale_out(&mut out, &figures, &one, &two);
        }
    }
    if options.wants("memory") {
        starting("memory");
        let all: Vec<&Path> = plugins[1..plugins.len() - PLUGINS_0_1].iter().map(|(_, p)| p.as_path()).collect();
        let idle = memory::server_rss(1, &all[..1])?;
        let loaded = memory::server_rss(10, &all)?;
        let doubled = memory::server_rss(20, &all)?;
        let per_tenant = (doubled - loaded) / 10.0;
        let _ = writeln!(out, "\n## Resident memory of `provhost serve` (plugins from the compile cache)\n");
        let _ = writeln!(out, "| configuration | resident |\n| --- | ---: |");
        let _ = writeln!(out, "| 1 tenant × 1 plugin (Rust), idle | {idle:.1} MiB |");
        let _ = writeln!(out, "| 10 tenants × 3 plugins (Rust, Python, JavaScript) | {loaded:.1} MiB |");
        let _ = writeln!(out, "| 20 tenants × the same 3 plugins | {doubled:.1} MiB |");
        let _ = writeln!(out, "| one more tenant running the same 3 plugins | {per_tenant:.2} MiB |");
        let _ = writeln!(
            out,
            "\nTenants running the same component share one compiled copy of it (its code and memory images), \
             so one more tenant running plugins already loaded costs its configuration, policy and plugin \
             records, not another copy of the code."
        );
    }
    if options.wants("console") {
        starting("console pages");
        let dir = tempfile::tempdir()?;
        let figures = console::run(dir.path(), console::ROUNDS)?;
        let _ = writeln!(
            out,
            "\n## Console pages with {} actions in the store (signed in, to the last byte; {} rounds)\n",
            console::ACTIONS,
            console::ROUNDS
        );
        let _ = writeln!(out, "| page | median | slowest |\n| --- | ---: | ---: |");
        for f in &figures {
            let _ = writeln!(out, "| {} | {:.2} ms | {:.2} ms |", f.page, f.median_ms, f.max_ms);
        }
    }
    Ok(out)
}
