#!/usr/bin/env bash
# Kills `provhost serve` with SIGKILL at random moments under load, restarts it and checks that
# nothing answered is lost, nothing is half-committed or done twice, nothing is left stranded and
# the audit chain verifies; 50 rounds (the test suite runs 10). ROUNDS=N to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-plugins.sh >/dev/null
PROVHOST_CRASH_ROUNDS="${ROUNDS:-50}" cargo test --release --test crash -- --nocapture
