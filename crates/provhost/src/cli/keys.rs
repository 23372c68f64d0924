//! `provhost keys create|list|revoke`: API keys (id and secret, HelloID style).

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use super::{DataDir, print_json};
use crate::model::rfc3339;
use crate::policy::Grants;
use crate::store::IssuedKey;

/// `provhost keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once and never stored.
    Create {
        /// The tenant the key belongs to; it reaches no other.
        #[arg(long)]
        tenant: String,
        /// A scope, optionally narrowed to a system (`accounts:update@exchange-online`); repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Expire the key after this long (`90days`, `12h`).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List keys (never their secrets), as JSON.
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key; it stops working at once.
    Revoke {
        /// The key's id.
        id: String,
    },
}

impl KeysCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        let store = data.open_store()?;
        match self {
            KeysCommand::Create { tenant, scopes, description, expires_in } => {
                let scopes = Grants::parse(&scopes).map_err(anyhow::Error::msg)?;
                let expires_at = expires_in.map(|d| {
                    rfc3339(
                        time::OffsetDateTime::now_utc() + time::Duration::try_from(d).unwrap_or(time::Duration::MAX),
                    )
                });
                let IssuedKey { record: key, secret } = store.create_key(&tenant, &scopes, &description, expires_at)?;
                println!("key:    {}", key.id);
                println!("secret: {secret}");
                println!(
                    "use:    --api-key {}:{secret}   (or PROVHOST_API_KEY); the secret is not shown again",
                    key.id
                );
            }
            KeysCommand::List { tenant } => print_json(&store.keys(tenant.as_deref())?)?,
            KeysCommand::Revoke { id } => {
                store.revoke_key(&id)?;
                println!("provhost: API key '{id}' revoked");
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
