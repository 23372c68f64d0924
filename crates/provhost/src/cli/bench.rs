//! `provhost bench`: measure, print, and optionally write BENCHMARKS.md. With `--store
//! postgres://…`, the server under load runs on that PostgreSQL server too, with one and with two
//! servers, in fresh databases it creates and drops.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::DataDir;
use crate::bench::{BenchOptions, parts, run};
use crate::store::Location;

/// Arguments of `provhost bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where the built plugins are.
    #[arg(long, default_value = "plugins/target")]
    plugins: PathBuf,
    /// The event to measure with.
    #[arg(long, default_value = "examples/events/mail-changed.json")]
    event: PathBuf,
    /// In-process iterations per plugin.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// CLI runs after the first.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Seconds per load level.
    #[arg(long, default_value_t = 5.0)]
    load_seconds: f64,
    /// Only these parts: invoke, cli, load, memory, console (repeatable); all by default.
    #[arg(long)]
    only: Vec<String>,
    /// Also write the report here (e.g. BENCHMARKS.md).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a guest profile of each plugin's invocations, fresh and warm, into this directory
    /// first, as Firefox-profiler JSON (https://profiler.firefox.com); needs provhost built with
    /// the feature `guest-profile`.
    #[arg(long, value_name = "DIR")]
    guest_profile: Option<PathBuf>,
}

impl BenchArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let options = BenchOptions {
            plugins: self.plugins,
            event: self.event,
            iterations: self.iterations,
            runs: self.runs,
            load_seconds: self.load_seconds,
            only: self.only,
            postgres: match &data.store {
                Some(Location::Postgres(url)) => Some(url.clone()),
                _ => None,
            },
            guest_profile: self.guest_profile,
        };
        let progress = data.progress(Some(parts(&options) as u64), "bench");
        let report = run(&options, &|part| progress.step(part))?;
        drop(progress);
        print!("{report}");
        if let Some(path) = self.out {
            std::fs::write(&path, &report)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}
