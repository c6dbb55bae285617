#!/usr/bin/env bash
# Create .venv-compat with the real OpenStack clients pinned in tools/compat-requirements.txt.
# Idempotent: does nothing when the venv already holds exactly those pins.
# Usage: tools/compat-venv.sh   (from anywhere; honours PYTHON=/path/to/python3)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv-compat"
reqs="$root/tools/compat-requirements.txt"
stamp="$venv/.compat-requirements"
python="${PYTHON:-python3}"

die() { echo "compat-venv: $*" >&2; exit 1; }

# The clients' venv must see only its own packages, not ours.
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV

[ -f "$reqs" ] || die "missing $reqs"

if [ -x "$venv/bin/python" ] && [ -x "$venv/bin/openstack" ] && [ -f "$stamp" ] \
   && cmp -s "$reqs" "$stamp" \
   && "$venv/bin/python" -m pip check >/dev/null 2>&1; then
  exit 0
fi

echo "compat-venv: installing the OpenStack clients into $venv" >&2
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv" || die "could not create $venv (is python3-venv installed?)"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" \
  || die "pip install -r $reqs failed"
"$venv/bin/python" -m pip check || die "inconsistent dependencies in $venv"
"$venv/bin/openstack" --version >/dev/null || die "$venv/bin/openstack does not run"
"$venv/bin/python" -c "import openstack, octaviaclient, barbicanclient, castellan" \
  || die "cannot import the clients"
cp "$reqs" "$stamp"
echo "compat-venv: ready" >&2
