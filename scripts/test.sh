#!/usr/bin/env bash
# The one command that sets up and passes the tests (README, "Tests").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
# Fuzz smoke: each target ~20 s with cargo fuzz, or its body over the seeds with cargo test
# on a stable-only machine (fuzz/README.md). FUZZ_SMOKE=0 skips it.
if [ "${FUZZ_SMOKE:-1}" != 0 ]; then
  bash fuzz/ci-smoke.sh
fi
