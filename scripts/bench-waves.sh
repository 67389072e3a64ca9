#!/usr/bin/env bash
# Benchmark of a wave of 1, 3 and 5 regions on the simulated cloud (each region its own
# cloud, a 4-instance surge, then the wave's 10-minute bake): the wave's wall time in
# virtual time against the 1-region wave's (target: 5 regions <= 1.1x), the real time the
# process took, and each region's API calls and busiest minute (bounded per region: each
# region has its own clients and pacing). Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --quiet --bin slipway-roll
roll=target/debug/slipway-roll
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
all=(us-east-1 eu-west-1 ap-southeast-2 us-west-2 eu-central-1)
declare -A wall
printf '%-8s %-14s %-14s %-10s %-12s %s\n' regions "wave (virtual)" "slowest region" "real" "api calls" "busiest minute per region"
for n in 1 3 5; do
  regions=("${all[@]:0:n}")
  {
    printf 'app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: web\n    regions:\n'
    for r in "${regions[@]}"; do printf '      - region: %s\n' "$r"; done
    # An environment of one region rolls without waves: for n = 1 a second wave
    # (sa-east-1) makes it a roll of waves too, and only wave 1 is measured.
    if [ "$n" -eq 1 ]; then printf '      - region: sa-east-1\n'; fi
    listed=$(IFS=,; echo "${regions[*]}")
    printf '    waves:\n      - regions: [%s]\n        bake: 10m\n' "${listed//,/, }"
    if [ "$n" -eq 1 ]; then printf '      - regions: [sa-east-1]\n'; fi
  } > "$dir/slipway.yml"
  start=$(date +%s.%N)
  "$roll" --config "$dir/slipway.yml" --environment stage \
    --sha 0123456789abcdef0123456789abcdef01234567 --simulate --output json \
    2>/dev/null > "$dir/out.json" || true
  end=$(date +%s.%N)
  read -r wave slowest calls busiest < <(jq -r '[.regions[] | select(.wave == 1)] as $w
    | "\([$w[].seconds] | max) \([$w[].seconds] | max) \([$w[].api_calls] | add) \([$w[].api_calls_busiest_minute] | map(tostring) | join(","))"' "$dir/out.json")
  wall[$n]=$wave
  printf '%-8s %-14s %-14s %-10s %-12s %s\n' "$n" "${wave}s" "${slowest}s" "$(echo "$end - $start" | bc | cut -c1-5)s" "$calls" "$busiest"
done
echo "5-region wave / 1-region wave: $(echo "scale=3; ${wall[5]} / ${wall[1]}" | bc)x (target <= 1.1x)"
