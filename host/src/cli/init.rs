//! `provhost init`: create the data directory, the store and the demo tenant.

use std::process::ExitCode;

use clap::Args;

use super::DataDir;
use crate::store::{DEMO_TENANT, seed_demo};

/// Arguments of `provhost init`.
#[derive(Debug, Args)]
pub struct InitArgs {}

impl InitArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let store = data.create_store()?;
        if store.tenant_exists(DEMO_TENANT)? {
            println!("provhost: demo tenant already exists in {}; nothing to do", data.root().display());
        } else {
            seed_demo(&store)?;
            let persons = store.persons(DEMO_TENANT)?.len();
            let systems = store.systems(DEMO_TENANT)?.len();
            println!(
                "provhost: created tenant '{DEMO_TENANT}' with {persons} persons in {systems} target systems in {}",
                data.root().display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
