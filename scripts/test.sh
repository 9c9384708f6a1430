#!/usr/bin/env bash
# Runs every test: unit and integration on SQLite, the integration suite again
# on PostgreSQL, then the end-to-end suite in headless Chromium against a
# freshly built server. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"

./scripts/bootstrap.sh
./scripts/services.sh

step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "unit and integration tests (SQLite)"
cargo test --workspace --exclude frontend --exclude server
cargo test -p server --lib --bins --test cluster
cargo test -p server --doc
# One test at a time, a workaround: with tests in parallel, one page render in
# about one run of three stalls until the request timeout. Each test runs the
# app on a Tokio runtime of its own, which ends with the test, and Leptos keeps
# reactive state process-wide; the stall was never seen with tests one at a
# time, nor in production's shape (one runtime, many renders at once, which
# tests/api/rendering.rs covers). Its cause is not found yet
# (docs/PERFORMANCE.md, step 8 says what was ruled out).
cargo test -p server --test api -- --test-threads=1

step "integration tests (PostgreSQL)"
# Each test makes its own database; drop the ones earlier runs left behind.
psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
  "select datname from pg_database where datname like 'beacon_test_%'" |
  while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\"" >/dev/null; done
BEACON_TEST_POSTGRES_URL="${BEACON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
  cargo test -p server --test api -- --test-threads=1

step "build the site (cargo leptos build --split)"
cargo leptos build --split

step "end-to-end tests (Playwright + Chromium)"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p target/e2e && rm -f target/e2e/beacon.db*
# The two-node cluster of the end-to-end suite runs on a fresh PostgreSQL database.
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists beacon_e2e_cluster" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "create database beacon_e2e_cluster" >/dev/null
(cd end2end && BEACON_E2E_SERVER="$target_dir/debug/beacon" npx playwright test)
