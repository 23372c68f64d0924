//! `provhost run`: one event through one plugin, printed as one JSON document.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::{ApiKeyArg, DataDir, EXIT_NOT_COMMITTED, print_json};
use crate::event::Event;
use crate::executor::{DEFAULT_LEASE, Executor};
use crate::limits::{LimitSettings, Limits};
use crate::pipeline::{Execution, Mode, Plugins, fan_out, not_triggered};
use crate::policy::Scope;
use crate::runtime::Runtime;
use crate::runtime::plugin_name;
use crate::tenant::{Tenant, install};

/// Arguments of `provhost run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin: its name in the tenant's configuration, or a component file (.wasm). A file
    /// runs with the manifest beside it, if any (its capabilities, settings and limits; its
    /// triggers are not checked), under the API key's scopes and the tenant's policy.
    #[arg(long, value_name = "NAME|FILE")]
    plugin: String,
    /// The event document (JSON), or `-` for standard input.
    #[arg(long, value_name = "FILE|-")]
    event: String,
    #[command(flatten)]
    key: ApiKeyArg,
    /// Run the plugin and report what it would commit, without committing it.
    #[arg(long)]
    dry_run: bool,
    /// Return once the plan is committed, leaving its actions `pending` for the executor of a
    /// `provhost serve` on the same data directory, instead of carrying them out first.
    #[arg(long)]
    no_wait: bool,
    /// A plugin setting, read by the plugin through `config(key)`; repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,
    /// Fuel (instruction budget) for the invocation; only lowers the configured limit.
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-clock deadline in milliseconds, host calls included; only lowers the configured limit.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory cap in MiB, over all of the plugin's memories; only lowers the configured limit.
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Most host calls the plugin may make; only lowers the configured limit.
    #[arg(long)]
    max_host_calls: Option<u32>,
    /// Most actions the plugin may plan; only lowers the configured limit.
    #[arg(long)]
    max_actions: Option<u32>,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got '{text}'")),
    }
}

impl RunArgs {
    /// The resolved limits, lowered by the command line's: like a tenant or a manifest, the
    /// command line only lowers a limit; only the operator's `[limits]` raises one.
    fn limits(&self, resolved: Limits) -> anyhow::Result<Limits> {
        let flags = LimitSettings {
            fuel: self.fuel,
            timeout_ms: self.timeout_ms,
            memory_bytes: self.memory_mb.map(|mb| mb.saturating_mul(1 << 20)),
            max_host_calls: self.max_host_calls,
            max_actions: self.max_actions,
            ..LimitSettings::default()
        };
        flags.validate().map_err(|m| anyhow::anyhow!("the command line's limits: {m}"))?;
        Ok(flags.lower(resolved))
    }

    fn read_event(&self) -> anyhow::Result<Event> {
        let (name, text) = if self.event == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("cannot read the event from standard input")?;
            ("standard input".to_string(), text)
        } else {
            let text = std::fs::read_to_string(&self.event)
                .with_context(|| format!("cannot read event file {}", self.event))?;
            (self.event.clone(), text)
        };
        Event::from_json(&text).with_context(|| format!("event {name}"))
    }

    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let event = self.read_event()?;
        let store = data.open_store()?;
        let key = self.key.authenticate(&*store, Scope::EventsSubmit)?;
        let config = data.config.tenant(&key.tenant)?;
        let configured = config.plugins.get(&self.plugin);
        let path = match configured {
            Some(configured) => configured.component.clone(),
            None if Path::new(&self.plugin).is_file() => PathBuf::from(&self.plugin),
            None => anyhow::bail!(
                "no plugin '{}' is configured for tenant '{}', and there is no such file",
                self.plugin,
                key.tenant
            ),
        };
        let name = if configured.is_some() { self.plugin.clone() } else { plugin_name(&path) };
        let tenant = Tenant::configured(&key.tenant, &config, &store)?;
        let runtime = Runtime::new(data.cache_dir())?;
        let mut installed = install(&runtime, &name, &path, configured, &data.config.limits)?;
        installed.plugin.settings.extend(self.settings.iter().cloned());
        let limits = self.limits(installed.plugin.limits)?;
        if configured.is_some()
            && let Some(why) = not_triggered(&tenant, &installed, &event)
        {
            anyhow::bail!(why);
        }
        let plugins = Plugins::One { plugin: &installed, limits };
        let executor = Executor::new(DEFAULT_LEASE);
        let execution = if self.no_wait { Execution::Queued } else { Execution::Now(&executor) };
        let mode = Mode { dry_run: self.dry_run, execution };
        let mut done = fan_out(&runtime, &tenant, (&key).into(), event, plugins, mode)?;
        let report = done.reports.pop().expect("one plugin, one report");
        let plugin = &installed.loaded;
        print_json(&report)?;
        if report.committed {
            Ok(ExitCode::SUCCESS)
        } else {
            let why = report.refused_at_commit.as_ref().map(ToString::to_string).unwrap_or_else(|| {
                format!("plugin {} ended with {}: {}", plugin.name, report.outcome.code(), report.outcome.detail())
            });
            eprintln!("provhost: nothing committed: {why}");
            Ok(ExitCode::from(EXIT_NOT_COMMITTED))
        }
    }
}
