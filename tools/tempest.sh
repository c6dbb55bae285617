#!/usr/bin/env bash
# Octavia's conformance suite (tempest + octavia-tempest-plugin) against `ottava standalone
# --noop` with `auth_strategy = keystone` and a real Keystone (tools/keystone.py), the way
# the upstream octavia-tempest-plugin gate runs it. For each RBAC mode it starts a fresh
# Ottava with the policy settings that mode needs, writes tempest.conf, runs the tests and
# prints passed/failed/skipped per test class (tests/tempest/summarise.py).
#
# Usage: tools/tempest.sh [--mode MODE[,MODE...]] [--regex REGEX] [--concurrency N]
#                         [--workdir DIR] [--no-ipv6]
#   MODE: none, advanced, keystone_default_roles (default: all three, in that order)
#   REGEX: tempest's test regex (default: ^octavia_tempest_plugin.tests.api.v2)
#        tools/tempest.sh --ci   the representative subset CI runs (about 55 tests of every
#                                kind of object, in the keystone_default_roles and advanced
#                                modes; a few minutes)
# Exits non-zero when a test failed, or when nothing ran. Logs and results stay in the work
# folder (printed at the end): tempest.log has every request and response.
set -euo pipefail

# Everything runs inside main, so bash has read the whole file before it starts: a run
# (they take a while) is not disturbed by edits to this file.
main() {

root="$(cd "$(dirname "$0")/.." && pwd)"
modes="none,advanced,keystone_default_roles"
regex='^octavia_tempest_plugin.tests.api.v2'
concurrency=2
workdir=""
ipv6=true

# CI's subset: the small classes whole, and create/show/list/update/delete of listeners,
# pools, members and health monitors for one protocol, so every route and the RBAC checks
# of every kind of object run.
ci_regex='^octavia_tempest_plugin\.tests\.api\.v2\.(test_provider\.|test_load_balancer\.'
ci_regex+='|test_flavor|test_availability_zone'
ci_regex+='|test_listener\.ListenerAPITest\.test_http_listener_(create|show|list|update|delete)\b'
ci_regex+='|test_pool\.PoolAPITest\.test_HTTP_RR_pool_'
ci_regex+='|test_member\.MemberAPITest1\.test_(ipv4_HTTP_RR_member_create|HTTP_RR_member_list)\b'
ci_regex+='|test_member\.MemberAPITest2\.test_HTTP_RR_member_'
ci_regex+='|test_healthmonitor\.HealthMonitorAPITest\.test_RR_HTTP_healthmonitor_'
ci_regex+='|test_l7policy\.|test_l7rule\.|test_amphora\.'
ci_regex+='|test_member\.MemberAPITest1\.test_ipv6_HTTP_RR_member_create\b)'

die() { echo "tempest: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --mode) modes="$2"; shift 2 ;;
    --regex) regex="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    --no-ipv6) ipv6=false; shift ;;
    --ci) modes="keystone_default_roles,advanced"; regex="$ci_regex"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
for m in ${modes//,/ }; do
  case "$m" in none|advanced|keystone_default_roles) ;; *) die "unknown mode $m" ;; esac
done

# Tempest's and Keystone's venvs must see only their own packages, not ours.
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
for v in $(env | sed -n 's/^\(OS_[A-Za-z_]*\)=.*/\1/p'); do unset "$v"; done

# TEMPEST_VENV: another venv holding tempest and the plugin (e.g. a locally patched plugin,
# to see past a failure while diagnosing); it must hold the same pins.
tvenv="${TEMPEST_VENV:-$root/.venv-tempest}"
reqs="$root/tools/tempest-requirements.txt"
stamp="$tvenv/.tempest-requirements"
ottava="$root/.venv/bin/ottava"
python="${PYTHON:-python3}"
advanced_policy="$root/etc/policy/ottava-advanced-rbac-policy.yaml"
[ -x "$ottava" ] || die "$ottava missing: run make install first"
[ -f "$advanced_policy" ] || die "$advanced_policy missing"

