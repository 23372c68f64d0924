//! `provhost store migrate|copy`: bring a store's schema up to this build, or copy an embedded
//! store into a PostgreSQL database that several hosts will share.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::{DataDir, print_json};
use crate::store::{Location, sqlite_to_postgres};

/// `provhost store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Bring the store in force (`--store`, `[store] url`, or the data directory's file) up to
    /// this provhost's schema; hosts that start together take turns.
    Migrate,
    /// Copy an embedded SQLite store into an empty PostgreSQL database, once, keeping every audit
    /// chain verifiable; stop every provhost using the file first. Prints what was copied and
    /// each chain as verified in the copy.
    Copy {
        /// The SQLite file (default: the data directory's `provhost.db`).
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
        /// The PostgreSQL database, `postgres://user:password@host:port/database`.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

impl StoreCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            StoreCommand::Migrate => {
                let location = data.store_location();
                location.open().with_context(|| format!("migrating the store at {location}"))?;
                println!("provhost: the store at {location} is at this provhost's schema");
            }
            StoreCommand::Copy { from, to } => {
                let Location::Postgres(url) = Location::parse(&to) else {
                    anyhow::bail!("--to {to} is not a PostgreSQL URL (postgres://user:password@host/database)");
                };
                let from = from.unwrap_or_else(|| data.root().join("provhost.db"));
                let shown = Location::Postgres(url.clone());
                let copied = sqlite_to_postgres(&from, &url)
                    .with_context(|| format!("copying {} into {shown}", from.display()))?;
                print_json(&copied)?;
                if let Some(broken) = copied.chains.iter().find(|c| c.broken.is_some()) {
                    anyhow::bail!("tenant '{}''s audit chain does not verify in the copy", broken.tenant);
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
