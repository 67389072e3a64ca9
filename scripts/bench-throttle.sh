#!/usr/bin/env bash
# Benchmark: a surge roll of a two-instance moto group through the project's fault proxy
# (tests/all/support/proxy.rs) with 0%, 10% and 30% of AWS calls answered with throttling
# errors or 503s. Prints the wall time per level and its ratio to the fault-free run;
# asserts nothing about time. The proxy is test code, so the benchmark is an integration
# test (every suite run does one trial per level and checks each roll succeeds); this
# script runs it alone with more trials.
#   SLIPWAY_BENCH_TRIALS=N      trials per level (default 5)
#   SLIPWAY_BENCH_ADAPTIVE=1    add a 30% row with AWS_RETRY_MODE=adaptive (slow: minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SLIPWAY_TESTBED="${SLIPWAY_TESTBED:-$PWD/target/testbed}"
cargo test --quiet --test all --no-run
SLIPWAY_BENCH_TRIALS="${SLIPWAY_BENCH_TRIALS:-5}" \
  cargo test --quiet --test all -- --exact --nocapture --test-threads 1 \
  roll_ecs_moto::surge_completes_under_throttling_at_each_level 2>&1 | grep -v '^running \|^test result\|^$'
