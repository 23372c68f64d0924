//! The plugin manifest: a TOML file beside the component (`<component>.toml`) in which a plugin
//! declares its name, version, capabilities, triggers, settings with descriptions and defaults,
//! and limits. A tenant's configuration may narrow capabilities and set settings, but never
//! grant what the manifest does not declare, nor set a setting it does not know.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::{ConfigError, PluginConfig, Triggers, parse_toml};
use provhost_core::limits::{LimitSettings, Limits};
use provhost_core::policy::Grants;

/// One setting a plugin reads with `config(key)`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    /// What it does.
    pub description: String,
    /// Its value when the tenant sets none.
    #[serde(default)]
    pub default: Option<String>,
}

/// A plugin's manifest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's name (kebab-case).
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does, in a sentence.
    #[serde(default)]
    pub description: String,
    /// The capabilities it needs.
    pub capabilities: Grants,
    /// Which events run it.
    #[serde(default)]
    pub triggers: Triggers,
    /// The settings it reads.
    #[serde(default)]
    pub config: BTreeMap<String, Setting>,
    /// Limits for its invocations; each can only lower provhost's default, and unset ones keep it.
    #[serde(default)]
    pub limits: LimitSettings,
}

/// Where a component's manifest is: `<dir>/<stem>.toml`.
pub fn manifest_path(component: &Path) -> PathBuf {
    component.with_extension("toml")
}

/// A manifest with the sha256 (hex) of the very bytes it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestFile {
    /// The manifest.
    pub manifest: Manifest,
    /// The sha256 of the file's bytes, as read.
    pub sha256: String,
}

impl Manifest {
    /// The manifest beside a component, if there is one. The file is read once; its digest and
    /// the manifest both come from those bytes, so what is checked against a pin is what runs.
    pub fn beside(component: &Path) -> Result<Option<ManifestFile>, ConfigError> {
        let path = manifest_path(component);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
            path: path.clone(),
            at: "manifest".into(),
            message: format!("is not UTF-8 text: {e}"),
        })?;
        Ok(Some(ManifestFile { manifest: Self::parse(&path, &text)?, sha256 }))
    }

    /// Parses and checks a manifest; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ConfigError> {
        let manifest: Manifest = parse_toml(path, text)?;
        let invalid = |message: String| ConfigError::Invalid { path: path.into(), at: "manifest".into(), message };
        if manifest.name.is_empty()
            || !manifest.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(format!("`name` must be kebab-case (a-z, 0-9, -), not '{}'", manifest.name)));
        }
        if manifest.version.split('.').count() != 3 || !manifest.version.split('.').all(|p| p.parse::<u64>().is_ok()) {
            return Err(invalid(format!("`version` must be MAJOR.MINOR.PATCH, not '{}'", manifest.version)));
        }
        manifest.limits.validate().map_err(|m| invalid(format!("limits: {m}")))?;
        Ok(manifest)
    }
}

/// A `manifest-sha256` that is set must match the manifest beside the component (whose digest,
/// of the bytes it was parsed from, is `actual`), whether or not the component is pinned; and a
/// pinned component needs its manifest pinned too.
fn check_manifest_pin(component: &Path, installed: &PluginConfig, actual: Option<&str>) -> Result<(), String> {
    match (actual, &installed.manifest_sha256) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(format!("`manifest-sha256` is set, but there is no manifest at {}", manifest_path(component).display()))
        }
        (Some(actual), None) if installed.sha256.is_some() => Err(format!(
            "pins its component but not the manifest beside it, which declares what the plugin may do: add `manifest-sha256 = \"{actual}\"`"
        )),
        (Some(_), None) => Ok(()),
        (Some(actual), Some(pinned)) if !pinned.eq_ignore_ascii_case(actual) => Err(format!(
            "the manifest has sha256 {actual}, but the configuration pins {pinned}; the manifest was changed or the pin is stale: check it, then update `manifest-sha256`"
        )),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// A plugin as it runs for a tenant: the manifest and the tenant's configuration combined.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Its name.
    pub name: String,
    /// The component file.
    pub component: PathBuf,
    /// The pinned sha256, if any.
    pub sha256: Option<String>,
    /// What it may do (before the API key's scopes).
    pub capabilities: Grants,
    /// Which events run it.
    pub triggers: Triggers,
    /// Its settings: the manifest's defaults overlaid with the tenant's values.
    pub settings: BTreeMap<String, String>,
    /// Its limits.
    pub limits: Limits,
}

