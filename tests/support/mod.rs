//! Helpers for the integration tests: build the wasm plugins once, run the `provhost` binary on
//! a fresh data directory, and read its JSON.

#![allow(dead_code)]

pub mod console;
pub mod flaky;
pub mod helloid;
pub mod hoard;
pub mod scim;
pub mod server;
pub mod webdriver;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

/// A URL of a new, empty database on the PostgreSQL server `PROVHOST_TEST_POSTGRES` names
/// (`scripts/test.sh` starts one and sets it), or `None`, said loudly, when it names none.
pub fn fresh_postgres_database() -> Option<String> {
    let Ok(server) = std::env::var("PROVHOST_TEST_POSTGRES") else {
        eprintln!(
            "SKIPPED: PROVHOST_TEST_POSTGRES is not set, so this PostgreSQL test did not run; scripts/test.sh \
             starts a throwaway server and sets it"
        );
        return None;
    };
    static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("provhost_e2e_{}_{nanos}_{made}", std::process::id());
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).expect("reaching the test PostgreSQL");
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let at = server.rfind('/').expect("the test server's URL names a database");
    Some(format!("{}/{name}", &server[..at]))
}

/// Instantiates each named case, a function taking a fresh [`Demo`], as a test on the embedded
/// store (`on_sqlite::case`) and on a fresh PostgreSQL database (`on_postgres::case`, skipped,
/// loudly, when `PROVHOST_TEST_POSTGRES` names no server): one body, two stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case(super::support::Demo::new());
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                fn $case() {
                    if let Some(demo) = super::support::Demo::on_postgres() {
                        super::$case(demo);
                    }
                }
            )*
        }
    };
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Jan Jansen, the demo person the example event is about.
/// The demo tenant's event rate raised out of the way, for a suite that sends hundreds of changes
/// a second to test something else (the rate itself is tested with the admission). Configuration
/// TOML, to go before the suite's own.
pub const DEMO_UNRATED: &str = "[tenants.demo.share]\nevents-per-second = 1000000\n\n";

pub const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

/// Builds the plugins (a no-op when up to date) and returns the path of the named Rust plugin's
/// component; `python/NAME` and `js/NAME` name the other languages' builds.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let plugins = repo().join("plugins");
    BUILT.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo().join("scripts/build-plugins.sh"))
            .status()
            .expect("running scripts/build-plugins.sh");
        assert!(status.success(), "building the plugins failed (scripts/build-plugins.sh)");
    });
    let file = |n: &str| format!("{}.wasm", n.replace('-', "_"));
    let path = match name.split_once('/') {
        Some((language, n)) => plugins.join("target").join(language).join(file(n)),
        None => plugins.join("target/wasm32-wasip2/release").join(file(name)),
    };
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A data directory with the demo tenant and its all-scopes API key, removed when dropped.
pub struct Demo {
    pub dir: tempfile::TempDir,
    /// The demo tenant's API key, `KEY_ID:SECRET`.
    pub key: String,
    config: Option<PathBuf>,
    /// The store every command names with `--store`; `None`: the data directory's file.
    store: Option<String>,
}

impl Demo {
    /// Creates a data directory and runs `provhost init` in it.
    pub fn new() -> Self {
        Self::on(None)
    }

    /// A demo whose store is a new database on the test PostgreSQL server, or `None` (said
    /// loudly) when `PROVHOST_TEST_POSTGRES` names none.
    pub fn on_postgres() -> Option<Self> {
        Some(Self::on(Some(fresh_postgres_database()?)))
    }

    /// A demo whose store is the database at `url`, initialised by `provhost init`.
    pub fn on_store(url: &str) -> Self {
        Self::on(Some(url.to_owned()))
    }

    fn on(store: Option<String>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut demo = Demo { dir, key: String::new(), config: None, store };
        let out = demo.provhost(&["init"]);
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        demo.key = std::fs::read_to_string(demo.dir.path().join("keys/demo.key")).unwrap().trim().to_owned();
        demo
    }

    /// Uses a tenant configuration (TOML text) for every later command.
    pub fn configure(&mut self, toml: &str) {
        let path = self.dir.path().join("provhost.toml");
        std::fs::write(&path, toml).unwrap();
        self.config = Some(path);
    }

