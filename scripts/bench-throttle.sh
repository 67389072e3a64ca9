#!/usr/bin/env bash
# Benchmark: a surge roll of a two-instance moto group through the project's fault proxy
# (tests/all/support/proxy.rs) with 0%, 10% and 30% of AWS calls answered with throttling
# errors or 503s. Prints the wall time per level and its ratio to the fault-free run;
# asserts nothing about time. The proxy is test code, so the benchmark is an ignored test
# in the integration-test binary that only this script runs.
#   SLIPWAY_BENCH_TRIALS=N      trials per level (default 3)
#   SLIPWAY_BENCH_ADAPTIVE=1    add a 30% row with AWS_RETRY_MODE=adaptive (slow: minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SLIPWAY_TESTBED="${SLIPWAY_TESTBED:-$PWD/target/testbed}"
cargo test --quiet --test all --no-run
cargo test --quiet --test all -- --ignored --exact --nocapture --test-threads 1 \
  roll_ecs_moto::bench_surge_under_throttling 2>&1 | grep -v '^running \|^test result\|^$'
