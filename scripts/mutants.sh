#!/usr/bin/env bash
# Mutation testing with cargo-mutants (crates.io): mutates the chosen files one change at
# a time, runs the chosen tests against each mutant, and prints how many were caught,
# missed, unviable (did not build) and timed out, then each missed one. A missed mutant is
# a line whose breaking no test notices: a missing test, or a change that means the same.
#
#   scripts/mutants.sh [--budget 30m] [--in-diff [BASE]] FILE... [-- CARGO_TEST_ARGS...]
#
#   FILE...          files to mutate (default with --in-diff: every file the diff touches)
#   --budget D       stop after D (timeout(1) syntax: 30m, 2h); what ran is still counted
#   --in-diff [BASE] only lines changed since BASE (default: origin/main, else HEAD~1)
#   -- ARGS          what cargo test runs per mutant (default: --lib; e.g. --test all signals::)
#
# Each mutant is a rebuild of the slipway crate (about 35 s here) plus its tests, so pick
# the tests that cover the files. Builds go to $MUTANTS_TARGET_DIR (default
# target/mutants-build), seeded once from $CARGO_TARGET_DIR or target/ so dependencies are
# not rebuilt. A test run longer than $MUTANTS_TEST_TIMEOUT seconds (default 60) counts as
# timed out (a mutant that hangs is caught). Results: $MUTANTS_OUT/mutants.out (default target/mutants).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

budget=30m
diff_base=
in_diff=false
files=()
test_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) budget=$2; shift 2 ;;
    --in-diff)
      in_diff=true
      if [ $# -gt 1 ] && [ "${2#-}" = "$2" ] && git rev-parse --verify -q "$2^{commit}" >/dev/null; then
        diff_base=$2; shift
      fi
      shift ;;
    --) shift; test_args=("$@"); break ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) files+=("$1"); shift ;;
  esac
done
[ ${#test_args[@]} -gt 0 ] || test_args=(--lib)

if ! command -v cargo-mutants >/dev/null 2>&1; then
  echo "mutants: cargo-mutants is missing: cargo install --locked cargo-mutants" >&2
  exit 2
fi

out=${MUTANTS_OUT:-target/mutants}
mkdir -p "$out"
args=(--no-shuffle --baseline skip --output "$out" --timeout "${MUTANTS_TEST_TIMEOUT:-60}" --build-timeout 900 --colors never)
if $in_diff; then
  if [ -z "$diff_base" ]; then
    diff_base=$(git rev-parse --verify -q origin/main || git rev-parse HEAD~1)
  fi
  git diff "$diff_base" -- src > "$out/in.diff"
  if [ ! -s "$out/in.diff" ]; then
    echo "mutants: no change under src/ since $diff_base"
    exit 0
  fi
  args+=(--in-diff "$out/in.diff")
fi
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "mutants: no file $f" >&2; exit 2; }
  args+=(--file "$f")
done
if ! $in_diff && [ ${#files[@]} -eq 0 ]; then
  echo "mutants: name the files to mutate, or --in-diff" >&2
  exit 2
fi

warm=${CARGO_TARGET_DIR:-target}
export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$PWD/target/mutants-build}
if [ ! -d "$CARGO_TARGET_DIR/debug" ] && [ -d "$warm/debug" ]; then
  echo "mutants: seeding $CARGO_TARGET_DIR from $warm (dependencies are not rebuilt)"
  mkdir -p "$CARGO_TARGET_DIR"
  cp -a "$warm/debug" "$CARGO_TARGET_DIR/"
fi

echo "mutants: ${files[*]:-changes since $diff_base}; tests: cargo test ${test_args[*]}; budget $budget"
start=$(date +%s)
set +e
timeout --signal=INT "$budget" cargo mutants "${args[@]}" -- "${test_args[@]}"
status=$?
set -e
elapsed=$(( $(date +%s) - start ))
[ $status -eq 124 ] && echo "mutants: the budget of $budget ran out; the counts cover what ran"

count() {
  local f="$out/mutants.out/$1.txt"
  if [ -f "$f" ]; then grep -c . "$f" || true; else echo 0; fi
}
printf 'mutants: caught %s, missed %s, unviable %s, timed out %s (%ss)\n' \
  "$(count caught)" "$(count missed)" "$(count unviable)" "$(count timeout)" "$elapsed"
if [ -s "$out/mutants.out/missed.txt" ]; then
  echo "missed:"
  sed 's/^/  /' "$out/mutants.out/missed.txt"
fi
