#!/usr/bin/env bash
# Benchmark: slipway-bake's overhead over `packer build` alone, on the same template,
# against moto's EC2 (see TESTBED.md). Not a test: it prints figures, target within 5%.
#
#   scripts/bench-bake.sh [RUNS]      (default 10 runs of each, interleaved)
#   BENCH_BUILD_SECONDS=10 scripts/bench-bake.sh 3
#                                     a build that lasts like a (very short) real one:
#                                     a shell-local provisioner sleeps that long
#
# slipway-bake runs here as it does in a workflow: version check, `packer validate`,
# credentials (STS), the search for an AMI of the commit (skipped by --rebake so every
# run bakes), the build, tagging and a new launch template version.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
testbed=${SLIPWAY_TESTBED:-$root/target/testbed}
runs=${1:-10}
build_seconds=${BENCH_BUILD_SECONDS:-0}
moto_server=$testbed/venv/bin/moto_server
command -v packer >/dev/null || { echo "packer is missing: run scripts/testbed.sh" >&2; exit 1; }
[ -x "$moto_server" ] || { echo "$moto_server is missing: run scripts/testbed.sh" >&2; exit 1; }

(cd "$root" && cargo build --quiet --bin slipway-bake)
bake=$root/target/debug/slipway-bake

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null; rm -rf "$work"' EXIT
endpoint=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$endpoint/moto-api/" >/dev/null && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL=$endpoint AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# moto reads the region from the signature's credential scope.
curl -sf "$endpoint/" -H 'Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0' -d 'Action=CreateLaunchTemplate&Version=2016-11-15&LaunchTemplateName=bench&LaunchTemplateData.ImageId=ami-03cf127a' >/dev/null

cat >"$work/ami.pkr.hcl" <<HCL
variable "commit" {
  type    = string
  default = "none"
}
variable "suffix" {
  type = string
}
source "amazon-ebs" "web" {
  region                     = "us-east-1"
  source_ami                 = "ami-03cf127a"
  instance_type              = "t3.micro"
  ami_name                   = "bench-\${var.suffix}-{{timestamp}}"
  communicator               = "none"
  custom_endpoint_ec2        = "$endpoint"
  skip_metadata_api_check    = true
  skip_credential_validation = true
  skip_region_validation     = true
}
build {
  sources = ["source.amazon-ebs.web"]
  provisioner "shell-local" {
    inline = ["sleep $build_seconds"]
  }
}
HCL
cat >"$work/slipway.yml" <<YML
app: bench
environments:
  dev:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: us-east-1
    asg:
      name: bench
      launch_template: bench
YML

now_ms() { date +%s%3N; }
packer_ms=()
bake_ms=()
cd "$work"
for i in $(seq "$runs"); do
  t0=$(now_ms)
  packer build -machine-readable -color=false -var "suffix=p$i" ami.pkr.hcl >/dev/null
  t1=$(now_ms)
  "$bake" --environment dev --sha 0123456789abcdef0123456789abcdef01234567 --template ami.pkr.hcl \
    --rebake --var "suffix=s$i" >/dev/null 2>"$work/bake.log" || { cat "$work/bake.log" >&2; exit 1; }
  t2=$(now_ms)
  packer_ms+=($((t1 - t0)))
  bake_ms+=($((t2 - t1)))
done

stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1; s+=$1} END {printf "%d %d", v[int((NR+1)/2)], s/NR}'; }
read -r p_med p_mean <<<"$(stats "${packer_ms[@]}")"
read -r b_med b_mean <<<"$(stats "${bake_ms[@]}")"
echo "runs: $runs each, interleaved, against moto on $endpoint, provisioner sleeps ${build_seconds}s"
echo "packer build alone : median ${p_med} ms, mean ${p_mean} ms  (${packer_ms[*]})"
echo "slipway-bake       : median ${b_med} ms, mean ${b_mean} ms  (${bake_ms[*]})"
awk -v p="$p_med" -v b="$b_med" 'BEGIN {printf "overhead (median)  : %+d ms, %+.1f%% (target: within 5%%)\n", b - p, (b - p) * 100 / p}'
