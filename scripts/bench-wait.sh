#!/usr/bin/env bash
# Benchmark: how long slipway-wait takes to notice health (HTTP on real local servers,
# AWS probes on virtual time). Prints figures; asserts nothing about time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet --bins --examples
cargo run --quiet --example bench_wait
