#!/usr/bin/env bash
# Builds provhost and the propagate-mail plugin, creates the demo tenant and its API key in
# target/demo-data, and runs the example attribute-change event through the plugin as configured
# in examples/provhost.toml. Prints the run report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh rust
cargo build --bin provhost
provhost="${CARGO_TARGET_DIR:-target}/debug/provhost"
data="${PROVHOST_DATA_DIR:-target/demo-data}"
"$provhost" --data-dir "$data" init
"$provhost" --data-dir "$data" --config examples/provhost.toml run \
    --api-key "$(cat "$data/keys/demo.key")" \
    --plugin propagate-mail \
    --event examples/events/mail-changed.json
