#!/usr/bin/env bash
# Fuzzing on the stable toolchain: runs each property of tests/properties.rs (the CSV record
# splitter, the NDJSON line parser, the time, amount and epoch-ms parsers, the job file loader)
# for MINUTES on fresh seeds, and reports per property the cases run, cases per second and
# failures (0 expected). A failure prints its minimal input and the seed that found it
# (PROPTEST_RNG_SEED=…, which replays it with `cargo test --test integration properties::`):
# turn it into a named test in tests/properties.rs.
#
# Usage: bench/fuzz.sh [MINUTES per property, default 2] [property,property,…]
#        DOUBLE11_FUZZ_SEED=N bench/fuzz.sh …   (first seed; default: the clock)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-2}"
seconds="$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')"
export DOUBLE11_FUZZ_SECONDS="$seconds"
export DOUBLE11_FUZZ_ONLY="${2:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/double11-target}"
export CARGO_INCREMENTAL=0

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --quiet --test integration -- --ignored --exact properties::fuzz_for_a_while --nocapture 2>&1 \
  | tee "$log" || status=$?

echo
echo "== fuzz summary (${minutes} min per property)"
grep '^fuzz ' "$log" || echo "no property ran"
if grep -q '^FAILURE' "$log"; then
  echo "== failures"
  grep '^FAILURE' "$log"
fi
exit "$status"
