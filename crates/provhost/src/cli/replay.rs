//! `provhost replay`: a new version of a plugin run over the tenant's kept events as a dry run,
//! its decisions compared with the installed version's; a table on a terminal, JSON otherwise.
//! The exit status fails when they differ beyond `--allow`, so that a CI job can gate a deploy.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{ApiKeyArg, DataDir, print_json};
use crate::model::parse_rfc3339;
use crate::pipeline::{Difference, Replay, ReplayReport, Replayed, replay};
use crate::policy::Scope;
use crate::runtime::Runtime;
use crate::store::EventRange;
use crate::tenant::install_candidate;

/// Exit status when the new version's decisions differ beyond `--allow`.
pub const EXIT_REPLAY_DIFFERS: u8 = 4;

/// The most kept events one replay runs.
pub const MAX_REPLAY_EVENTS: usize = 10_000;

/// How the report is printed.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// A table on a terminal, JSON otherwise.
    Auto,
    /// A table.
    Table,
    /// One JSON document.
    Json,
}

/// Arguments of `provhost replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    key: ApiKeyArg,
    /// The plugin, by its name in the tenant's configuration: its kept events are replayed, under
    /// its configuration there.
    #[arg(long, value_name = "NAME")]
    plugin: String,
    /// The new version's component (.wasm), with the manifest beside it if it has one.
    #[arg(long, value_name = "NEW.wasm")]
    component: PathBuf,
    /// Only events kept at or after this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_rfc3339)]
    since: Option<String>,
    /// Only events kept before this time (RFC 3339).
    #[arg(long, value_name = "T", value_parser = parse_rfc3339)]
    until: Option<String>,
    /// At most this many events, oldest first.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=MAX_REPLAY_EVENTS as u64))]
    limit: u64,
    /// Differences that do not fail the replay; repeatable or comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    allow: Vec<Difference>,
    /// How the report is printed.
    #[arg(long, value_enum, default_value = "auto")]
    format: Format,
}

impl ReplayArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let store = data.open_store()?;
        let key = self.key.authenticate(&*store, Scope::PluginsReplay)?;
        let config = data.config.tenant(&key.tenant)?;
        let tenant = data.tenant(&store, &key)?;
        let runtime = Runtime::new(data.cache_dir())?;
        let installed =
            install_candidate(&runtime, (&config, &key.tenant), &self.plugin, &self.component, &data.config.limits)?;
        let range =
            EventRange { since: self.since, until: self.until, limit: self.limit as usize, ..Default::default() };
        let report =
            replay(&runtime, Replay { tenant: &tenant, installed: &installed, range, allow: self.allow, by: &key.id })?;
        let table = match self.format {
            Format::Auto => std::io::stdout().is_terminal(),
            Format::Table => true,
            Format::Json => false,
        };
        if table {
            print_table(&report)?;
        } else {
            print_json(&report)?;
        }
        if report.fails() {
            eprintln!(
                "provhost: {} of {} replayed events differ beyond what --allow allows",
                report.summary.disallowed, report.summary.compared
            );
            return Ok(ExitCode::from(EXIT_REPLAY_DIFFERS));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One line of the table on how an event ended and what it planned.
fn ended(decided: &crate::pipeline::Decided) -> String {
    format!("{} ({} actions)", decided.outcome, decided.actions.len())
}

/// `text` cut to `width` characters.
fn cut(text: &str, width: usize) -> String {
    match text.char_indices().nth(width) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn print_event(out: &mut impl Write, e: &Replayed) -> std::io::Result<()> {
    let differences: Vec<String> =
        e.delta.differences.iter().filter_map(|d| d.to_possible_value().map(|v| v.get_name().to_owned())).collect();
    let verdict = if differences.is_empty() { "same".to_owned() } else { differences.join(",") };
    writeln!(
        out,
        "{:>6}  {:<24}  {:<48}  {:<22}  {:<22}  {verdict}",
        e.seq,
        e.at,
        cut(&e.event, 48),
        ended(&e.old),
        ended(&e.new)
    )?;
    for a in &e.delta.added {
        writeln!(out, "{:8}+ {} {} {} of {}", "", a.kind, a.system, a.target, a.person)?;
    }
    for a in &e.delta.removed {
        writeln!(out, "{:8}- {} {} {} of {}", "", a.kind, a.system, a.target, a.person)?;
    }
    for c in &e.delta.changed {
        let state = |blocked: bool| if blocked { "blocked" } else { "not blocked" };
        let (was, now) = (state(c.was.blocked), state(c.now.blocked));
        writeln!(out, "{:8}~ {} {} {}: {was} → {now}", "", c.now.kind, c.now.system, c.now.target)?;
    }
    for r in &e.delta.refusals_added {
        writeln!(out, "{:8}+ refused {r}", "")?;
    }
    for r in &e.delta.refusals_removed {
        writeln!(out, "{:8}- refused {r}", "")?;
    }
    for t in &e.delta.thresholds_added {
        writeln!(out, "{:8}+ threshold {t}", "")?;
    }
    for t in &e.delta.thresholds_removed {
        writeln!(out, "{:8}- threshold {t}", "")?;
    }
    if e.new.outcome != e.old.outcome {
        writeln!(out, "{:8}new: {}", "", e.new.detail)?;
    }
    Ok(())
}

fn print_table(report: &ReplayReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "plugin {} of tenant {}: new component {}", report.plugin, report.tenant, report.component_sha256)?;
    writeln!(out, "run against {}", report.against)?;
    writeln!(out, "{:>6}  {:<24}  {:<48}  {:<22}  {:<22}  differences", "event", "kept at", "event", "old", "new")?;
    for event in &report.events {
        print_event(&mut out, event)?;
    }
    let s = &report.summary;
    writeln!(
        out,
        "{} compared: {} identical, {} different, {} new errors, {} new limits; {} µs per event before, {} µs now",
        s.compared, s.identical, s.different, s.new_errors, s.new_limits, s.old_us_per_event, s.new_us_per_event
    )?;
    if report.next_offset.is_some() {
        writeln!(out, "more kept events follow: narrow --since or raise --limit")?;
    }
    Ok(())
}
