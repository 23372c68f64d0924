#!/usr/bin/env bash
# Kills `provhost serve` with SIGKILL at random moments under load, restarts it and checks that
# nothing answered is lost, nothing is half-committed or done twice, nothing is left stranded and
# the audit chain verifies; 50 rounds on the embedded store and 50 on a throwaway PostgreSQL
# (scripts/postgres.sh; the test suite runs 10 of each). ROUNDS=N to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh >/dev/null
if [ -z "${PROVHOST_TEST_POSTGRES:-}" ]; then
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/provhost-pg.XXXXXX")
    trap 'scripts/postgres.sh stop "$pg_dir"' EXIT
    PROVHOST_TEST_POSTGRES=$(scripts/postgres.sh start "$pg_dir")
    export PROVHOST_TEST_POSTGRES
fi
PROVHOST_CRASH_ROUNDS="${ROUNDS:-50}" cargo test --release --test crash -- --nocapture
