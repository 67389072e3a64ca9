#!/usr/bin/env bash
# Benchmark of an Auto Scaling blue/green roll on the simulated cloud: its wall time
# against the physical minimum (boot + healthy checks + steps x step bake). Prints figures.
# Pass --release for an optimised build (slower to build, faster to run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run --quiet --example bluegreen_bench "$@"
