#!/usr/bin/env bash
# The test command: installs the testbed (scripts/testbed.sh, idempotent), then runs
# every test. Tests that need a testbed program start it themselves on a free port.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/testbed.sh
cargo test --locked --all-targets "$@"
