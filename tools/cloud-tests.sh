#!/usr/bin/env bash
# Run tests/cloud against a real, minimal OpenStack: set up and start the mini-openstack
# (../shared/mini-openstack: setup.sh, run.sh), run the tests with OTTAVA_REQUIRE_CLOUD=1 (a
# cloud that is not there fails them instead of skipping them), and stop the mini-openstack
# with its stop.sh on every exit, success, failure or interrupt. Fails loudly on any error.
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

stop_cloud() {
  local rc=$?
  trap - EXIT
  echo "cloud-tests: stopping the mini-openstack" >&2
  if ! "$mos/stop.sh"; then
    echo "cloud-tests: $mos/stop.sh failed" >&2
    [ "$rc" -ne 0 ] || rc=1
  fi
  [ "$rc" -eq 0 ] || echo "cloud-tests: FAILED (exit $rc)" >&2
  exit "$rc"
}
trap stop_cloud EXIT
# An interrupt ends the script through the EXIT trap, which stops the cloud.
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
"$mos/setup.sh" || die "$mos/setup.sh failed"
"$mos/run.sh" || die "$mos/run.sh failed (logs: /tmp/mini-openstack/logs)"
echo "cloud-tests: mini-openstack up in $((SECONDS - started)) s" >&2

cd "$root"
OTTAVA_REQUIRE_CLOUD=1 .venv/bin/pytest -q tests/cloud "$@"
