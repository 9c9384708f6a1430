#!/usr/bin/env bash
# Installs every tool Beacon's build and tests need, each only when missing or at
# the wrong version, so running it twice costs nothing the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs a newer rustc than 1.95
WASM_BINDGEN_VERSION=0.2.130  # must equal the `wasm-bindgen` pin in Cargo.toml
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(cargo leptos --version 2>/dev/null || true)" != *"$CARGO_LEPTOS_VERSION"* ]]; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 20 minutes on 2 cores, once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi

if [[ "$(wasm-bindgen --version 2>/dev/null || true)" != *"$WASM_BINDGEN_VERSION"* ]]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Without --locked: its lockfile names a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

# The server's allocator (jemalloc) is built from its C sources with make.
if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
  say "installing make and a C compiler from Debian"
  SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq make gcc
fi

if [[ "${BEACON_SKIP_BROWSER:-0}" != 1 ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    say "installing Chromium from Debian"
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
  fi
fi

if [[ -f end2end/package-lock.json ]]; then
  # npm ci wipes node_modules; only run it when the lockfile changed since the last install.
  stamp=end2end/node_modules/.beacon-lock.sha
  want=$(sha256sum end2end/package-lock.json | cut -d' ' -f1)
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
    say "installing end2end npm packages (Playwright without its browser download, binaryen's wasm-opt)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    echo "$want" > "$stamp"
  fi
fi
say "tools ready"
