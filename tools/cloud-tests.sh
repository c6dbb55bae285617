#!/usr/bin/env bash
# Run tests/cloud against a real, minimal OpenStack: set up and start the mini-openstack
# (../shared/mini-openstack: setup.sh, run.sh) while the amphora image is built
# (tools/amphora-image/build.sh, into build/amphora-image, unless OTTAVA_AMPHORA_IMAGE names a
# built one), run the tests with OTTAVA_REQUIRE_CLOUD=1 (a cloud or image that is not there
# fails them instead of skipping them), and stop the mini-openstack with its stop.sh on every
# exit, success, failure or interrupt. Fails loudly on any error. QEMU, genisoimage (Nova's
# config drive) and dnsmasq (DHCP on the management network) are installed if missing.
# Usage: tools/cloud-tests.sh [pytest arguments]   (from anywhere; MOS_DIR overrides where
# the mini-openstack's scripts are; its state root is theirs, /tmp/mini-openstack by default)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mos="${MOS_DIR:-$root/../shared/mini-openstack}"

die() { echo "cloud-tests: $*" >&2; exit 1; }

for script in setup.sh run.sh stop.sh; do
  [ -x "$mos/$script" ] || die "missing $mos/$script (set MOS_DIR)"
done
[ -x "$root/.venv/bin/pytest" ] || die "missing $root/.venv (install the project first)"

image_pid=""
stop_cloud() {
  local rc=$?
  trap - EXIT
  if [ -n "$image_pid" ] && kill -0 "$image_pid" 2>/dev/null; then
    echo "cloud-tests: stopping the image build" >&2
    kill -- "-$image_pid" 2>/dev/null || kill "$image_pid" 2>/dev/null || true
    wait "$image_pid" 2>/dev/null || true
  fi
  echo "cloud-tests: stopping the mini-openstack" >&2
  if ! "$mos/stop.sh"; then
    echo "cloud-tests: $mos/stop.sh failed" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
  [ "$rc" -eq 0 ] || echo "cloud-tests: FAILED (exit $rc)" >&2
  exit "$rc"
}
mkdir -p "$root/build"
trap stop_cloud EXIT
# An interrupt ends the script through the EXIT trap, which stops the cloud.
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything both parallel steps would install, installed here first: two apt-get at once
# would fight over dpkg's lock.
missing=""
for p in qemu-system-x86 qemu-utils genisoimage dnsmasq-base mmdebstrap e2fsprogs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) \
    >/dev/null || die "could not install$missing"
fi

started=$SECONDS
if [ -z "${OTTAVA_AMPHORA_IMAGE:-}" ]; then
  command -v uv >/dev/null 2>&1 || [ -x "$HOME/.local/bin/uv" ] || [ -n "${UV:-}" ] \
    || die "uv is missing (the image build makes Ottava's wheel with it: make install)"
  export OTTAVA_AMPHORA_IMAGE="$root/build/amphora-image"
  # Built beside the cloud's start (mostly downloads and disk): both are needed before the
  # tests, neither needs the other. In a process group of its own, so that stop_cloud can
  # stop all of it.
  set -m
  bash "$root/tools/amphora-image/build.sh" "$OTTAVA_AMPHORA_IMAGE" \
    > "$root/build/amphora-image.log" 2>&1 &
  image_pid=$!
  set +m
fi
"$mos/setup.sh" || die "$mos/setup.sh failed"
"$mos/run.sh" || die "$mos/run.sh failed (logs: /tmp/mini-openstack/logs)"
echo "cloud-tests: mini-openstack up in $((SECONDS - started)) s" >&2
if [ -n "$image_pid" ]; then
  wait "$image_pid" || { tail -30 "$root/build/amphora-image.log" >&2; die "image build failed"; }
  tail -1 "$root/build/amphora-image.log" >&2
fi

cd "$root"
OTTAVA_REQUIRE_CLOUD=1 .venv/bin/pytest -q tests/cloud "$@"
