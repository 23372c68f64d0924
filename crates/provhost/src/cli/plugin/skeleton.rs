//! Plugin skeletons for `provhost plugin new`: Rust, Python or JavaScript, each with a manifest,
//! a `build.sh` that puts the component and its manifest in `dist/`, and a case that
//! `provhost test` passes as generated.

use std::path::{Path, PathBuf};

use super::contract;

/// A language a skeleton can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    /// Rust with provhost-sdk.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

const MANIFEST: &str = r#"name = "{name}"
version = "0.1.0"
description = "Updates every account of a person whose mail changed"
capabilities = ["accounts:update"]

[triggers]
events = ["attribute-changed"]
attributes = ["mail"]
"#;

const EVENT: &str = r#"{
  "type": "attribute-changed",
  "person": "3f1c5a52-8d2e-4b7a-9a41-2f6d0c1e7b01",
  "system": "active-directory",
  "source": "example",
  "changes": [{"attribute": "mail", "oldValues": ["jan.jansen@contoso.example"], "newValues": ["jan@contoso.example"]}]
}
"#;

const GITIGNORE: &str = "target/\ndist/\nnode_modules/\n__pycache__/\n";

const EXPECTED: &str = include_str!("skeleton_expected.json");

const RUST_LIB: &str = r#"//! {name}: when a person's mail changes, update all of their accounts.

use provhost_sdk::{AttributeChanged, Outcome, PersonId, Plugin, actions, info, register_plugin};

struct Skeleton;

impl Plugin for Skeleton {
    fn on_attribute_changed(event: &AttributeChanged) -> Result<Outcome, String> {
        if !event.changes.iter().any(|c| c.attribute.eq_ignore_ascii_case("mail")) {
            info!("mail did not change; nothing to do");
            return Ok(Outcome::new("ignored: mail did not change"));
        }
        let receipts =
            actions::update_all_accounts(&PersonId::from(&event.person), "mail changed").map_err(|e| format!("{e:?}"))?;
        info!("planned {} account updates", receipts.len());
        Ok(Outcome::new(format!("planned {} account updates", receipts.len())))
    }
}

register_plugin!(Skeleton);
"#;

const RUST_CARGO: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
# The SDK as `provhost plugin new` wrote it (`provhost plugin sdk --out vendor/provhost-sdk` writes
# it again, e.g. after upgrading provhost).
provhost-sdk = { path = "vendor/provhost-sdk" }

[profile.release]
opt-level = "s"
lto = true
strip = true

[workspace]
"#;

const RUST_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component into dist/ with its manifest beside it.
set -euo pipefail
cd "$(dirname "$0")"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release --target wasm32-wasip2
target="${CARGO_TARGET_DIR:-target}"
mkdir -p dist
cp "$target/wasm32-wasip2/release/{file}.wasm" dist/
cp plugin.toml "dist/{file}.toml"
"#;

const PYTHON_APP: &str = r#""""{name}: when a person's mail changes, update all of their accounts."""

from componentize_py_types import Err

import wit_world
from wit_world.imports import actions, log
from wit_world.imports.events import Event_AttributeChanged
from wit_world.exports import handler


class Handler(wit_world.exports.Handler):
    def handle(self, event) -> handler.Outcome:
        if not isinstance(event, Event_AttributeChanged):
            return handler.Outcome("only attribute changes are handled")
        change = event.value
        if not any(c.attribute.lower() == "mail" for c in change.changes):
            log.log(log.Level.INFO, "mail did not change; nothing to do")
            return handler.Outcome("ignored: mail did not change")
        try:
            receipts = actions.update_all_accounts(change.person, "mail changed")
        except Err as err:
            raise Err(str(err.value))
        log.log(log.Level.INFO, f"planned {len(receipts)} account updates")
        return handler.Outcome(f"planned {len(receipts)} account updates")
"#;

const PYTHON_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component into dist/ with its manifest beside it.
set -euo pipefail
cd "$(dirname "$0")"
command -v componentize-py >/dev/null || python3 -m pip install --quiet componentize-py==0.25.1
mkdir -p dist
componentize-py -d wit -w plugin componentize app -o "dist/{file}.wasm"
cp plugin.toml "dist/{file}.toml"
"#;

const JS_SOURCE: &str = r#"// {name}: when a person's mail changes, update all of their accounts.
import { updateAllAccounts } from 'provhost:plugin/actions@0.2.0';
import { log } from 'provhost:plugin/log@0.2.0';

