#!/usr/bin/env bash
# Benchmark of slipway-roll on the simulated cloud: surge wall time against the physical
# minimum, and a 1,000-instance group's CPU time and peak memory. Prints figures.
# Pass --release for an optimised build (slower to build, faster to run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --quiet --example roll_bench "$@"
