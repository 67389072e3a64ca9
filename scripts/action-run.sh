#!/usr/bin/env bash
# Step two of action.yml: runs one slipway command with the action's inputs.
#
# The inputs arrive only through the environment and are used only as data: the
# command is checked against a fixed list, `args` is split on whitespace into
# separate arguments (no quotes, globs, variables or command substitution are
# interpreted) and nothing is ever evaluated.
#   SLIPWAY_COMMAND       env, build, bake, roll or wait
#   SLIPWAY_ARGS          extra arguments, split on whitespace
#   SLIPWAY_DRY_RUN       true: pass --dry-run to build, bake and roll
#   SLIPWAY_BIN_DIR       where step one installed the binaries (default: PATH)
#   SLIPWAY_CONFIG        the config file (read by every binary)
#   SLIPWAY_ENVIRONMENT   the environment (read by build, bake, roll and wait)
set -euo pipefail
set -f # no pathname expansion when splitting args
shown=""

command=${SLIPWAY_COMMAND:-}
case "$command" in
  env | build | bake | roll | wait) ;;
  *)
    printf -v shown '%q' "$command"
    echo "::error title=slipway::input command must be one of env, build, bake, roll, wait (got $shown)" >&2
    exit 2
    ;;
esac

program="slipway-$command"
if [ -n "${SLIPWAY_BIN_DIR:-}" ]; then
  program="$SLIPWAY_BIN_DIR/$program"
fi

argv=()
read -r -d '' -a argv < <(printf '%s\0' "${SLIPWAY_ARGS:-}") || true

case "${SLIPWAY_DRY_RUN:-false}" in
  true)
    case "$command" in
      build | bake | roll) argv=(--dry-run ${argv[@]+"${argv[@]}"}) ;;
      *) echo "slipway: dry-run has no effect on $command, which changes nothing" >&2 ;;
    esac
    ;;
  false | "") ;;
  *)
    printf -v shown '%q' "$SLIPWAY_DRY_RUN"
    echo "::error title=slipway::input dry-run must be true or false (got $shown)" >&2
    exit 2
    ;;
esac

if [ "$command" = env ] && [ -n "${SLIPWAY_ENVIRONMENT:-}" ]; then
  echo "slipway: env decides the environment from the event; the environment input is not used" >&2
fi

# (${argv[@]+...}: bash 3.2, as on macOS, calls an empty array unbound under set -u)
shown=""
[ ${#argv[@]} -eq 0 ] || printf -v shown ' %q' "${argv[@]}"
echo "slipway: $program$shown" >&2
exec "$program" ${argv[@]+"${argv[@]}"}
