#!/usr/bin/env bash
# Builds provhost and the propagate-mail plugin, creates the demo tenant in target/demo-data,
# and runs the example attribute-change event through the plugin. Prints the run report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh
cargo build --bin provhost
provhost="${CARGO_TARGET_DIR:-target}/debug/provhost"
data="${PROVHOST_DATA_DIR:-target/demo-data}"
"$provhost" --data-dir "$data" init
"$provhost" --data-dir "$data" run \
    --plugin plugins/target/wasm32-wasip2/release/propagate_mail.wasm \
    --event examples/events/mail-changed.json
