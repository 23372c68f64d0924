#!/usr/bin/env bash
# The whole test suite: unit tests, host-import tests, and end-to-end tests through the binary
# and real wasm components; the store's tests run against SQLite and against a throwaway
# PostgreSQL started here (scripts/postgres.sh) and stopped when the suite ends; the console in a
# real headless browser (scripts/browser.sh installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh
scripts/browser.sh
if [ -z "${PROVHOST_TEST_POSTGRES:-}" ]; then
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/provhost-pg.XXXXXX")
    trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
    PROVHOST_TEST_POSTGRES=$(scripts/postgres.sh start "$pg_dir")
    export PROVHOST_TEST_POSTGRES
fi
cargo test --workspace
