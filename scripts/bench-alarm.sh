#!/usr/bin/env bash
# Benchmark: in the simulator, on virtual time, ECS rolls whose CloudWatch alarm goes into
# ALARM at a different point of each roll (20% to 80% of it). Prints the median and the
# longest delay from the alarm to the rollback's first mutating call, and the most
# DescribeAlarms calls a minute any roll made, at the default --poll-interval (2s; the
# alarms are then read every 4s). The benchmark is an integration test (every suite run
# does one trial and checks the delay is within one alarm interval and the calls under 20
# a minute); this script runs it with more trials.
#   SLIPWAY_BENCH_TRIALS=N      trials (default 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SLIPWAY_TESTBED="${SLIPWAY_TESTBED:-$PWD/target/testbed}"
cargo test --quiet --test all --no-run
SLIPWAY_BENCH_TRIALS="${SLIPWAY_BENCH_TRIALS:-20}" \
  cargo test --quiet --test all -- --exact --nocapture --test-threads 1 \
  roll_alarms_sim::alarm_to_rollback_delay_benchmark 2>&1 | grep -v '^running \|^test result\|^$'
