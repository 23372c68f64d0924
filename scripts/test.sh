#!/usr/bin/env bash
# The whole test suite: unit tests, host-import tests, and end-to-end tests through the binary
# and real wasm components, and the console in a real headless browser.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh
scripts/browser.sh
cargo test --workspace
