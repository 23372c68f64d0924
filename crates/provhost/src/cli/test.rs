//! `provhost test <plugin> <cases-dir> [--update]`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::DataDir;
use crate::case_runner::run_cases;
use crate::runtime::Runtime;

/// Arguments of `provhost test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin component (.wasm); its manifest beside it applies.
    plugin: PathBuf,
    /// The cases folder: one folder per case with event.json and expected.json.
    cases: PathBuf,
    /// Rewrite each expected.json with what happened.
    #[arg(long)]
    update: bool,
}

impl TestArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let runtime = Runtime::new(data.cache_dir())?;
        let results = run_cases(&runtime, &self.plugin, &self.cases, self.update)?;
        let mut failed = 0;
        for r in &results {
            match (&r.diff, r.updated) {
                (_, true) => println!("updated {}", r.name),
                (None, false) => println!("ok      {}", r.name),
                (Some(diff), false) => {
                    failed += 1;
                    println!("FAILED  {}\n{diff}", r.name);
                }
            }
        }
        println!("{} passed, {failed} failed", results.len() - failed);
        Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(super::EXIT_ERROR) })
    }
}
