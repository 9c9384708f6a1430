#!/usr/bin/env bash
# Fuzzes the decoders of untrusted input (docs/SECURITY.md, "Fuzzing").
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 60 s, every target
# Installs cargo-fuzz once (nightly toolchain required). Each target starts from
# its committed seeds (fuzz/seeds/<target>) plus what earlier runs found
# (fuzz/corpus/<target>, not committed), and prints libFuzzer's final stats.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(protocol_decoder webhook_normalizer webhook_verifier channel_name visitor_cookie connect_token)
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz (once)"
  cargo install cargo-fuzz --locked
fi

# Its own target directory, so fuzz builds never invalidate the main build.
export CARGO_TARGET_DIR="$PWD/fuzz/target"
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  cp -n fuzz/seeds/"$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
  echo "== fuzz $target for ${seconds}s"
  # No sanitizer: Beacon's code forbids `unsafe`; what we hunt is panics
  # (unwrap on hostile input, overflow), hangs (-timeout) and memory
  # blow-ups (-rss_limit_mb), which need no instrumentation but coverage.
  (cd fuzz && cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 2>&1) |
    tee "fuzz/last-$target.log" | grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs|ERROR|panicked" || true
  if grep -qE "==[0-9]+== ERROR|panicked at|deadly signal" "fuzz/last-$target.log"; then
    echo "fuzz: $target FAILED; see fuzz/last-$target.log and fuzz/artifacts/$target/"
    exit 1
  fi
done
