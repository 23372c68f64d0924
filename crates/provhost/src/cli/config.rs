//! `provhost config check`: reads and validates the configuration file in force, as every command
//! does before it runs, and says what it configures.

use std::process::ExitCode;

use clap::Subcommand;

use super::DataDir;
use crate::backend::BackendConfig;

/// `provhost config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (`--config FILE` or `PROVHOST_CONFIG`) and list its tenants:
    /// a mistake is one line naming the file, the line and the field, and exit status 1.
    /// Components are not loaded here; `provhost serve` loads every one and refuses to start on
    /// one that does not load or match its pin.
    Check,
}

impl ConfigCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let ConfigCommand::Check = self;
        let Some(file) = data.config_file() else {
            anyhow::bail!("no configuration to check: pass --config FILE or set PROVHOST_CONFIG");
        };
        let config = &data.config;
        println!("{}: valid, {} tenant(s)", file.display(), config.tenants.len());
        for (id, tenant) in &config.tenants {
            let backend = match &tenant.backend {
                BackendConfig::Embedded {} => "embedded",
                BackendConfig::HelloId(_) => "helloid",
                BackendConfig::IdentityIq(_) => "identityiq",
            };
            let plugins: Vec<&str> = tenant.plugins.keys().map(String::as_str).collect();
            println!(
                "  {id}: backend {backend}; plugins: {}; {} threshold(s), {} window(s), {} webhook(s)",
                if plugins.is_empty() { "none".to_string() } else { plugins.join(", ") },
                tenant.thresholds.len(),
                tenant.windows.len(),
                tenant.webhooks.len(),
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
