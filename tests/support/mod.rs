//! Helpers for the integration tests: build the wasm plugins once, run the `provhost` binary on
//! a fresh data directory, and read its JSON.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_owned()
}

/// Jan Jansen, the demo person the example event is about.
pub const JAN: &str = "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01";

/// Builds the plugins workspace for wasm32-wasip2 (a no-op when up to date) and returns the path
/// of the named plugin's component.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let plugins = repo().join("plugins");
    BUILT.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&plugins)
            .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2", "--target-dir"])
            .arg(plugins.join("target"))
            .status()
            .expect("running cargo to build the plugins");
        assert!(status.success(), "building the plugins failed; is the wasm32-wasip2 target installed?");
    });
    let path = plugins.join("target/wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A data directory with the demo tenant, removed when dropped.
pub struct Demo {
    pub dir: tempfile::TempDir,
}

impl Demo {
    /// Creates a data directory and runs `provhost init` in it.
    pub fn new() -> Self {
        let demo = Demo { dir: tempfile::tempdir().expect("temporary directory") };
        let out = demo.provhost(&["init"]);
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        demo
    }

    /// Runs `provhost --data-dir <dir> <args>`.
    pub fn provhost(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_provhost"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(args)
            .env_remove("PROVHOST_DATA_DIR")
            .output()
            .expect("running provhost")
    }

    /// Runs a plugin on an event file with extra flags; returns the output.
    pub fn run(&self, plugin_name: &str, event: &Path, extra: &[&str]) -> Output {
        let plugin = plugin(plugin_name);
        let mut args = vec!["run", "--plugin", plugin.to_str().unwrap(), "--event", event.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.provhost(&args)
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