# -- the tempest venv, installed on demand like .venv-compat ------------------------------
if ! { [ -x "$tvenv/bin/tempest" ] && [ -f "$stamp" ] && cmp -s "$reqs" "$stamp"; }; then
  log "installing tempest and octavia-tempest-plugin into $tvenv"
  [ -x "$tvenv/bin/python" ] || "$python" -m venv "$tvenv" || die "could not create $tvenv"
  # pip's output goes to a log that is shown only when it fails (it warns a lot here).
  "$tvenv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" \
    >"$tvenv/pip.log" 2>&1 || { tail -40 "$tvenv/pip.log" >&2; die "pip install -r $reqs failed"; }
  "$tvenv/bin/tempest" --version >/dev/null || die "$tvenv/bin/tempest does not run"
  "$tvenv/bin/python" -c "import octavia_tempest_plugin, subunit" \
    || die "cannot import octavia_tempest_plugin"
  cp "$reqs" "$stamp"
fi
"$python" "$root/tools/keystone.py" venv >/dev/null || die "could not install Keystone"
tempest_pkg="$("$tvenv/bin/python" -c 'import os, tempest; print(os.path.dirname(tempest.__file__))')"

# -- a work folder, and the processes we start, stopped by PID whatever happens ----------
if [ -z "$workdir" ]; then workdir="$(mktemp -d -t ottava-tempest.XXXXXX)"; fi
mkdir -p "$workdir"
workdir="$(cd "$workdir" && pwd)"
ottava_pid=""
keystone_started=""

