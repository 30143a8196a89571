#!/usr/bin/env bash
# CI smoke run of the fuzz targets (fuzz/README.md).
#
# With a nightly toolchain and cargo-fuzz: builds every target with libFuzzer and
# AddressSanitizer and runs each for FUZZ_SECONDS (default 20) from the seed corpus.
# Without them (a stable-only CI image): runs the same target bodies over the seed corpus
# as plain `cargo test` (fuzz/tests/seeds.rs). It says which one it did.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
./seed.sh
if cargo +nightly --version >/dev/null 2>&1 && cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: libFuzzer, ${seconds}s per target"
  cargo +nightly fuzz build -O
  for target in $(cargo +nightly fuzz list); do
    log="$(mktemp)"
    rc=0
    cargo +nightly fuzz run "$target" -O -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    grep -E "^(Done|stat::number_of_executed_units)" "$log" || true
    if [ "$rc" -ne 0 ]; then
      tail -40 "$log"
      echo "fuzz smoke: $target failed (crash input in fuzz/artifacts/$target/)"
      exit 1
    fi
    rm -f "$log"
  done
else
  echo "fuzz smoke: no nightly/cargo-fuzz here; running the target bodies over the seeds with cargo test"
  cargo test --release --tests
fi
