#!/usr/bin/env bash
# The one command that sets up and passes the tests (README, "Tests").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test 2>&1 | tee "$log"
# Fuzz smoke: each target ~20 s with cargo fuzz, or its body over the seeds with cargo test
# on a stable-only machine (fuzz/README.md). FUZZ_SMOKE=0 skips it.
if [ "${FUZZ_SMOKE:-1}" != 0 ]; then
  bash fuzz/ci-smoke.sh
fi
# One closing line for the whole suite (every `test result:` line of cargo test added up).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
