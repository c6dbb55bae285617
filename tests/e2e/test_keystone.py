"""End to end with a real Keystone: the `openstack loadbalancer` CLI with password auth,
through Keystone's catalog, against `ottava standalone --noop` with auth_strategy = keystone.

Keystone (PyPI, in .venv-keystone; SQLite and fernet keys in a temporary folder, served by
gunicorn on loopback) is started by tools/keystone.py. Through its v3 API this module creates
two projects, their users and the load-balancer roles, Ottava's service user, and the
`load-balancer` and `network` services with endpoints at the standalone's API and its
Neutron-compatible endpoint. The clients come from .venv-compat (tools/compat-venv.sh).
The standalone's key manager sits behind the same token check; Ottava reads the certificates
stored there as its service user ([service_auth]).
Nothing here skips: a missing piece fails the test with its output.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from tests import certs
from tests.compat import conftest as compat

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "e2e-secret"
SERVICE_PASSWORD = "ottava-e2e-secret"
LB_ROLES = ["load-balancer_member", "load-balancer_observer", "load-balancer_global_observer",
            "load-balancer_admin", "member", "reader"]


def _load_launcher() -> ModuleType:
    """tools/keystone.py, imported under a name no installed package uses."""
    spec = importlib.util.spec_from_file_location("ottava_tools_keystone",
                                                  ROOT / "tools" / "keystone.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


launcher = _load_launcher()


@dataclass
class Cloud:
    keystone: Any  # tools/keystone.py's Keystone
    ottava: compat.Standalone
    projects: dict[str, str]  # name -> id


@pytest.fixture(scope="module")
def keystone() -> Iterator[Any]:
    folder = Path(tempfile.mkdtemp(prefix="ottava-keystone-"))
    try:
        ks = launcher.start(folder)
    except launcher.KeystoneError as e:
        pytest.fail(f"could not install or start Keystone:\n{e}")
    try:
        yield ks
    finally:
        launcher.stop(ks.pid)


def _start_ottava(ks: Any) -> Iterator[compat.Standalone]:
    """`ottava standalone --noop` with auth_strategy = keystone, stopped by PID at the end."""
    state = Path(tempfile.mkdtemp(prefix="ottava-e2e-keystone-"))
    log = state / "standalone.log"
    conf = state / "ottava.conf"
    api_port, net_port, km_port = launcher.free_port(), launcher.free_port(), launcher.free_port()
    conf.write_text(textwrap.dedent(f"""\
        [api_settings]
        auth_strategy = keystone

        [certificates]
        endpoint = http://127.0.0.1:{km_port}

        [service_auth]
        auth_url = {ks.auth_url}
        username = ottava
        password = {SERVICE_PASSWORD}
        project_name = service

        [keystone_authtoken]
        www_authenticate_uri = {ks.auth_url}
        auth_url = {ks.auth_url}
        auth_type = password
        username = ottava
        password = {SERVICE_PASSWORD}
        user_domain_name = Default
        project_name = service
        project_domain_name = Default
        region_name = {ks.region}
        """))
    cmd = [*compat._ottava_command(), "standalone", "--noop", "--debug",
           "--config-file", str(conf), "--bind", f"127.0.0.1:{api_port}",
           "--network-api-bind", f"127.0.0.1:{net_port}",
           "--key-manager-api-bind", f"127.0.0.1:{km_port}", "--state-dir", str(state)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    url, net = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{net_port}"
    try:
        compat._wait_up(proc, [url, net], log)
    except RuntimeError as e:
        compat._stop(proc)
        pytest.fail(str(e))
    try:
        yield compat.Standalone(url=url, network_url=net,
                                key_manager_url=f"http://127.0.0.1:{km_port}", state_dir=state,
                                pid=proc.pid, log=log)
    finally:
        compat._stop(proc)


@pytest.fixture(scope="module")
def cloud(keystone: Any, compat_venv: Path) -> Iterator[Cloud]:
    ks = keystone
    for role in [*LB_ROLES, "service", "admin"]:
        ks.role(role)
    projects = {name: ks.project(f"{name}-{uuid.uuid4().hex[:6]}")
                for name in ("alpha", "beta")}
    ks.user("alice", PASSWORD, projects["alpha"], ["member", "load-balancer_member"])
    ks.user("olga", PASSWORD, projects["alpha"], ["reader", "load-balancer_observer"])
    ks.user("bob", PASSWORD, projects["beta"], ["member", "load-balancer_member"])
    ks.user("ottava", SERVICE_PASSWORD, ks.project("service"), ["service", "admin"])
    for ottava in _start_ottava(ks):
        ks.service("load-balancer", "octavia", ottava.url)
        # The CLI builds a network proxy even for `loadbalancer list` (peers.md, section A).
        ks.service("network", "neutron", ottava.network_url)
        yield Cloud(keystone=ks, ottava=ottava, projects=projects)


@pytest.fixture(scope="module")
def compat_venv() -> Path:
    """.venv-compat with the pinned real clients (installed on first use)."""
    try:
        proc = subprocess.run(["bash", str(compat.COMPAT_SCRIPT)], cwd=ROOT,
                              capture_output=True, text=True, timeout=900,
                              env=compat._clean_env())
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"tools/compat-venv.sh timed out after {e.timeout}s")
    if proc.returncode != 0 or not compat.OPENSTACK.exists():
        pytest.fail(f"tools/compat-venv.sh failed (exit {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return compat.COMPAT_VENV


def openstack(cloud: Cloud, user: str, project: str, *args: str, ok: bool = True,
              json_out: bool = True) -> Any:
    """`openstack ARGS` as USER in PROJECT (a name), password auth through the catalog.
    With ok=True a failure fails the test; with ok=False the command must fail, and its
    stderr is returned."""
    ks = cloud.keystone
    env = compat._clean_env()
    env.update({
        "OS_AUTH_TYPE": "password", "OS_AUTH_URL": ks.auth_url, "OS_USERNAME": user,
        "OS_PASSWORD": ks.admin_password if user == ks.admin_user else PASSWORD,
        "OS_PROJECT_NAME": project, "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
        "OS_REGION_NAME": ks.region, "OS_INTERFACE": "public",
    })
    argv = [*args, "-f", "json"] if json_out and ok else list(args)
    cmd = [str(compat.OPENSTACK), "--debug", *argv]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=compat.CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"`openstack {' '.join(argv)}` timed out\n"
                             f"{cloud.ottava.log_tail()}") from e
    described = (f"`openstack {' '.join(argv)}` as {user}@{project} exited {proc.returncode}\n"
                 f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-5000:]}\n"
                 f"--- ottava log\n{cloud.ottava.log_tail(3000)}\n"
                 f"--- keystone log\n{ks.log_tail(1500)}")
    if not ok:
        assert proc.returncode != 0, f"should have failed:\n{described}"
        return proc.stderr
    assert proc.returncode == 0, described
    if not json_out:
        return proc.stdout
    try:
        return json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError as e:
        raise AssertionError(f"not JSON:\n{described}") from e


def project_name(cloud: Cloud, key: str) -> str:
    return str(cloud.keystone.api("GET", f"/v3/projects/{cloud.projects[key]}")["project"]
               ["name"])


def wait_active(url: str, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(url, headers={"X-Auth-Token": token}, timeout=30).json()
        if body["loadbalancer"]["provisioning_status"] == "ACTIVE":
            return
        assert time.monotonic() < deadline, f"not ACTIVE after {timeout}s: {body}"
        time.sleep(0.2)


def test_requests_without_a_valid_token_are_refused(cloud: Cloud) -> None:
    lbs = cloud.ottava.url + "/v2/lbaas/loadbalancers"
    assert requests.get(lbs, timeout=30).status_code == 401
    assert requests.get(lbs, headers={"X-Auth-Token": "not-a-token"},
                        timeout=30).status_code == 401
    # Version discovery needs no token: clients read it before they authenticate.
    assert requests.get(cloud.ottava.url + "/", timeout=30).status_code == 200
    # A real token, forged project headers: Ottava believes the token, not the headers.
    token = cloud.keystone.token("bob", PASSWORD, project_name(cloud, "beta"))
    resp = requests.post(lbs, timeout=30, headers={
        "X-Auth-Token": token, "X-Project-Id": cloud.projects["alpha"], "X-Roles": "admin"},
        json={"loadbalancer": {"name": "forged", "vip_subnet_id": compat.SUBNET_ID}})
    assert resp.status_code == 201, resp.text
    created = resp.json()["loadbalancer"]
    assert created["project_id"] == cloud.projects["beta"]
    wait_active(f"{lbs}/{created['id']}", token)
    delete = requests.delete(f"{lbs}/{created['id']}", headers={"X-Auth-Token": token},
                             timeout=30)
    assert delete.status_code == 204, delete.text


def test_cli_through_the_catalog_with_project_isolation(cloud: Cloud) -> None:
    alpha, beta = project_name(cloud, "alpha"), project_name(cloud, "beta")
    name = compat.unique("ks-lb")

    lb = openstack(cloud, "alice", alpha, "loadbalancer", "create", "--name", name,
                   "--vip-subnet-id", compat.SUBNET_ID, "--wait")
    assert lb["project_id"] == cloud.projects["alpha"], lb
    assert lb["provisioning_status"] == "ACTIVE", lb
    listed = openstack(cloud, "alice", alpha, "loadbalancer", "list")
    assert [x["id"] for x in listed if x["name"] == name] == [lb["id"]]
    shown = openstack(cloud, "alice", alpha, "loadbalancer", "show", lb["id"])
    assert shown["name"] == name and shown["project_id"] == cloud.projects["alpha"]
    assert shown["description"] == ""

    # Another project's member does not list it, and may not read it by id: Octavia answers
    # 403 there (its policy check targets the object's project; octavia-tempest-plugin's
    # RBAC tests expect Forbidden for lb_member2), and the CLI's name lookup finds nothing.
    assert lb["id"] not in {x["id"] for x in openstack(cloud, "bob", beta, "loadbalancer",
                                                       "list")}
    err = openstack(cloud, "bob", beta, "loadbalancer", "show", lb["id"], ok=False)
    assert "403" in err or "policy does not allow" in err.lower(), err
    err = openstack(cloud, "bob", beta, "loadbalancer", "set", "--description", "taken",
                    lb["id"], ok=False)
    assert "unable to locate" in err.lower(), err
    err = openstack(cloud, "bob", beta, "loadbalancer", "delete", lb["id"], ok=False)
    assert "unable to locate" in err.lower(), err
    # Straight at the API, past the CLI's lookups: refused, and nothing changed.
    bob = {"X-Auth-Token": cloud.keystone.token("bob", PASSWORD, beta)}
    one = f"{cloud.ottava.url}/v2/lbaas/loadbalancers/{lb['id']}"
    put = requests.put(one, headers=bob, json={"loadbalancer": {"description": "taken"}},
                       timeout=30)
    assert put.status_code == 403, put.text
    assert requests.delete(one, headers=bob, timeout=30).status_code == 403

    # An observer of the owning project reads it but may not create (403).
    observed = openstack(cloud, "olga", alpha, "loadbalancer", "show", lb["id"])
    assert observed["id"] == lb["id"] and observed["description"] == ""
    err = openstack(cloud, "olga", alpha, "loadbalancer", "create", "--name",
                    compat.unique("denied"), "--vip-subnet-id", compat.SUBNET_ID, ok=False)
    assert "403" in err or "forbidden" in err.lower() or "policy" in err.lower(), err
    assert name in {x["name"] for x in openstack(cloud, "olga", alpha, "loadbalancer", "list")}
    assert not [x for x in openstack(cloud, "alice", alpha, "loadbalancer", "list")
                if x["name"].startswith("denied-")], "the refused create left an object"

    # The cloud's admin sees every project's load balancers.
    ks = cloud.keystone
    every = openstack(cloud, ks.admin_user, ks.admin_project, "loadbalancer", "list")
    assert lb["id"] in {x["id"] for x in every}

    openstack(cloud, "alice", alpha, "loadbalancer", "delete", "--wait", lb["id"],
              json_out=False)
    err = openstack(cloud, "alice", alpha, "loadbalancer", "show", lb["id"], ok=False)
    assert "404" in err or "not found" in err.lower(), err


def test_token_is_validated_by_keystone_once_then_cached(cloud: Cloud) -> None:
    """Ottava asks Keystone about a token, not about every request carrying it."""
    token = cloud.keystone.token("alice", PASSWORD, project_name(cloud, "alpha"))
    lbs = cloud.ottava.url + "/v2/lbaas/loadbalancers"
    def validations() -> int:
        return cloud.keystone.access_log.read_text(errors="replace").count("GET /v3/auth/tokens")

    before = validations()
    for _ in range(5):
        resp = requests.get(lbs, headers={"X-Auth-Token": token}, timeout=30)
        assert resp.status_code == 200, resp.text
    time.sleep(1)  # gunicorn writes its access log line after answering
    after = validations()
    assert after - before == 1, (before, after, os.linesep.join(
        cloud.keystone.access_log.read_text(errors="replace").splitlines()[-20:]))


def test_the_key_manager_takes_tokens_and_ottava_reads_as_its_service_user(
        cloud: Cloud) -> None:
    km = cloud.ottava.key_manager_url
    p12 = certs.make_bundle("www.example.test").pkcs12
    secret = {"name": "www", "payload": base64.b64encode(p12).decode(),
              "payload_content_type": "application/octet-stream",
              "payload_content_encoding": "base64"}
    # Without a token, or with X-Project-Id alone, nothing is stored.
    for headers in ({}, {"X-Project-Id": cloud.projects["alpha"]}):
        assert requests.post(f"{km}/v1/secrets", json=secret, headers=headers,
                             timeout=30).status_code == 401
    alice = {"X-Auth-Token": cloud.keystone.token("alice", PASSWORD,
                                                  project_name(cloud, "alpha"))}
    stored = requests.post(f"{km}/v1/secrets", json=secret, headers=alice, timeout=30)
    assert stored.status_code == 201, stored.text
    ref = stored.json()["secret_ref"]
    bob = {"X-Auth-Token": cloud.keystone.token("bob", PASSWORD, project_name(cloud, "beta"))}
    assert requests.get(ref, headers=bob, timeout=30).status_code == 404  # not bob's

    lbs = f"{cloud.ottava.url}/v2/lbaas/loadbalancers"
    created = requests.post(lbs, headers=alice, timeout=30, json={"loadbalancer": {
        "vip_subnet_id": compat.SUBNET_ID, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": ref}]}})
    assert created.status_code == 201, created.text
    lb_id = created.json()["loadbalancer"]["id"]
    wait_active(f"{lbs}/{lb_id}", alice["X-Auth-Token"])
    missing = ref.rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
    refused = requests.post(lbs, headers=alice, timeout=30, json={"loadbalancer": {
        "vip_subnet_id": compat.SUBNET_ID, "listeners": [{
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "default_tls_container_ref": missing}]}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["faultstring"] == f"Could not retrieve certificate: ['{missing}']"
    assert requests.delete(f"{lbs}/{lb_id}?cascade=true", headers=alice,
                           timeout=30).status_code == 204
