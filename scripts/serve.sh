#!/usr/bin/env bash
# Builds Beacon in release mode and serves it at http://127.0.0.1:3000 with the
# embedded SQLite database under data/. Nothing else to start.
# Listen on the LAN (so a phone can reach it): BEACON_BIND=0.0.0.0:3000 scripts/serve.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PWD/end2end/node_modules/.bin:$PATH"
BEACON_SKIP_BROWSER=1 ./scripts/bootstrap.sh
exec cargo leptos serve --release --split