/// Combines a component's manifest (if any) with a tenant's configuration of it (if any), and
/// the operator's `[limits]` (see [`Limits::resolve`]). `name` is the plugin's name in the tenant's configuration, or
/// the file's for a bare component.
pub fn resolve(
    name: &str,
    component: &Path,
    installed: Option<&PluginConfig>,
    operator: &LimitSettings,
) -> Result<Resolved, ConfigError> {
    let file = Manifest::beside(component)?;
    let invalid = |message: String| ConfigError::Invalid {
        path: manifest_path(component),
        at: format!("plugin '{name}'"),
        message,
    };
    if let Some(installed) = installed {
        check_manifest_pin(component, installed, file.as_ref().map(|f| f.sha256.as_str())).map_err(invalid)?;
    }
    let manifest = file.map(|f| f.manifest);
    let capabilities =
        match (manifest.as_ref().map(|m| &m.capabilities), installed.and_then(|p| p.capabilities.as_ref())) {
            (Some(declared), Some(narrowed)) => declared.intersect(narrowed),
            (Some(declared), None) => declared.clone(),
            (None, Some(declared)) => declared.clone(),
            (None, None) if installed.is_some() => {
                return Err(invalid(
                    "declares no capabilities: put a manifest beside the component or set `capabilities`".into(),
                ));
            }
            (None, None) => Grants::everything(),
        };
    let mut settings: BTreeMap<String, String> = manifest
        .iter()
        .flat_map(|m| &m.config)
        .filter_map(|(key, s)| s.default.clone().map(|d| (key.clone(), d)))
        .collect();
    if let Some(installed) = installed {
        if let Some(m) = &manifest
            && let Some(unknown) = installed.config.keys().find(|k| !m.config.contains_key(*k))
        {
            let known: Vec<&str> = m.config.keys().map(String::as_str).collect();
            return Err(invalid(format!("has no setting `{unknown}`; its settings are: {}", known.join(", "))));
        }
        settings.extend(installed.config.clone());
    }
    Ok(Resolved {
        name: name.to_owned(),
        component: component.to_owned(),
        sha256: installed.and_then(|p| p.sha256.clone()),
        capabilities,
        triggers: installed
            .and_then(|p| p.triggers.clone())
            .or_else(|| manifest.as_ref().map(|m| m.triggers.clone()))
            .unwrap_or_default(),
        settings,
        limits: Limits::resolve(
            operator,
            &installed.map(|p| p.limits).unwrap_or_default(),
            &manifest.as_ref().map(|m| m.limits).unwrap_or_default(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use provhost_core::policy::Scope;

    const MANIFEST: &str = r#"
name = "propagate-mail"
version = "0.1.0"
description = "Propagates mail changes"
capabilities = ["persons:read", "accounts:update", "actions:retry"]
triggers = { events = ["attribute-changed"] }
limits = { timeout-ms = 2000 }

[config.systems]
description = "Downstream systems"

[config.source-system]
description = "Where the change happens"
default = "active-directory"
"#;

    fn component_with(manifest: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let component = dir.path().join("propagate_mail.wasm");
        std::fs::write(manifest_path(&component), manifest).unwrap();
        (dir, component)
    }

    fn installed(toml: &str) -> PluginConfig {
        toml::from_str(&format!("component = \"x.wasm\"\n{toml}")).unwrap()
    }

    #[test]
    fn the_tenant_narrows_capabilities_and_overlays_settings() {
        let (_dir, component) = component_with(MANIFEST);
        let tenant = installed(
            "capabilities = [\"accounts:update@exchange-online\", \"entitlements:unmanage\"]\nconfig = { systems = \"exchange-online\" }",
        );
        let r = resolve("pm", &component, Some(&tenant), &LimitSettings::default()).unwrap();
        assert!(r.capabilities.allows(Scope::AccountsUpdate, Some("exchange-online")));
        assert!(!r.capabilities.allows(Scope::AccountsUpdate, Some("topdesk")), "narrowed to one system");
        assert!(
            !r.capabilities.allows(Scope::EntitlementsUnmanage, Some("x")),
            "the tenant cannot add what the manifest lacks"
        );
        assert!(!r.capabilities.allows(Scope::PersonsRead, None), "not kept by the tenant's list");
        assert_eq!(r.settings["systems"], "exchange-online");
        assert_eq!(r.settings["source-system"], "active-directory", "defaults apply");
        assert_eq!(r.limits.timeout_ms, 2000);
        assert_eq!(r.triggers.events, ["attribute-changed"]);
    }

    #[test]
    fn unknown_settings_and_bad_manifests_are_explained() {
        let (_dir, component) = component_with(MANIFEST);
        let err = resolve("pm", &component, Some(&installed("config = { sytems = \"x\" }")), &LimitSettings::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no setting `sytems`; its settings are: source-system, systems"), "{err}");

        let (_d, broken) = component_with(&MANIFEST.replace("capabilities", "capabilites"));
        let err = resolve("pm", &broken, None, &LimitSettings::default()).unwrap_err().to_string();
        assert!(err.contains("propagate_mail.toml:5:1: unknown field `capabilites`"), "{err}");
        let (_d, named) = component_with(&MANIFEST.replace("name = \"propagate-mail\"", "name = \"Propagate Mail\""));
        assert!(
            resolve("pm", &named, None, &LimitSettings::default())
                .unwrap_err()
                .to_string()
                .contains("must be kebab-case")
        );
    }

    #[test]
    fn without_a_manifest_a_configured_plugin_must_declare_capabilities() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("bare.wasm");
        assert!(
            resolve("bare", &bare, Some(&installed("")), &LimitSettings::default())
                .unwrap_err()
                .to_string()
                .contains("declares no capabilities")
        );
        let r = resolve("bare", &bare, None, &LimitSettings::default()).unwrap();
        assert!(
            r.capabilities.allows(Scope::AccountsUpdate, Some("any")),
            "a bare component is bounded by its key alone"
        );
    }

    #[test]
    fn a_pinned_component_needs_its_manifest_pinned_too() {
        let (_dir, component) = component_with(MANIFEST);
        let pin = "0".repeat(64);
        let ceiling = LimitSettings::default();
        let unpinned = installed(&format!("sha256 = \"{pin}\""));
        let err = resolve("pm", &component, Some(&unpinned), &ceiling).unwrap_err().to_string();
        assert!(err.contains("pins its component but not the manifest beside it"), "{err}");
        let digest = hex::encode(Sha256::digest(MANIFEST.as_bytes()));
        let pinned = installed(&format!("sha256 = \"{pin}\"\nmanifest-sha256 = \"{digest}\""));
        assert!(resolve("pm", &component, Some(&pinned), &ceiling).is_ok());
        std::fs::write(manifest_path(&component), MANIFEST.replace("timeout-ms = 2000", "timeout-ms = 9000")).unwrap();
        let err = resolve("pm", &component, Some(&pinned), &ceiling).unwrap_err().to_string();
        assert!(err.contains(&format!("but the configuration pins {digest}")), "{err}");
    }

    #[test]
    fn a_manifest_pin_holds_without_a_component_pin_too() {
        let (dir, component) = component_with(MANIFEST);
        let ceiling = LimitSettings::default();
        let digest = hex::encode(Sha256::digest(MANIFEST.as_bytes()));
        let pinned = installed(&format!("manifest-sha256 = \"{digest}\""));
        assert!(resolve("pm", &component, Some(&pinned), &ceiling).is_ok());
        std::fs::write(
            manifest_path(&component),
            MANIFEST.replace("\"actions:retry\"", "\"actions:retry\", \"entitlements:unmanage\""),
        )
        .unwrap();
        let err = resolve("pm", &component, Some(&pinned), &ceiling).unwrap_err().to_string();
        assert!(err.contains(&format!("but the configuration pins {digest}")), "a changed manifest is refused: {err}");
        std::fs::remove_file(manifest_path(&component)).unwrap();
        let err = resolve("pm", &component, Some(&pinned), &ceiling).unwrap_err().to_string();
        assert!(err.contains("`manifest-sha256` is set, but there is no manifest at"), "{err}");
        drop(dir);
    }

    #[test]
    fn the_digest_is_of_the_bytes_the_manifest_was_parsed_from() {
        let (_dir, component) = component_with(MANIFEST);
        let file = Manifest::beside(&component).unwrap().unwrap();
        assert_eq!(file.sha256, hex::encode(Sha256::digest(MANIFEST.as_bytes())));
        assert_eq!(file.manifest.limits.timeout_ms, Some(2000));
        std::fs::write(manifest_path(&component), [0xff, 0xfe, b'x']).unwrap();
        let err = Manifest::beside(&component).unwrap_err().to_string();
        assert!(err.contains("manifest: is not UTF-8 text"), "{err}");
    }
}
