//! The `provhost` command line: one file per subcommand, each a clap struct with a `run`.

mod actions;
mod audit;
mod bench;
mod config;
mod docs;
mod init;
mod keys;
mod logs;
mod persons;
mod plugin;
mod progress;
mod replay;
mod run;
mod serve;
mod store;
mod systems;
mod test;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::auth::Credentials;
use crate::config::Config;
use crate::policy::Scope;
use crate::store::{KeyRecord, Location, Store};
use crate::tenant::Tenant;

/// provhost — run identity-provisioning plugins in a sandbox, with governance and audit.
#[derive(Debug, Parser)]
#[command(name = "provhost", version, about)]
pub struct Cli {
    /// Where the embedded store and the compile cache live.
    #[arg(long, global = true, env = "PROVHOST_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// The store: a PostgreSQL database several hosts share (`postgres://user:password@host/db`)
    /// or a SQLite file (default: `[store] url`, else `<data-dir>/provhost.db`).
    #[arg(long, global = true, env = "PROVHOST_STORE", value_name = "URL|FILE", hide_env_values = true)]
    store: Option<String>,

    /// Where compiled plugins are cached (default: `<data-dir>/cache`).
    #[arg(long, global = true, env = "PROVHOST_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// The tenant configuration (plugins, thresholds, windows, exclusions).
    #[arg(long, global = true, env = "PROVHOST_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// The log's shape on standard error: JSON lines, text, or text on a terminal and JSON
    /// otherwise. The level: `PROVHOST_LOG` or `RUST_LOG` (e.g. `info`); without them `info` for
    /// `serve` (a line per request and per invocation), `warn` for every other command.
    #[arg(long, global = true, env = "PROVHOST_LOG_FORMAT", value_enum, default_value = "auto")]
    log_format: logs::LogFormat,

    /// No progress bars, even on a terminal (they never show when standard error is not one).
    #[arg(long, short, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the data directory and the demo tenant.
    Init(init::InitArgs),
    /// Run one event through a plugin and commit what it plans.
    Run(run::RunArgs),
    /// Replay a new version of a plugin over the tenant's kept events, a dry run, and compare.
    Replay(replay::ReplayArgs),
    /// Measure provhost: CLI runs, per-event cost against a native baseline, the server under load, memory.
    Bench(bench::BenchArgs),
    /// Check a component; create a plugin skeleton; write the plugin contract or the Rust SDK.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Validate the configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run a plugin against a folder of cases and compare with the expected outcomes.
    Test(test::TestArgs),
    /// Serve the HTTP API.
    Serve(serve::ServeArgs),
    /// Deliver the queued webhook notifications that are due, once.
    #[command(name = "deliver-webhooks")]
    DeliverWebhooks,
    /// Read persons of a tenant.
    #[command(subcommand)]
    Persons(persons::PersonsCommand),
    /// Read entitlement actions of a tenant.
    #[command(subcommand)]
    Actions(actions::ActionsCommand),
    /// Read, export and verify the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Create, list and revoke API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Read target systems; make a simulated one fail or recover.
    #[command(subcommand)]
    Systems(systems::SystemsCommand),
    /// Migrate the store's schema; copy an embedded store into PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff): `provhost man > provhost.1`.
    Man,
    /// Print the OpenAPI document `provhost serve` serves at `/openapi.json`.
    Openapi,
}

/// Exit status when the command failed before or outside a plugin (bad input, missing store).
const EXIT_ERROR: u8 = 1;
/// Exit status when the plugin ran but its plan was not committed.
pub const EXIT_NOT_COMMITTED: u8 = 3;

