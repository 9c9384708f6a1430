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
# One test at a time: every test runs the whole app on a runtime of its own,
# and Leptos keeps process-wide reactive state; with tests in parallel, a page
# render now and then stalls while another test's runtime shuts down (never
# seen with one runtime, as in production, nor with tests one at a time).
cargo test -p server --test api -- --test-threads=1

step "integration tests (PostgreSQL)"
# Each test makes its own database; drop the ones earlier runs left behind.
psql -h 127.0.0.1 -U postgres -d postgres -Atqc \
  "select datname from pg_database where datname like 'beacon_test_%'" |
  while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists \"$db\"" >/dev/null; done
BEACON_TEST_POSTGRES_URL="${BEACON_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
  cargo test -p server --test api -- --test-threads=1

step "build the site (cargo leptos build)"
cargo leptos build

step "end-to-end tests (Playwright + Chromium)"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p target/e2e && rm -f target/e2e/beacon.db*
# The two-node cluster of the end-to-end suite runs on a fresh PostgreSQL database.
psql -h 127.0.0.1 -U postgres -d postgres -qc "drop database if exists beacon_e2e_cluster" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qc "create database beacon_e2e_cluster" >/dev/null
(cd end2end && BEACON_E2E_SERVER="$target_dir/debug/beacon" npx playwright test)
