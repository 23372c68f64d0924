//! The plugin contract and the Rust SDK, embedded in the binary so that a plugin author needs
//! nothing but `provhost`: `plugin wit` writes the WIT package, `plugin sdk` writes the
//! `provhost-sdk` crate, and `plugin new` writes whichever its language needs.

use std::path::Path;

use anyhow::Context;

/// The WIT package `provhost:plugin@0.2.0`, the current contract, file by file, from `wit/0.2.0`
/// (its source of truth).
pub const WIT: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../../../../wit/0.2.0/world.wit")),
    ("types.wit", include_str!("../../../../../wit/0.2.0/types.wit")),
    ("events.wit", include_str!("../../../../../wit/0.2.0/events.wit")),
    ("actions.wit", include_str!("../../../../../wit/0.2.0/actions.wit")),
    ("queries.wit", include_str!("../../../../../wit/0.2.0/queries.wit")),
    ("log.wit", include_str!("../../../../../wit/0.2.0/log.wit")),
    ("handler.wit", include_str!("../../../../../wit/0.2.0/handler.wit")),
    ("settings.wit", include_str!("../../../../../wit/0.2.0/settings.wit")),
];

/// The frozen WIT package `provhost:plugin@0.1.0`, from `wit/0.1.0`: the SDK carries it for its
/// feature `contract-0-1`.
const WIT_0_1: &[(&str, &str)] = &[
    ("world.wit", include_str!("../../../../../wit/0.1.0/world.wit")),
    ("types.wit", include_str!("../../../../../wit/0.1.0/types.wit")),
    ("events.wit", include_str!("../../../../../wit/0.1.0/events.wit")),
    ("actions.wit", include_str!("../../../../../wit/0.1.0/actions.wit")),
    ("queries.wit", include_str!("../../../../../wit/0.1.0/queries.wit")),
    ("log.wit", include_str!("../../../../../wit/0.1.0/log.wit")),
    ("handler.wit", include_str!("../../../../../wit/0.1.0/handler.wit")),
];

/// The `provhost-sdk` crate without its `wit/` and `wit-0.1.0/` (which are [`WIT`] and
/// [`WIT_0_1`]), as it is packaged.
const SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../../../plugin-sdk/Cargo.toml")),
    ("README.md", include_str!("../../../../../plugin-sdk/README.md")),
    ("src/lib.rs", include_str!("../../../../../plugin-sdk/src/lib.rs")),
    ("src/actions.rs", include_str!("../../../../../plugin-sdk/src/actions.rs")),
    ("src/ids.rs", include_str!("../../../../../plugin-sdk/src/ids.rs")),
    ("src/log.rs", include_str!("../../../../../plugin-sdk/src/log.rs")),
    ("src/queries.rs", include_str!("../../../../../plugin-sdk/src/queries.rs")),
    ("src/settings.rs", include_str!("../../../../../plugin-sdk/src/settings.rs")),
];

/// Writes the current WIT package into `dir` (created if needed); returns the files written.
pub fn write_wit(dir: &Path) -> anyhow::Result<Vec<String>> {
    write_files(dir, WIT)
}

fn write_files(dir: &Path, files: &[(&str, &str)]) -> anyhow::Result<Vec<String>> {
    files.iter().map(|(file, text)| write_file(dir, file, text)).collect()
}

/// Writes the `provhost-sdk` crate, with its WIT, into `dir` (created if needed); returns the
/// files written.
pub fn write_sdk(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut written = write_files(dir, SDK)?;
    written.extend(write_wit(&dir.join("wit"))?);
    written.extend(write_files(&dir.join("wit-0.1.0"), WIT_0_1)?);
    Ok(written)
}

/// Writes `text` to `dir/relative`, creating its folder; returns the path written.
pub fn write_file(dir: &Path, relative: &str, text: &str) -> anyhow::Result<String> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    if relative.ends_with(".sh") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot make {} executable", path.display()))?;
    }
    Ok(path.display().to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    /// Every file under `dir` (recursively), relative to `root`, skipping what `keep` refuses.
    fn files(root: &Path, dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(root, &path, keep, out);
            } else if keep(&path) {
                out.insert(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn the_embedded_sdk_is_the_whole_packaged_crate() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugin-sdk");
        let mut on_disk = BTreeSet::new();
        let packaged = |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("rs" | "wit" | "toml" | "md"));
        files(&root, &root, &packaged, &mut on_disk);
        let embedded: BTreeSet<String> = SDK
            .iter()
            .map(|(file, _)| file.to_string())
            .chain(WIT.iter().map(|(file, _)| format!("wit/{file}")))
            .chain(WIT_0_1.iter().map(|(file, _)| format!("wit-0.1.0/{file}")))
            .collect();
        assert_eq!(embedded, on_disk, "list every file of plugin-sdk in SDK or WIT of contract.rs");
    }

    #[test]
    fn the_embedded_wit_is_the_whole_contract() {
        for (version, list) in [("0.2.0", WIT), ("0.1.0", WIT_0_1)] {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../wit").join(version);
            let mut on_disk = BTreeSet::new();
            files(&root, &root, &|_| true, &mut on_disk);
            let embedded: BTreeSet<String> = list.iter().map(|(file, _)| file.to_string()).collect();
            assert_eq!(embedded, on_disk, "list every file of wit/{version} in contract.rs");
        }
    }

    #[test]
    fn the_sdk_is_written_whole_and_stands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_sdk(dir.path()).unwrap();
        assert_eq!(written.len(), SDK.len() + WIT.len() + WIT_0_1.len());
        let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
        assert!(!manifest.contains(".workspace") && !manifest.contains("workspace = true"), "{manifest}");
        let lib = std::fs::read_to_string(dir.path().join("src/lib.rs")).unwrap();
        assert!(lib.contains("contract_bindings!(\"wit\")"), "the SDK reads its own wit/");
        assert_eq!(std::fs::read_to_string(dir.path().join("wit/world.wit")).unwrap(), WIT[0].1);
    }
}
