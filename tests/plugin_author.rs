//! A plugin author outside this repository: the SDK crate stands alone and packages, the WIT it
//! carries is the contract, and `provhost plugin new` makes a plugin in each language that builds
//! in an empty folder outside the checkout with nothing from it but the `provhost` binary, and
//! passes its own `provhost test`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{repo, stderr};

/// Runs the `provhost` binary in `dir` with no configuration or data directory from the environment.
fn provhost_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_provhost"))
        .current_dir(dir)
        .args(args)
        .env_remove("PROVHOST_CONFIG")
        .env_remove("PROVHOST_DATA_DIR")
        .output()
        .unwrap()
}

/// The files of a folder, by name, with their bytes.
fn folder(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn names(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(name, _)| name.as_str()).collect()
}

#[test]
fn the_sdk_carries_the_contract_unchanged() {
    for (version, copy) in [("0.2.0", "wit"), ("0.1.0", "wit-0.1.0")] {
        let contract = folder(&repo().join("wit").join(version));
        let carried = folder(&repo().join("plugin-sdk").join(copy));
        assert_eq!(names(&carried), names(&contract), "plugin-sdk/{copy} holds the files of wit/{version}");
        for ((name, a), (_, b)) in contract.iter().zip(&carried) {
            assert!(
                a == b,
                "plugin-sdk/{copy}/{name} differs from wit/{version}/{name}: copy wit/{version}/*.wit to plugin-sdk/{copy}/"
            );
        }
    }
}

#[test]
fn the_sdk_packages_as_a_crate_of_its_own() {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo())
        // Offline: what the plugin build put in the registry cache is all it needs.
        .args(["package", "--offline", "-p", "provhost-sdk", "--allow-dirty", "--target-dir"])
        .arg(repo().join("plugins/target/sdk-package"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo package -p provhost-sdk:\n{}", stderr(&out));
    assert!(stderr(&out).contains("Verifying provhost-sdk"), "{}", stderr(&out));
}

#[test]
fn plugin_wit_and_plugin_sdk_write_what_the_binary_carries() {
    let dir = tempfile::tempdir().unwrap();
    let wit = dir.path().join("wit");
    let out = provhost_in(dir.path(), &["plugin", "wit", "--out", "wit"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(folder(&wit), folder(&repo().join("wit/0.2.0")));

    let sdk = dir.path().join("sdk");
    let out = provhost_in(dir.path(), &["plugin", "sdk", "--out", "sdk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for part in ["src", "wit", "wit-0.1.0"] {
        assert_eq!(folder(&sdk.join(part)), folder(&repo().join("plugin-sdk").join(part)), "plugin-sdk/{part}");
    }
    assert_eq!(
        std::fs::read(sdk.join("Cargo.toml")).unwrap(),
        std::fs::read(repo().join("plugin-sdk/Cargo.toml")).unwrap()
    );
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(files_under(&path)) } else { out.push(path) }
    }
    out
}

/// `plugin new` in a temporary folder outside the checkout, its `build.sh`, then `provhost test`.
fn new_plugin_builds_and_passes(language: &str) {
    support::plugin("propagate-mail"); // scripts/build-plugins.sh installs what the builds take
    let dir = tempfile::tempdir().unwrap();
    assert!(!dir.path().starts_with(repo()), "the temporary folder is outside the checkout");
    let name = format!("new-{language}");
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = provhost_in(dir.path(), &["--data-dir", data, "plugin", "new", &name, "--lang", language]);
    assert!(out.status.success(), "{}", stderr(&out));
    let root = dir.path().join(&name);
    let checkout = repo().display().to_string();
    for file in files_under(&root) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains(&checkout), "{} names the checkout {checkout}", file.display());
    }

    // Offline, from what scripts/build-plugins.sh installed: the registry cache (Rust), the npm
    // packages (JavaScript) and componentize-py (Python). Nothing is fetched during the test.
    let mut build = Command::new("bash");
    build.arg("build.sh").current_dir(&root);
    match language {
        "rust" => {
            // A build cache only: the plugin's sources, its SDK and its WIT are all in `root`.
            build.env("CARGO_TARGET_DIR", repo().join("plugins/target/new-plugin")).env("CARGO_NET_OFFLINE", "true");
        }
        "js" => {
            let installed = repo().join("plugins/js");
            let wanted: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join("package.json")).unwrap()).unwrap();
            let have: serde_json::Value =
                serde_json::from_slice(&std::fs::read(installed.join("package.json")).unwrap()).unwrap();
            assert_eq!(
                wanted["dependencies"], have["dependencies"],
                "the new plugin takes the packages plugins/js installed"
            );
            std::os::unix::fs::symlink(installed.join("node_modules"), root.join("node_modules")).unwrap();
        }
        _ => {}
    }
    let build = build.output().unwrap();
    assert!(build.status.success(), "{language}: build.sh:\n{}", stderr(&build));

    let component = format!("dist/{}.wasm", name.replace('-', "_"));
    let out = provhost_in(&root, &["--data-dir", data, "test", &component, "cases"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{language}: provhost test:\n{report}{}", stderr(&out));
    assert!(report.ends_with("1 passed, 0 failed\n"), "{language}: {report}");
}

#[test]
fn a_new_rust_plugin_builds_and_passes_outside_the_checkout() {
    new_plugin_builds_and_passes("rust");
}

#[test]
fn a_new_python_plugin_builds_and_passes_outside_the_checkout() {
    new_plugin_builds_and_passes("python");
}

#[test]
fn a_new_javascript_plugin_builds_and_passes_outside_the_checkout() {
    new_plugin_builds_and_passes("js");
}
