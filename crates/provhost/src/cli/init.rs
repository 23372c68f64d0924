//! `provhost init`: create the data directory, the store, a tenant (the demo tenant by default)
//! and an API key with every scope for it, written to `<data-dir>/keys/<tenant>.key`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::DataDir;
use crate::policy::Grants;
use crate::store::{DEMO_TENANT, IssuedKey, seed_demo, seed_demo_as};

/// Arguments of `provhost init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The tenant to create.
    #[arg(long, default_value = DEMO_TENANT)]
    tenant: String,
    /// Create the tenant without the demo persons and systems.
    #[arg(long)]
    empty: bool,
    /// Give a tenant other than the demo the demo's persons, systems and history (e.g. to try
    /// isolation or fair share between two tenants).
    #[arg(long, conflicts_with = "empty")]
    demo_data: bool,
}

impl InitArgs {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let store = data.create_store()?;
        if store.tenant_exists(&self.tenant)? {
            println!("provhost: tenant '{}' already exists in {}; nothing to do", self.tenant, data.root().display());
            return Ok(ExitCode::SUCCESS);
        }
        if self.tenant == DEMO_TENANT && !self.empty {
            seed_demo(&*store)?;
        } else if self.demo_data {
            seed_demo_as(&*store, &self.tenant, &self.tenant)?;
        } else {
            store.insert_tenant(&self.tenant, &self.tenant)?;
        }
        let IssuedKey { record: key, secret } =
            store.create_key(&self.tenant, &Grants::everything(), "created by provhost init", None)?;
        let keys = data.root().join("keys");
        std::fs::create_dir_all(&keys).with_context(|| format!("cannot create {}", keys.display()))?;
        let path = keys.join(format!("{}.key", self.tenant));
        write_private(&path, &format!("{}:{secret}\n", key.id))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "provhost: created tenant '{}' with {} persons in {} target systems in {}",
            self.tenant,
            store.persons(&self.tenant)?.len(),
            store.systems(&self.tenant)?.len(),
            data.root().display()
        );
        println!("provhost: an API key with every scope is in {} (use it with --api-key)", path.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
