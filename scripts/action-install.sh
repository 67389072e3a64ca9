#!/usr/bin/env bash
# Step one of action.yml: puts the slipway binaries on the runner.
#
# Release refs (v1.2.3) download the archive for this runner's OS and architecture
# from the release, check its sha256 against the release's checksums file and fail
# closed when it does not match or cannot be checked; the result is kept in the
# runner's tool cache. A ref without a release (a branch or a commit, or `version:
# source`) builds the action's own source with cargo.
#
# Everything comes in through the environment, never through the command line:
#   SLIPWAY_INPUT_VERSION   the action's `version` input: a release tag, `source`, or empty
#   SLIPWAY_RELEASE         the release when the input is empty: set it once in a
#                           workflow's or job's `env:` for every slipway step
#   SLIPWAY_ACTION_REF      the ref the action was used at (github.action_ref)
#   SLIPWAY_ACTION_REPO     the action's repository, owner/name (github.action_repository)
#   SLIPWAY_RELEASE_URL     base URL of the releases' downloads (default:
#                           $GITHUB_SERVER_URL/$SLIPWAY_ACTION_REPO/releases/download);
#                           the version is appended as a path segment
#   GITHUB_ACTION_PATH      the action's checkout (the source fallback builds it)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_PATH
# Outputs: bin-dir, version, source (release, cache or build).
set -euo pipefail

die() {
  echo "::error title=slipway install::$*" >&2
  exit 1
}

action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
repo=${SLIPWAY_ACTION_REPO:-}
[ -n "$repo" ] || repo=slipway-dev/slipway
version=${SLIPWAY_INPUT_VERSION:-}
[ -n "$version" ] || version=${SLIPWAY_RELEASE:-}
[ -n "$version" ] || version=${SLIPWAY_ACTION_REF:-${GITHUB_ACTION_REF:-}}
tool_cache=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/tool-cache}
temp=${RUNNER_TEMP:-${TMPDIR:-/tmp}}

case "${RUNNER_OS:-$(uname -s)}:${RUNNER_ARCH:-$(uname -m)}" in
  Linux:X64 | Linux:x86_64) target=x86_64-unknown-linux-musl ;;
  Linux:ARM64 | Linux:aarch64) target=aarch64-unknown-linux-musl ;;
  macOS:X64 | Darwin:x86_64) target=x86_64-apple-darwin ;;
  macOS:ARM64 | Darwin:arm64) target=aarch64-apple-darwin ;;
  *) target="" ;;
esac

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

finish() { # bin_dir source
  [ -x "$1/slipway-env" ] || die "no slipway-env in $1 after installing"
  if [ -n "${GITHUB_PATH:-}" ]; then
    printf '%s\n' "$1" >>"$GITHUB_PATH"
  fi
  output bin-dir "$1"
  output version "$version"
  output source "$2"
  echo "slipway $version ($2): $1" >&2
  exit 0
}

build_from_source() { # why
  echo "::notice title=slipway install::$1; building slipway from the action's source with cargo" >&2
  [ -f "$action_path/Cargo.toml" ] || die "no Cargo.toml in $action_path to build from"
  command -v cargo >/dev/null || die "cargo is not installed; install a Rust toolchain before this step or use a released version (version: v1.2.3)"
  local root="$temp/slipway-source"
  cargo install --locked --quiet --path "$action_path" --root "$root" --bins >&2 \
    || die "cargo install from $action_path failed"
  version=source
  finish "$root/bin" build
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | awk '{print $1}'
  else
    shasum -a 256 "$1" | awk '{print $1}'
  fi
}

# download URL FILE: 0 done, 4 the file does not exist (no release), 1 any other failure.
download() {
  local code rc=0
  code=$(curl --proto '=https,file' --tlsv1.2 -sSL --fail --retry 5 --retry-delay 2 --retry-connrefused \
    --connect-timeout 20 -w '%{http_code}' -o "$2" "$1") || rc=$?
  [ $rc -eq 0 ] && return 0
  # 404 from a server, or a file:// path that is missing (curl 37).
  if [ "$code" = "404" ] || [ $rc -eq 37 ]; then return 4; fi
  return 1
}

case "$version" in
  source | "") build_from_source "no release version given (action ref ${SLIPWAY_ACTION_REF:-unknown})" ;;
  v[0-9]*) ;;
  *) build_from_source "ref $version is not a release" ;;
esac
[[ "$version" =~ ^v[0-9][0-9A-Za-z.+-]*$ ]] || die "version $version is not a release tag such as v1.2.3"
[ -n "$target" ] || die "no slipway release for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; use version: source to build it"

cache_dir="$tool_cache/slipway/${version#v}/$target"
if [ -f "$cache_dir.complete" ] && [ -x "$cache_dir/bin/slipway-env" ]; then
  finish "$cache_dir/bin" cache
fi

base=${SLIPWAY_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download}
archive="slipway-$version-$target.tar.gz"
sums="slipway-$version-sha256sums.txt"
work=$(mktemp -d "$temp/slipway-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

rc=0
download "$base/$version/$sums" "$work/$sums" || rc=$?
if [ $rc -eq 4 ]; then
  build_from_source "release $version has no $sums"
elif [ $rc -ne 0 ]; then
  die "cannot download $base/$version/$sums, so $archive cannot be checked; refusing to install"
fi
expected=$(awk -v name="$archive" '$2 == name || $2 == "*" name {print $1}' "$work/$sums")
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "$sums has no single sha256 for $archive; refusing to install"

download "$base/$version/$archive" "$work/$archive" || die "cannot download $base/$version/$archive"
actual=$(sha256_of "$work/$archive")
if [ "$actual" != "$expected" ]; then
  rm -f "$work/$archive"
  die "sha256 of $archive is $actual, but $sums says $expected; refusing to install"
fi
echo "sha256 of $archive verified: $actual" >&2

mkdir "$work/x"
tar -xzf "$work/$archive" -C "$work/x"
rm -rf "$cache_dir"
mkdir -p "$cache_dir/bin"
if [ -f "$work/x/slipway" ] && [ -x "$work/x/slipway" ]; then
  # One program: the command names are links to it (it looks at the name it runs as).
  cp -p "$work/x/slipway" "$cache_dir/bin/slipway"
  for name in env build bake roll wait; do
    ln -sf slipway "$cache_dir/bin/slipway-$name"
  done
else
  # Releases before the one program shipped the five binaries.
  [ -x "$work/x/slipway-env" ] || die "$archive holds neither slipway nor slipway-env"
  find "$work/x" -maxdepth 1 -type f -name 'slipway-*' -exec cp -p {} "$cache_dir/bin/" \;
fi
touch "$cache_dir.complete"
finish "$cache_dir/bin" release