export const handler = {
  handle(event) {
    if (event.tag !== 'attribute-changed') return { summary: 'only attribute changes are handled' };
    if (!event.val.changes.some((c) => c.attribute.toLowerCase() === 'mail')) {
      log('info', 'mail did not change; nothing to do');
      return { summary: 'ignored: mail did not change' };
    }
    let receipts;
    try {
      receipts = updateAllAccounts(event.val.person, 'mail changed');
    } catch (e) {
      throw `${e.payload?.tag ?? 'error'}: ${JSON.stringify(e.payload?.val ?? String(e))}`;
    }
    log('info', `planned ${receipts.length} account updates`);
    return { summary: `planned ${receipts.length} account updates` };
  },
};
"#;

const JS_BUILDER: &str = r#"// Builds {name}.js into a component with componentize-js.
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile, mkdir } from 'node:fs/promises';

const { component } = await componentize({
  sourcePath: '{name}.js',
  witPath: 'wit',
  worldName: 'plugin',
  disableFeatures: ['http', 'fetch-event'],
});
await mkdir('dist', { recursive: true });
await writeFile('dist/{file}.wasm', component);
"#;

const JS_PACKAGE: &str = r#"{
  "name": "{name}",
  "private": true,
  "type": "module",
  "dependencies": { "@bytecodealliance/componentize-js": "0.23.0" }
}
"#;

const JS_BUILD: &str = r#"#!/usr/bin/env bash
# Builds the component into dist/ with its manifest beside it.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/@bytecodealliance/componentize-js ] || npm install --no-audit --no-fund --loglevel=error
node build.mjs
cp plugin.toml "dist/{file}.toml"
"#;

const README: &str = r#"# {name}

A provhost plugin ({language}). When a person's `mail` changes, it updates all of their accounts.

    ./build.sh                                   # the component and its manifest, in dist/
    provhost test dist/{file}.wasm cases         # run the cases against the demo tenant
    provhost plugin check dist/{file}.wasm       # what provhost makes of it, and how to pin it

`plugin.toml` is the manifest: capabilities, triggers, settings, limits. `cases/` holds one folder
per case (`event.json`, optional `settings.json`, `expected.json`); `provhost test --update`
rewrites the expectations from what happened. {contract}
"#;

fn fill(template: &str, name: &str, file: &str, extra: &[(&str, &str)]) -> String {
    let mut text = template.replace("{name}", name).replace("{file}", file);
    for (key, value) in extra {
        text = text.replace(key, value);
    }
    text
}

fn write(root: &Path, relative: &str, text: &str) -> anyhow::Result<()> {
    contract::write_file(root, relative, text).map(drop)
}

/// Creates `<dir>/<name>` with a skeleton in `language`; refuses to overwrite anything.
pub fn create(name: &str, language: Language, dir: &Path) -> anyhow::Result<PathBuf> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        anyhow::bail!("a plugin name is kebab-case (a-z, 0-9, -), not '{name}'");
    }
    let root = dir.join(name);
    if root.exists() {
        anyhow::bail!("{} exists already; choose another name or folder", root.display());
    }
    let file = name.replace('-', "_");
    let language_name = format!("{language:?}");
    let contract = match language {
        Language::Rust => {
            "`vendor/provhost-sdk` is the Rust SDK as this provhost wrote it; \
             `provhost plugin sdk --out vendor/provhost-sdk` writes it again after an upgrade."
        }
        Language::Python | Language::Js => {
            "`wit/` is the plugin contract as this provhost wrote it; \
             `provhost plugin wit --out wit` writes it again after an upgrade."
        }
    };
    let f = |t: &str| fill(t, name, &file, &[("{language}", &language_name), ("{contract}", contract)]);
    write(&root, "plugin.toml", &f(MANIFEST))?;
    write(&root, "cases/mail-changed/event.json", EVENT)?;
    write(&root, "cases/mail-changed/expected.json", EXPECTED)?;
    write(&root, "README.md", &f(README))?;
    write(&root, ".gitignore", GITIGNORE)?;
    match language {
        Language::Rust => {
            contract::write_sdk(&root.join("vendor/provhost-sdk"))?;
            write(&root, "Cargo.toml", &f(RUST_CARGO))?;
            write(&root, "src/lib.rs", &f(RUST_LIB))?;
            write(&root, "build.sh", &f(RUST_BUILD))?;
        }
        Language::Python => {
            contract::write_wit(&root.join("wit"))?;
            write(&root, "app.py", &f(PYTHON_APP))?;
            write(&root, "build.sh", &f(PYTHON_BUILD))?;
        }
        Language::Js => {
            contract::write_wit(&root.join("wit"))?;
            write(&root, &format!("{name}.js"), &f(JS_SOURCE))?;
            write(&root, "build.mjs", &f(JS_BUILDER))?;
            write(&root, "package.json", &f(JS_PACKAGE))?;
            write(&root, "build.sh", &f(JS_BUILD))?;
        }
    }
    Ok(root)
}
