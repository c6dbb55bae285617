"""The cloud the tests of this folder run against: the mini-openstack's real Keystone and
Barbican (../shared/mini-openstack, started by tools/cloud-tests.sh, which sets
OTTAVA_REQUIRE_CLOUD=1; without it these tests are skipped, and a cloud that does not answer
with it is a failure). A demo project and user (the owner of what a load balancer uses) and
Ottava's service user are made per module, as admin with openstacksdk run by the
mini-openstack's own Python (the SDK does not live in Ottava's venv), and removed after.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from barbicanclient import client as barbican_client
from keystoneauth1 import identity, session

from ottava.settings import ServiceAuth

ROOT = pathlib.Path(os.environ.get("MOS_ROOT", "/tmp/mini-openstack"))
CLOUDS = ROOT / "clouds.yaml"
MOS_PYTHON = ROOT / "venv" / "bin" / "python"
KEYSTONE = "http://127.0.0.1:25000/v3"
BARBICAN = "http://127.0.0.1:29311"
REGION = "RegionOne"
REQUIRE = os.environ.get("OTTAVA_REQUIRE_CLOUD") == "1"

# Run by the mini-openstack's Python as admin: `create <tag>` prints the ids made,
# `delete <json>` removes them.
ADMIN_SCRIPT = """
import json, sys
import openstack
conn = openstack.connect(cloud="mini-openstack")
ident = conn.identity
if sys.argv[1] == "create":
    tag = sys.argv[2]
    project = ident.create_project(name="ottava-certs-" + tag, domain_id="default")
    user = ident.create_user(name="ottava-certs-" + tag, password="demo-secret",
                             default_project_id=project.id, domain_id="default")
    ident.assign_project_role_to_user(project, user, ident.find_role("member"))
    service = ident.find_project("service", domain_id="default")
    ottava = ident.create_user(name="ottava-" + tag, password="ottava-secret",
                               default_project_id=service.id, domain_id="default")
    ident.assign_project_role_to_user(service, ottava, ident.find_role("service"))
    print(json.dumps({"project_id": project.id, "project": project.name, "user": user.name,
                      "user_id": user.id, "ottava": ottava.name, "ottava_id": ottava.id}))
else:
    made = json.loads(sys.argv[2])
    for user_id in (made["user_id"], made["ottava_id"]):
        ident.delete_user(user_id, ignore_missing=True)
    ident.delete_project(made["project_id"], ignore_missing=True)
"""


def cloud_missing() -> str | None:
    if not CLOUDS.exists():
        return (f"{CLOUDS} is absent: start the mini-openstack "
                "(../shared/mini-openstack/setup.sh && run.sh, or tools/cloud-tests.sh)")
    try:
        requests.get(KEYSTONE, timeout=5)
    except requests.RequestException as exc:
        return f"Keystone on {KEYSTONE} does not answer: {exc}"
    if not MOS_PYTHON.exists():
        return f"{MOS_PYTHON} (the mini-openstack's Python, with openstacksdk) is absent"
    return None


@pytest.fixture(scope="module")
def cloud() -> None:
    if not REQUIRE:
        # `make test` may run while tools/cloud-tests.sh starts or stops the cloud.
        pytest.skip("run by tools/cloud-tests.sh (OTTAVA_REQUIRE_CLOUD=1), which starts the "
                    "mini-openstack")
    reason = cloud_missing()
    if reason is not None:
        pytest.fail(f"OTTAVA_REQUIRE_CLOUD=1 but {reason}", pytrace=False)


def _admin(*args: str) -> str:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(CLOUDS)}
    env.pop("OS_CLOUD", None)
    done = subprocess.run([str(MOS_PYTHON), "-c", ADMIN_SCRIPT, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@contextlib.contextmanager
def _made_accounts() -> Iterator[dict[str, str]]:
    made = json.loads(_admin("create", uuid.uuid4().hex[:8]).strip().splitlines()[-1])
    try:
        yield made
    finally:
        _admin("delete", json.dumps(made))


@pytest.fixture(scope="module")
def accounts(cloud: None) -> Iterator[dict[str, str]]:
    """A demo project with its user, and Ottava's service user, all removed afterwards."""
    with _made_accounts() as made:
        yield made


@pytest.fixture(scope="module")
def stranger(cloud: None) -> Iterator[dict[str, str]]:
    """Another project with its user (its service user goes unused), removed afterwards."""
    with _made_accounts() as made:
        yield made


def user_token(accounts: dict[str, str]) -> str:
    """A token of the accounts' demo user, scoped to its project, from the real Keystone."""
    token = _password_session(accounts["user"], "demo-secret", accounts["project"]).get_token()
    assert token, "Keystone gave no token"
    return token


def _password_session(username: str, password: str, project: str) -> session.Session:
    return session.Session(auth=identity.Password(
        auth_url=KEYSTONE, username=username, password=password, project_name=project,
        user_domain_name="Default", project_domain_name="Default"), timeout=30)


class Owner:
    """The demo user: stores secrets and containers, grants Ottava read, cleans up."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.barbican = barbican_client.Client(
            session=_password_session(accounts["user"], "demo-secret", accounts["project"]),
            region_name=REGION)
        self.ottava_id = accounts["ottava_id"]
        self.made: list[str] = []

    def secret(self, payload: str | bytes) -> Any:
        """A stored secret: text is stored as text/plain, bytes as application/octet-stream."""
        if isinstance(payload, str):
            secret = self.barbican.secrets.create(name="ottava-test", payload=payload,
                                                  payload_content_type="text/plain")
        else:
            secret = self.barbican.secrets.create(name="ottava-test", payload=payload)
        self.made.append(secret.store())
        return secret

    def container(self, **parts: str | None) -> str:
        secrets = {name: self.secret(value) for name, value in parts.items() if value}
        container = self.barbican.containers.create_certificate(name="ottava-test", **secrets)
        ref: str = container.store()
        self.made.append(ref)
        return ref

    def grant(self, ref: str, with_secrets: bool = True) -> None:
        """Let Ottava's service user read `ref` (and, for a container, each of its secrets)."""
        refs = [ref]
        if "/containers/" in ref and with_secrets:
            refs += self.barbican.containers.get(ref).secret_refs.values()
        for each in refs:
            acl = self.barbican.acls.get(each)
            acl.read.users = [self.ottava_id]
            acl.submit()

    def clean(self) -> None:
        for ref in reversed(self.made):  # containers before the secrets they hold
            manager = (self.barbican.containers if "/containers/" in ref
                       else self.barbican.secrets)
            manager.delete(ref)


@pytest.fixture(scope="module")
def owner(accounts: dict[str, str]) -> Iterator[Owner]:
    owner = Owner(accounts)
    yield owner
    owner.clean()


def ottava_auth(accounts: dict[str, str], password: str = "ottava-secret") -> ServiceAuth:
    """Ottava's service user, as `[service_auth]` names it."""
    return ServiceAuth(auth_url=KEYSTONE, username=accounts["ottava"], password=password,
                       project_name="service")


def barbican_overrides(accounts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """A stack's settings for certificates read from the cloud's Barbican as Ottava's
    service user (the catalog's public key-manager endpoint)."""
    return {"controller_worker": {"certificates_driver": "barbican"},
            "certificates": {"region_name": REGION, "endpoint_type": "public"},
            "service_auth": {"auth_url": KEYSTONE, "username": accounts["ottava"],
                             "password": "ottava-secret", "project_name": "service"}}
