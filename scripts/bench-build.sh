#!/usr/bin/env bash
# Benchmark for slipway-build (not a test): on the testbed (moto ECR, docker-registry with
# htpasswd, Podman's API service, all started here on free ports and stopped at the end)
# it prints side by side, for a 1 KB and a 50 MB image:
#   - re-pushing an unchanged image: slipway-build --rebuild (its push phase and the whole
#     run) against `podman push` of the same image (target: no more than 1.1x);
#   - promoting the image to new tags: slipway-build's tagging phase and the whole run
#     (target: a small constant that does not grow with the image's size).
# Medians of RUNS runs (default 5). Needs scripts/testbed.sh to have run.
#
#   scripts/bench-build.sh            RUNS=9 scripts/bench-build.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
testbed=${SLIPWAY_TESTBED:-$root/target/testbed}
venv=$testbed/venv
runs=${RUNS:-5}
password=123456789012-auth-token

for program in podman docker-registry "$venv/bin/moto_server" "$venv/bin/python"; do
  command -v "$program" >/dev/null || { echo "bench-build: $program is missing: run scripts/testbed.sh" >&2; exit 1; }
done
(cd "$root" && cargo build --quiet --bin slipway-build)
slipway=$root/target/debug/slipway-build

work=$(mktemp -d -t slipway-bench-XXXXXX)
pids=()
pod() { CONTAINERS_REGISTRIES_CONF=$work/registries.conf podman --root "$work/storage" --runroot "$work/run" "$@"; }
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pod system prune -af >/dev/null 2>&1 || true
  umount "$work/storage/overlay" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # url-ish description, then a command that succeeds when ready
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench-build: $what did not start (logs in $work)" >&2; exit 1
}
http_up() { python3 -c 'import sys, urllib.request as u
try: u.urlopen(sys.argv[1], timeout=1)
except u.HTTPError: pass' "$1"; }

registry_port=$(free_port); moto_port=$(free_port)
registry=127.0.0.1:$registry_port
echo "AWS:$("$venv/bin/python" -c "import bcrypt; print(bcrypt.hashpw(b'$password', bcrypt.gensalt(rounds=4)).decode())")" >"$work/htpasswd"
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/data}}
http: {addr: $registry}
auth: {htpasswd: {realm: bench, path: $work/htpasswd}}
EOF
printf '[[registry]]\nlocation = "%s"\ninsecure = true\n' "$registry" >"$work/registries.conf"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 & pids+=($!)
CONTAINERS_REGISTRIES_CONF=$work/registries.conf podman --root "$work/storage" --runroot "$work/run" \
  system service --time=0 "unix://$work/podman.sock" >"$work/podman.log" 2>&1 & pids+=($!)
"$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
wait_for registry http_up "http://$registry/v2/"
wait_for moto http_up "http://127.0.0.1:$moto_port/moto-api/"
wait_for podman test -S "$work/podman.sock"

export DOCKER_HOST=unix://$work/podman.sock AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_EC2_METADATA_DISABLED=true
export SOURCE_DATE_EPOCH=1700000000 SLIPWAY_REGISTRY=$registry
cat >"$work/slipway.yml" <<EOF
app: bench
environments:
  dev:
    aws: {role_arn: "arn:aws:iam::123456789012:role/deploy", region: us-east-1}
  prod:
    aws: {role_arn: "arn:aws:iam::123456789012:role/deploy", region: us-east-1}
EOF
sha=0123456789abcdef0123456789abcdef01234567

make_context() { # name, size
  mkdir -p "$work/$1"
  head -c "$2" /dev/urandom >"$work/$1/payload.bin"
  printf 'FROM scratch\nCOPY payload.bin /payload.bin\n' >"$work/$1/Dockerfile"
}
build() { # context, extra flags...; prints the JSON outcome
  local ctx=$1; shift
  "$slipway" "$work/$ctx" --config "$work/slipway.yml" --repository "bench-$ctx" --sha "$sha" --output json "$@" 2>>"$work/slipway.log"
}
field() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }
median() { sort -n | awk '{a[NR]=$1} END {printf "%.3f", (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

declare -A result
for ctx in small big; do
  case $ctx in small) make_context small 1024 ;; big) make_context big $((50 * 1024 * 1024)) ;; esac
  build "$ctx" --environment dev --create-repository >/dev/null
  push=(); whole=(); podman_push=(); tag=(); promote=()
  for i in $(seq "$runs"); do
    t0=$(now); json=$(build "$ctx" --environment dev --rebuild); t=$(since "$t0")
    [ "$(field action <<<"$json")" = built ] || { echo "bench-build: --rebuild did not build" >&2; exit 1; }
    push+=("$(field seconds.push <<<"$json")"); whole+=("$t")
    t0=$(now)
    pod push -q --tls-verify=false --creds "AWS:$password" "$registry/bench-$ctx:sha-0123456" >/dev/null
    podman_push+=("$(since "$t0")")
    t0=$(now); json=$(build "$ctx" --environment prod --app-version "v1.$i.0"); t=$(since "$t0")
    [ "$(field action <<<"$json")" = promoted ] || { echo "bench-build: the second run did not promote" >&2; exit 1; }
    tag+=("$(field seconds.tag <<<"$json")"); promote+=("$t")
  done
  result[$ctx.push]=$(printf '%s\n' "${push[@]}" | median)
  result[$ctx.whole]=$(printf '%s\n' "${whole[@]}" | median)
  result[$ctx.podman]=$(printf '%s\n' "${podman_push[@]}" | median)
  result[$ctx.tag]=$(printf '%s\n' "${tag[@]}" | median)
  result[$ctx.promote]=$(printf '%s\n' "${promote[@]}" | median)
  result[$ctx.ratio]=$(awk -v a="${result[$ctx.push]}" -v b="${result[$ctx.podman]}" 'BEGIN { printf "%.2f", a / b }')
done

printf '\nslipway-build benchmark (median of %s runs, seconds; debug build, testbed on this machine)\n\n' "$runs"
printf '%-44s %12s %12s\n' "" "1 KB image" "50 MB image"
row() { printf '%-44s %12s %12s\n' "$1" "${result[small.$2]}" "${result[big.$2]}"; }
row "re-push unchanged: slipway push phase" push
row "re-push unchanged: podman push" podman
row "  ratio slipway/podman (target <= 1.10)" ratio
row "re-push unchanged: slipway whole run" whole
row "promote: slipway tagging phase" tag
row "promote: slipway whole run" promote