/// Parses the command line, runs it, and turns an error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` logs a line per request and per invocation by default; other commands only warnings.
    let level = if matches!(cli.command, Command::Serve(_)) { "provhost=info,warn" } else { "warn" };
    logs::install(cli.log_format, level);
    match cli.run() {
        Ok(code) => code,
        Err(error) => {
            let chain: Vec<String> = error.chain().map(|e| e.to_string()).collect();
            let _ = writeln!(std::io::stderr(), "provhost: {}", chain.join(": "));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

impl Cli {
    fn run(self) -> anyhow::Result<ExitCode> {
        // These need no data directory or configuration.
        let command = match self.command {
            Command::Completions(args) => return args.run(),
            Command::Man => return docs::man(),
            Command::Openapi => return docs::openapi(),
            command => command,
        };
        let config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let mut data = DataDir::resolve(self.data_dir, config)?;
        data.cache = self.cache_dir;
        data.store = self.store.or_else(|| data.config.store.url.clone()).map(|s| Location::parse(&s));
        data.quiet = self.quiet;
        match command {
            Command::Init(args) => args.run(&data),
            Command::Run(args) => args.run(&data),
            Command::Replay(args) => args.run(&data),
            Command::Serve(args) => args.run(&data),
            Command::Test(args) => args.run(&data),
            Command::Plugin(cmd) => cmd.run(&data),
            Command::Config(cmd) => cmd.run(&data),
            Command::Bench(args) => args.run(&data),
            Command::DeliverWebhooks => serve::deliver_once(&data),
            Command::Persons(cmd) => cmd.run(&data),
            Command::Actions(cmd) => cmd.run(&data),
            Command::Systems(cmd) => cmd.run(&data),
            Command::Keys(cmd) => cmd.run(&data),
            Command::Audit(cmd) => cmd.run(&data),
            Command::Store(cmd) => cmd.run(&data),
            Command::Completions(_) | Command::Man | Command::Openapi => {
                unreachable!("answered before the data directory")
            }
        }
    }
}

/// The data directory — `provhost.db` (the embedded store, unless another is named), `cache/`
/// (compiled plugins), `keys/` (keys `init` created) — the store, and the tenant configuration in
/// force.
pub struct DataDir {
    root: PathBuf,
    config: Config,
    cache: Option<PathBuf>,
    /// The store named by `--store`, `PROVHOST_STORE` or `[store] url`; `None`: the data
    /// directory's file.
    store: Option<Location>,
    /// No progress bars even on a terminal.
    quiet: bool,
}

impl DataDir {
    /// `--data-dir`/`PROVHOST_DATA_DIR`, else `$XDG_DATA_HOME/provhost`, else
    /// `~/.local/share/provhost`.
    fn resolve(flag: Option<PathBuf>, config: Config) -> anyhow::Result<Self> {
        let root = match flag {
            Some(dir) => dir,
            None => match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
                (Some(xdg), _) if !xdg.is_empty() => PathBuf::from(xdg).join("provhost"),
                (_, Some(home)) => PathBuf::from(home).join(".local/share/provhost"),
                _ => anyhow::bail!("no data directory: pass --data-dir or set PROVHOST_DATA_DIR"),
            },
        };
        Ok(Self { root, config, cache: None, store: None, quiet: false })
    }

    /// The store in force.
    fn store_location(&self) -> Location {
        self.store.clone().unwrap_or_else(|| Location::File(self.root.join("provhost.db")))
    }

    /// Progress through `total` steps of `what`, on a terminal unless `--quiet`.
    fn progress(&self, total: Option<u64>, what: &str) -> progress::Progress {
        progress::Progress::new(total, what, self.quiet)
    }

    /// Where compiled components are cached.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(|| self.root.join("cache"))
    }

    /// The configuration file in force, if one was given.
    fn config_file(&self) -> Option<&Path> {
        self.config.source.as_deref()
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens the store, creating the directory and the file if needed.
    fn create_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("cannot create the data directory {}", self.root.display()))?;
        Ok(self.store_location().open()?)
    }

    /// Opens an existing store, or says how to create it.
    fn open_store(&self) -> anyhow::Result<Arc<dyn Store>> {
        let location = self.store_location();
        if !location.exists() {
            anyhow::bail!(
                "no provhost store at {location}; run `provhost init --data-dir {}` first",
                self.root.display()
            );
        }
        Ok(location.open()?)
    }

    /// `key`'s tenant wired as the configuration describes it (fails closed: a tenant the
    /// configuration file does not name is refused).
    fn tenant(&self, store: &Arc<dyn Store>, key: &KeyRecord) -> anyhow::Result<Tenant> {
        Tenant::configured(&key.tenant, &self.config.tenant(&key.tenant)?, store)
    }

    /// Opens an existing store whose tenant exists.
    fn open_tenant(&self, tenant: &str) -> anyhow::Result<Arc<dyn Store>> {
        let store = self.open_store()?;
        if !store.tenant_exists(tenant)? {
            anyhow::bail!("tenant '{tenant}' does not exist in {}", self.store_location());
        }
        Ok(store)
    }
}

/// An API key given on the command line or in `PROVHOST_API_KEY`.
#[derive(Debug, clap::Args)]
struct ApiKeyArg {
    /// The API key, KEY_ID:SECRET.
    #[arg(long = "api-key", env = "PROVHOST_API_KEY", hide_env_values = true, value_name = "KEY_ID:SECRET")]
    api_key: Credentials,
}

impl ApiKeyArg {
    /// Verifies the key and that it is granted `scope`; the key decides the tenant.
    fn authenticate(&self, store: &dyn Store, scope: Scope) -> anyhow::Result<KeyRecord> {
        let key = store.verify_key(&self.api_key)?;
        if !key.scopes.allows(scope, None) {
            anyhow::bail!("API key '{}' is not granted {scope}", key.id);
        }
        Ok(key)
    }
}

/// Prints a value as pretty JSON on stdout.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