    /// The configuration file in use, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// The store every command names with `--store`, if not the data directory's file.
    pub fn store(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The command `provhost --data-dir <dir> [--config <file>] <args>`, to run as it is or with more set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provhost"));
        command.arg("--data-dir").arg(self.dir.path());
        if let Some(config) = &self.config {
            command.arg("--config").arg(config);
        }
        if let Some(store) = &self.store {
            command.arg("--store").arg(store);
        }
        command
            .args(args)
            .env_remove("PROVHOST_STORE")
            .env_remove("PROVHOST_DATA_DIR")
            .env_remove("PROVHOST_CONFIG")
            .env_remove("PROVHOST_API_KEY");
        command
    }

    /// Runs `provhost --data-dir <dir> [--config <file>] <args>`.
    pub fn provhost(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running provhost")
    }

    /// Runs `provhost` like [`Demo::provhost`] and samples the process's peak resident memory
    /// (`VmHWM` in `/proc/<pid>/status`) until it exits; the output and the peak in bytes.
    pub fn provhost_measured(&self, args: &[&str]) -> (Output, u64) {
        let mut child =
            self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("running provhost");
        let read_all = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                pipe.read_to_end(&mut bytes).expect("reading provhost's output");
                bytes
            })
        };
        let stdout = read_all(Box::new(child.stdout.take().unwrap()));
        let stderr = read_all(Box::new(child.stderr.take().unwrap()));
        let mut peak = 0;
        let status = loop {
            peak = peak.max(peak_rss(child.id()).unwrap_or(0));
            if let Some(status) = child.try_wait().expect("waiting for provhost") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let output = Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() };
        (output, peak)
    }

    /// Runs a plugin (a built component by name) on an event file with the demo key and extra
    /// flags; returns the output.
    pub fn run(&self, plugin_name: &str, event: &Path, extra: &[&str]) -> Output {
        let plugin = plugin(plugin_name);
        self.run_as(&self.key, plugin.to_str().unwrap(), event, extra)
    }

    /// Runs `provhost run` with a given key and plugin (a configured name or a file).
    pub fn run_as(&self, key: &str, plugin: &str, event: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["run", "--api-key", key, "--plugin", plugin, "--event", event.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.provhost(&args)
    }

    /// Creates an API key for the demo tenant with the given scopes; returns `KEY_ID:SECRET`.
    pub fn key_with(&self, scopes: &[&str]) -> String {
        let mut args = vec!["keys", "create", "--tenant", "demo"];
        for scope in scopes {
            args.extend(["--scope", scope]);
        }
        let out = self.provhost(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        let id = text.lines().find_map(|l| l.strip_prefix("key:")).unwrap().trim().to_owned();
        let secret = text.lines().find_map(|l| l.strip_prefix("secret:")).unwrap().trim().to_owned();
        format!("{id}:{secret}")
    }

    /// Every entitlement action of the tenant, as JSON.
    pub fn actions(&self) -> Vec<Value> {
        let out = self.provhost(&["actions", "list", "--json", "--limit", "10000"]);
        assert!(out.status.success(), "{}", stderr(&out));
        match json(&out) {
            Value::Array(items) => items,
            other => panic!("expected a list, got {other}"),
        }
    }

    /// Writes an event document into the data directory and returns its path.
    pub fn event(&self, name: &str, body: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec_pretty(body).unwrap()).unwrap();
        path
    }
}

/// The example event: Jan's mail and proxyAddresses changed in Active Directory.
pub fn mail_changed() -> PathBuf {
    repo().join("examples/events/mail-changed.json")
}

/// The peak resident memory of process `pid` so far, in bytes (`VmHWM`), while it runs.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib << 10)
}

/// The bytes the store takes on disk: its log is checkpointed into the database first (as far as
/// readers allow), so that what was written is counted once.
pub fn store_bytes(demo: &Demo) -> u64 {
    let db = demo.dir.path().join("provhost.db");
    let connection = rusqlite::Connection::open(&db).expect("opening the store");
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).expect("checkpointing the store");
    drop(connection);
    ["provhost.db", "provhost.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(demo.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Standard output parsed as JSON.
pub fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("stdout is not JSON ({e}): {}\nstderr: {}", String::from_utf8_lossy(&out.stdout), stderr(out))
    })
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Serves `app` on 127.0.0.1 with an ephemeral port from a thread of its own; returns its base
/// URL (`http://127.0.0.1:PORT`) and the sender whose drop stops it.
pub fn serve_loopback(app: axum::Router) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    (base, stop)
}
