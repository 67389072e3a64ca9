#!/usr/bin/env bash
# Benchmark of what a hosted runner downloads and installs on every job: builds the
# release binary (the release profile: strip, fat LTO, one codegen unit), packs the
# archive as .github/workflows/release.yml does (one binary, the five command names as
# links), then times the action's install step (scripts/action-install.sh) from a
# file:// release into an empty tool cache. Prints figures; asserts nothing.
#
#   scripts/bench-release.sh [RUNS]      (default 10 install runs)
#
# Targets (issue "one small binary"): archive <= 15 MB, install <= 3 s.
# CARGO_TARGET_DIR is honoured (a release build is slow; keep its directory warm).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-10}
target_dir=${CARGO_TARGET_DIR:-$root/target}
version=v0.0.0-bench
triple=x86_64-unknown-linux-musl # the name the install step asks for on Linux x86_64

echo "building the release binary (cargo build --release --bin slipway)..." >&2
(cd "$root" && cargo build --locked --release --bin slipway >&2)
binary=$target_dir/release/slipway

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/stage" "$work/release/$version"
cp "$binary" "$work/stage/slipway"
for name in env build bake roll wait; do ln -s slipway "$work/stage/slipway-$name"; done
archive="slipway-$version-$triple.tar.gz"
tar -czf "$work/release/$version/$archive" -C "$work/stage" \
  slipway slipway-env slipway-build slipway-bake slipway-roll slipway-wait
(cd "$work/release/$version" && sha256sum "$archive" >"slipway-$version-sha256sums.txt")

size() { stat -c %s "$1"; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
echo "binary:  $(mb "$(size "$binary")") ($(size "$binary") bytes)"
echo "archive: $(mb "$(size "$work/release/$version/$archive")") ($(size "$work/release/$version/$archive") bytes; target <= 15 MB)"

times=()
for run in $(seq 1 "$runs"); do
  cache="$work/cache-$run"
  mkdir -p "$cache" "$work/tmp-$run"
  start=$(date +%s.%N)
  RUNNER_OS=Linux RUNNER_ARCH=X64 RUNNER_TOOL_CACHE="$cache" RUNNER_TEMP="$work/tmp-$run" \
    SLIPWAY_INPUT_VERSION=$version SLIPWAY_RELEASE_URL="file://$work/release" \
    GITHUB_OUTPUT="$work/out-$run" GITHUB_PATH="$work/path-$run" \
    "$root/scripts/action-install.sh" 2>/dev/null
  end=$(date +%s.%N)
  bin_dir=$(sed -n 's/^bin-dir=//p' "$work/out-$run")
  "$bin_dir/slipway-roll" --version >/dev/null
  times+=("$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(printf '%s\n' "$sorted" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max=$(printf '%s\n' "$sorted" | tail -1)
echo "install from file:// into an empty tool cache, $runs runs: median ${median}s, max ${max}s (target <= 3 s)"