stop_ottava() {
  [ -n "$ottava_pid" ] || return 0
  if kill -0 "$ottava_pid" 2>/dev/null; then
    kill -TERM "$ottava_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$ottava_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$ottava_pid" 2>/dev/null && kill -KILL "$ottava_pid" 2>/dev/null || true
  fi
  wait "$ottava_pid" 2>/dev/null || true
  ottava_pid=""
}
cleanup() {
  stop_ottava
  if [ -n "$keystone_started" ]; then
    "$python" "$root/tools/keystone.py" stop "$workdir/keystone" || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {  # url seconds what
  for _ in $(seq 1 $(( $2 * 5 ))); do
    [ -n "$ottava_pid" ] && ! kill -0 "$ottava_pid" 2>/dev/null && return 1
    curl -sf -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.2
  done
  return 1
}

# -- Keystone, with what tempest and Ottava need in it -----------------------------------
log "starting Keystone in $workdir/keystone"
keystone_started=1
eval "$("$python" "$root/tools/keystone.py" start "$workdir/keystone")"
ks() { "$python" "$root/tools/keystone.py" "$@"; }
# Tempest creates none of these roles; it fails with 'No "<role>" role found' without them.
ks roles "$workdir/keystone" admin member reader service manager \
  load-balancer_admin load-balancer_observer load-balancer_global_observer \
  load-balancer_member load-balancer_quota_admin
api_port="$(free_port)"
net_port="$(free_port)"
km_port="$(free_port)"
api_url="http://127.0.0.1:$api_port"
# Ottava's own service user: keystonemiddleware validates callers' tokens with it.
ks user "$workdir/keystone" ottava ottava-secret service service admin
ks service "$workdir/keystone" load-balancer octavia "$api_url"

# -- per mode: Ottava's policy settings and tempest's role settings ----------------------
write_ottava_conf() {  # mode file
  local new_defaults=true policy_file=""
  if [ "$1" = advanced ]; then
    # Octavia's "advanced RBAC": only the load-balancer_* roles count, as the plugin expects
    # (peers.md addendum: the new defaults must be off, or member-only users get through).
    new_defaults=false
    policy_file="policy_file = $advanced_policy"
  fi
  cat > "$2" <<EOF
[api_settings]
auth_strategy = keystone

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL/v3
auth_url = $KEYSTONE_URL/v3
auth_type = password
username = ottava
password = ottava-secret
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne
service_token_roles_required = true

[oslo_policy]
# Tempest asks with project-scoped tokens ([enforce_scope] octavia = false below).
enforce_scope = false
enforce_new_defaults = $new_defaults
$policy_file
EOF
}

write_tempest_conf() {  # mode file
  local admin_role=admin
  # Only the advanced mode tests the load-balancer_admin role; in the other modes tempest's
  # lb_admin must hold a role the default policy treats as admin (peers.md addendum).
  [ "$1" = advanced ] && admin_role=load-balancer_admin
  cat > "$2" <<EOF
[DEFAULT]
log_file = tempest.log
debug = true

[oslo_concurrency]
lock_path = $mdir/ws/lock

[auth]
use_dynamic_credentials = true
admin_username = admin
admin_password = secret
admin_project_name = admin
admin_domain_name = Default
create_isolated_networks = false

[identity]
uri_v3 = $KEYSTONE_URL/v3
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false

[service_available]
load_balancer = true
neutron = false
nova = false
glance = false
cinder = false
swift = false
barbican = false

[network]
# Without this (or a public network) every plugin class skips itself.
project_networks_reachable = true

[validation]
run_validation = false

[enforce_scope]
octavia = false

[load_balancer]
catalog_type = load-balancer
endpoint_type = publicURL
test_with_noop = true
test_with_ipv6 = $ipv6
provider = octavia
RBAC_test_type = $1
admin_role = $admin_role
enabled_provider_drivers = amphora:The Octavia Amphora driver.,octavia:Deprecated alias of the Octavia Amphora driver.
loadbalancer_topology = SINGLE
build_interval = 0.5
check_interval = 0.5
lb_build_interval = 0.5
build_timeout = 60
check_timeout = 60
lb_build_timeout = 60
availability_zone = bogus-az-1
availability_zone2 = bogus-az-2
availability_zone3 = bogus-az-3

[loadbalancer-feature-enabled]
not_implemented_is_error = true
EOF
}

status=0
summaries=()
timings=()
for mode in ${modes//,/ }; do
  mdir="$workdir/$mode"
  rm -rf "$mdir"
  mkdir -p "$mdir/state"
  write_ottava_conf "$mode" "$mdir/ottava.conf"
  log "[$mode] starting ottava standalone --noop on $api_url"
  (cd "$mdir" && exec "$ottava" standalone --noop --debug --config-file "$mdir/ottava.conf" \
     --state-dir "$mdir/state" --bind "127.0.0.1:$api_port" \
     --network-api-bind "127.0.0.1:$net_port" \
     --key-manager-api-bind "127.0.0.1:$km_port") >"$mdir/ottava.log" 2>&1 &
  ottava_pid=$!
  wait_http "$api_url/" 90 || { tail -50 "$mdir/ottava.log" >&2; die "[$mode] ottava did not start"; }

  # The workspace by hand, not `tempest init`: that one registers every workspace by name
  # in ~/.tempest/workspace.yaml and refuses a name it has seen. `tempest run` reads
  # ./etc/tempest.conf and ./.stestr.conf.
  mkdir -p "$mdir/ws/etc" "$mdir/ws/lock"
  printf '[DEFAULT]\ntest_path=%s\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' \
    "$tempest_pkg/test_discover" "$tempest_pkg" >"$mdir/ws/.stestr.conf"
  write_tempest_conf "$mode" "$mdir/ws/etc/tempest.conf"
  log "[$mode] tempest run --concurrency $concurrency --regex '$regex'"
  started=$(date +%s)
  rc=0
  (cd "$mdir/ws" && "$tvenv/bin/tempest" run --concurrency "$concurrency" --regex "$regex") \
    >"$mdir/tempest-run.txt" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - started ))
  tail -5 "$mdir/tempest-run.txt" >&2
  stop_ottava

  src=0
  (cd "$mdir/ws" && "$tvenv/bin/stestr" last --subunit) >"$mdir/results.subunit" 2>/dev/null || true
  "$tvenv/bin/python" "$root/tests/tempest/summarise.py" --title "$mode" \
    --failures "$mdir/failures.txt" --skips "$mdir/skips.txt" "$mdir/results.subunit" \
    >"$mdir/summary.txt" || src=$?
  echo
  echo "### RBAC_test_type = $mode (${elapsed}s, tempest exit $rc)"
  cat "$mdir/summary.txt"
  summaries+=("$(tail -1 "$mdir/summary.txt")")
  timings+=("$mode: ${elapsed}s")
  if [ "$rc" -ne 0 ] || [ "$src" -ne 0 ]; then status=1; fi
done

echo
echo "### totals (Ottava at $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown);" \
  "regex $regex; details in $workdir/<mode>/{summary,failures,skips}.txt)"
printf '%s\n' "${timings[@]}"
printf '%s\n' "${summaries[@]}"
exit "$status"
}

main "$@"
