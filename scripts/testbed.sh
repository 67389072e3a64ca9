#!/usr/bin/env bash
# Installs the testbed: the real programs that stand in for AWS, the Docker
# engine, a registry, Packer and the GitHub workflow linters (see TESTBED.md).
# Idempotent: what is already installed is left alone. The test helpers start
# each server themselves, on a free port, once per test binary.
#
#   scripts/testbed.sh            install everything
#   scripts/testbed.sh --check    only report what is missing (exit 1 if anything is)
#
# The Python tools live in a venv at $SLIPWAY_TESTBED (default: target/testbed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
testbed=${SLIPWAY_TESTBED:-$root/target/testbed}
venv=$testbed/venv
moto_version=5.2.5
debs=(podman docker-registry packer shellcheck openssl)
pips=("moto[server]==$moto_version" zizmor check-jsonschema bcrypt)

missing_debs=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing_debs+=("$pkg")
done
venv_ok=false
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/zizmor" ] \
  && [ -x "$venv/bin/check-jsonschema" ] \
  && "$venv/bin/python" -c "import moto, bcrypt, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
  venv_ok=true
fi

if [ "${1:-}" = "--check" ]; then
  status=0
  if [ ${#missing_debs[@]} -gt 0 ]; then echo "missing Debian packages: ${missing_debs[*]}"; status=1; fi
  if ! $venv_ok; then echo "missing Python tools in $venv: ${pips[*]}"; status=1; fi
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

echo "testbed: ready: moto $moto_version, $(packer version 2>/dev/null | head -1), podman $(podman --version 2>/dev/null | awk '{print $3}'), docker-registry, zizmor, check-jsonschema" >&2
