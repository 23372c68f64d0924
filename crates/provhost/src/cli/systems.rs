//! `provhost systems list|fail|restore`: the embedded backend's target systems, and switching a
//! simulated system to failing (to see errors and retries) and back.

use std::process::ExitCode;

use clap::Subcommand;

use super::{DataDir, print_json};
use crate::store::DEMO_TENANT;

/// `provhost systems …`
#[derive(Debug, Subcommand)]
pub enum SystemsCommand {
    /// List the tenant's target systems, as JSON.
    List {
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
    /// Make every action executed against a system end in error with a message.
    Fail {
        /// The system's id.
        system: String,
        /// The error the system answers with.
        #[arg(long, default_value = "target system unavailable")]
        message: String,
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
    /// Let actions against a system succeed again.
    Restore {
        /// The system's id.
        system: String,
        /// The tenant.
        #[arg(long, default_value = DEMO_TENANT)]
        tenant: String,
    },
}

impl SystemsCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            SystemsCommand::List { tenant } => print_json(&data.open_tenant(&tenant)?.systems(&tenant)?)?,
            SystemsCommand::Fail { system, message, tenant } => {
                data.open_tenant(&tenant)?.set_system_failure(&tenant, &system, Some(&message))?;
                println!("provhost: actions against '{system}' now fail with: {message}");
            }
            SystemsCommand::Restore { system, tenant } => {
                data.open_tenant(&tenant)?.set_system_failure(&tenant, &system, None)?;
                println!("provhost: actions against '{system}' succeed again");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
