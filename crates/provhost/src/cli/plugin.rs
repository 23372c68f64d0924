//! `provhost plugin check|new|wit|sdk`: what a component is and whether provhost can run it; a
//! new plugin skeleton that builds and passes its own test as generated; the contract and the
//! Rust SDK written out from the binary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{DataDir, print_json};
use crate::manifest::Manifest;
use crate::runtime::{
    PER_COMPONENT, Runtime, SUPPORTED_API_VERSIONS, footprint, import_status, inspect, interface, plugin_name,
};

mod contract;
mod skeleton;

pub use skeleton::Language;

/// `provhost plugin …`
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Is this a provhost plugin, for which API version, what does it import and export, will it
    /// load; and the configuration snippet that pins it.
    Check {
        /// The component (.wasm).
        component: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Create a plugin skeleton that builds and passes its own `provhost test`.
    New {
        /// The plugin's name (kebab-case); also the folder created.
        name: String,
        /// The language.
        #[arg(long, value_enum)]
        lang: Language,
        /// Where to create the folder.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Write the WIT package of the current plugin contract (`provhost:plugin@0.2.0`), for building
    /// a plugin in any language; this provhost loads plugins built for 0.1.0 too.
    Wit {
        /// The folder to write the `.wit` files into (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write the Rust SDK (the `provhost-sdk` crate, with its WIT) that matches this provhost.
    Sdk {
        /// The folder to write the crate into (created if needed).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

impl PluginCommand {
    pub(super) fn run(self, data: &DataDir) -> anyhow::Result<ExitCode> {
        match self {
            PluginCommand::Check { component, json } => check(data, &component, json),
            PluginCommand::New { name, lang, dir } => {
                let root = skeleton::create(&name, lang, &dir)?;
                println!("provhost: created {} ({lang:?}); see {}/README.md", root.display(), root.display());
                Ok(ExitCode::SUCCESS)
            }
            PluginCommand::Wit { out } => written(&out, contract::write_wit(&out)?),
            PluginCommand::Sdk { out } => written(&out, contract::write_sdk(&out)?),
        }
    }
}

fn written(out: &Path, files: Vec<String>) -> anyhow::Result<ExitCode> {
    println!("provhost: wrote {} files into {}", files.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

/// How the configuration file in force names `component`, as a TOML string: relative to the
/// file's folder, as provhost resolves a relative `component`; absolute without a file.
fn pin_path(component: &Path, config: Option<&Path>) -> String {
    let absolute = std::path::absolute(component).unwrap_or_else(|_| component.to_owned());
    let relative = config
        .and_then(|file| std::path::absolute(file).ok())
        .and_then(|file| file.parent().and_then(|base| pathdiff::diff_paths(&absolute, base)));
    toml::Value::String(relative.unwrap_or(absolute).display().to_string()).to_string()
}

fn check(data: &DataDir, component: &PathBuf, as_json: bool) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(component).with_context(|| format!("cannot read {}", component.display()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let inspection = inspect(&bytes);
    let (imports, exports) = interface(&bytes).unwrap_or_default();
    let holds = footprint(&bytes).ok();
    let imports: Vec<_> = imports
        .iter()
        .map(|name| {
            let (status, note) = import_status(name);
            json!({ "name": name, "status": status, "note": note })
        })
        .collect();
    let file = Manifest::beside(component)?;
    let manifest_pin = match &file {
        Some(file) => format!("manifest-sha256 = \"{}\"\n", file.sha256),
        None => "capabilities = [\"persons:read\"]  # no manifest beside it: declare what it needs\n".to_string(),
    };
    let manifest = file.map(|f| f.manifest);
    let loads = match &inspection {
        Ok(_) => Runtime::new(data.cache_dir())?.load(component, None).map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(format!("{} {e}", component.display())),
    };
    let name = manifest.as_ref().map(|m| m.name.clone()).unwrap_or_else(|| plugin_name(component));
    let config = data.config_file();
    let pin = format!(
        "[tenants.TENANT.plugins.{name}]\ncomponent = {}\nsha256 = \"{sha256}\"\n{manifest_pin}",
        pin_path(component, config),
    );
    let missing = imports.iter().filter(|i| i["status"] == "missing").count();
    let ok = inspection.is_ok() && loads.is_ok() && missing == 0;
    let report = json!({
        "file": component,
        "plugin": inspection.is_ok(),
        "api_version": inspection.as_ref().ok().map(|i| i.api_version.clone()),
        "refused": inspection.as_ref().err().map(|e| format!("{} {e}", component.display())),
        "sha256": sha256,
        "imports": imports,
        "exports": exports,
        "loads": loads.as_ref().err().cloned().unwrap_or_else(|| "yes".into()),
        "pool": { "per_instance": holds, "per_component_at_most": PER_COMPONENT },
        "manifest": manifest.as_ref().map(|m| json!({"name": m.name, "version": m.version, "capabilities": m.capabilities, "settings": m.config.keys().collect::<Vec<_>>()})),
        "pin": pin,
    });
    if as_json {
        print_json(&report)?;
    } else {
        println!("{}", component.display());
        match &inspection {
            Ok(i) => println!(
                "  provhost plugin, API {} (this provhost serves {})",
                i.api_version,
                SUPPORTED_API_VERSIONS.join(", ")
            ),
            Err(e) => println!("  NOT LOADABLE: it {e}"),
        }
        println!("  sha256 {sha256}");
        println!("  exports: {}", exports.join(", "));
        if let Some(holds) = holds {
            println!(
                "  each instance holds {holds} of the instance pool (a component may hold at most {PER_COMPONENT})"
            );
        }
        println!("  imports:");
        for i in &imports {
            println!(
                "    {:<9} {}  ({})",
                i["status"].as_str().unwrap_or(""),
                i["name"].as_str().unwrap_or(""),
                i["note"].as_str().unwrap_or("")
            );
        }
        match (&loads, &manifest) {
            (Err(e), _) => println!("  does not load: {e}"),
            (Ok(()), Some(m)) => {
                println!("  loads; manifest {} {} declares {}", m.name, m.version, m.capabilities.names().join(", "))
            }
            (Ok(()), None) => {
                println!("  loads; no manifest beside it ({})", crate::manifest::manifest_path(component).display())
            }
        }
        let file = config.map_or("provhost.toml".into(), |c| c.display().to_string());
        println!("\nto pin it in {file}:\n{pin}");
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(super::EXIT_ERROR) })
}
