//! `provhost completions SHELL`, `provhost man` and `provhost openapi`: shell completions and the
//! man page, generated from the command-line definitions, and the OpenAPI document, generated
//! from the route table, so none drifts from what it describes.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use super::Cli;

/// Arguments of `provhost completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

impl CompletionsArgs {
    /// Writes the completion script for the shell on standard output.
    pub(super) fn run(self) -> anyhow::Result<ExitCode> {
        let mut script = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "provhost", &mut script);
        std::io::stdout().lock().write_all(&script)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes the man page (roff) on standard output: `provhost man > provhost.1`.
pub(super) fn man() -> anyhow::Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    std::io::stdout().lock().write_all(&page)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the OpenAPI document the server serves on standard output: `provhost openapi > openapi.json`.
pub(super) fn openapi() -> anyhow::Result<ExitCode> {
    writeln!(std::io::stdout().lock(), "{}", crate::server::openapi())?;
    Ok(ExitCode::SUCCESS)
}
