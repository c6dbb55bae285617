"""`BarbicanCertificateStore` against the real Barbican and Keystone of the mini-openstack.

A demo user in a project of its own stores what a load balancer's owner would (a certificate
container with its chain, one with a passphrase-encrypted key, a PKCS#12 secret, a CA and a
CRL) and grants read on each to Ottava's service user with Barbican ACLs; the store, logged
in as that service user, fetches and checks them. The service user `ottava-<tag>` has only the
`service` role in project `service`: an ACL is all it needs, and (as the admin test shows) a
role would not let it read more.

What a user must grant (learned here): read on the container *and* on every secret in it
(a container's ACL does not reach its secrets), or on the single PKCS#12 / CA / CRL secret.

Run by tools/cloud-tests.sh, which starts the mini-openstack and sets OTTAVA_REQUIRE_CLOUD=1
(by hand: OTTAVA_REQUIRE_CLOUD=1 pytest tests/cloud with the mini-openstack running); skipped
without it, and a cloud that does not answer with it is a failure. Projects and users are
made and removed as admin with openstacksdk, run by the mini-openstack's own Python (the SDK
does not live in Ottava's venv).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from barbicanclient import client as barbican_client
from keystoneauth1 import identity, session

from ottava.domain.errors import Fatal, Invalid, Retryable
from ottava.drivers.certificates.barbican import BarbicanCertificateStore
from ottava.settings import DriverSettings, KeyManagerSettings, ServiceAuth
from tests import certs

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


def _cloud_missing() -> str | None:
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
    reason = _cloud_missing()
    if reason is not None:
        pytest.fail(f"OTTAVA_REQUIRE_CLOUD=1 but {reason}", pytrace=False)


def _admin(*args: str) -> str:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(CLOUDS)}
    env.pop("OS_CLOUD", None)
    done = subprocess.run([str(MOS_PYTHON), "-c", ADMIN_SCRIPT, *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def accounts(cloud: None) -> Iterator[dict[str, str]]:
    """A demo project with its user, and Ottava's service user, all removed afterwards."""
    made = json.loads(_admin("create", uuid.uuid4().hex[:8]).strip().splitlines()[-1])
    yield made
    _admin("delete", json.dumps(made))


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


def _store(auth: ServiceAuth | None, endpoint: str | None = None,
           timeout: float = 10.0) -> BarbicanCertificateStore:
    return BarbicanCertificateStore(DriverSettings(
        state_dir=pathlib.Path("/nonexistent"), certificates="barbican",
        key_manager=KeyManagerSettings(endpoint=endpoint, region_name=REGION,
                                       endpoint_type="public", auth=auth, timeout=timeout)))


def _ottava_auth(accounts: dict[str, str], password: str = "ottava-secret") -> ServiceAuth:
    return ServiceAuth(auth_url=KEYSTONE, username=accounts["ottava"], password=password,
                       project_name="service")


@pytest.fixture(scope="module")
def store(accounts: dict[str, str]) -> BarbicanCertificateStore:
    return _store(_ottava_auth(accounts))


@pytest.fixture(scope="module")
def pki() -> certs.Pki:
    return certs.Pki(kind="rsa")


def _refused(call: Any, ref: str) -> None:
    with pytest.raises(Invalid) as refused:
        call()
    assert refused.value.code == 400
    assert refused.value.message == f"Could not retrieve certificate: ['{ref}']"


def test_a_granted_certificate_container_is_fetched_and_checked(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="rsa")
    ref = owner.container(certificate=leaf.cert_pem,
                          private_key=certs.key_pem(leaf.key, traditional=True),
                          intermediates=pki.chain_pem)
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    # Barbican gave the PEMs back without their final newline; the bundle has them again.
    assert bundle.certificate == leaf.cert_pem
    assert bundle.private_key == leaf.key_pem
    assert bundle.intermediates == (certs.cert_pem(pki.inter), certs.cert_pem(pki.root))


def test_a_passphrase_encrypted_key_comes_back_decrypted(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="ec")
    ref = owner.container(certificate=leaf.cert_pem,
                          private_key=certs.key_pem(leaf.key, "s3cret phrase"),
                          private_key_passphrase="s3cret phrase", intermediates=pki.chain_pem)
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    assert bundle.private_key == leaf.key_pem
    assert bundle.passphrase is None


def test_a_granted_pkcs12_secret_is_fetched(owner: Owner, store: BarbicanCertificateStore,
                                            accounts: dict[str, str], pki: certs.Pki) -> None:
    leaf = pki.leaf(kind="rsa")
    ref = owner.secret(pki.pkcs12(leaf)).secret_ref  # application/octet-stream
    owner.grant(ref)
    bundle = store.fetch(ref, accounts["project_id"])
    assert bundle.certificate == leaf.cert_pem
    assert bundle.private_key == leaf.key_pem
    assert bundle.intermediates == (certs.cert_pem(pki.inter), certs.cert_pem(pki.root))


def test_without_an_acl_grant_the_fetch_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf = pki.leaf()
    project = accounts["project_id"]
    ungranted = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    _refused(lambda: store.fetch(ungranted, project), ungranted)
    # Barbican answers 403 for the container, and would for its secrets: read on the
    # container alone is not enough either.
    half = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    owner.grant(half, with_secrets=False)
    _refused(lambda: store.fetch(half, project), half)
    p12 = owner.secret(pki.pkcs12(leaf)).secret_ref
    _refused(lambda: store.fetch(p12, project), p12)


def test_an_admin_service_user_reads_no_more_than_its_grants(
        owner: Owner, accounts: dict[str, str], pki: certs.Pki) -> None:
    # The cloud's admin (admin role in project admin) is refused another project's container
    # and secret payloads just the same: Barbican's policy goes by project and ACL, not role.
    admin = _store(ServiceAuth(auth_url=KEYSTONE, username="admin", password="admin-secret",
                               project_name="admin"))
    leaf = pki.leaf()
    ref = owner.container(certificate=leaf.cert_pem, private_key=leaf.key_pem)
    _refused(lambda: admin.fetch(ref, accounts["project_id"]), ref)
    ca = owner.secret(pki.chain_pem).secret_ref
    _refused(lambda: admin.fetch_secret(ca, accounts["project_id"], "ca"), ca)


def test_a_container_whose_key_does_not_match_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    leaf, other = pki.leaf(), pki.leaf()
    ref = owner.container(certificate=leaf.cert_pem, private_key=other.key_pem)
    owner.grant(ref)
    _refused(lambda: store.fetch(ref, accounts["project_id"]), ref)


def test_ca_and_crl_secrets_are_fetched_and_checked(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    project = accounts["project_id"]
    ca_ref = owner.secret(pki.chain_pem).secret_ref
    crl = pki.crl(revoked=pki.leaf().cert)
    crl_ref = owner.secret(crl).secret_ref
    for ref in (ca_ref, crl_ref):
        owner.grant(ref)
    assert store.fetch_secret(ca_ref, project, "ca") == pki.chain_pem
    assert store.fetch_secret(crl_ref, project, "crl") == crl
    with pytest.raises(Invalid) as refused:
        store.fetch_secret(ca_ref, project, "crl")
    assert refused.value.message.startswith(
        "Validation failure: The client authentication certificate revocation list is invalid.")


def test_a_missing_secret_is_refused(store: BarbicanCertificateStore,
                                     accounts: dict[str, str]) -> None:
    ref = f"{BARBICAN}/v1/secrets/{uuid.uuid4()}"
    _refused(lambda: store.fetch_secret(ref, accounts["project_id"], "ca"), ref)
    container = f"{BARBICAN}/v1/containers/{uuid.uuid4()}"
    _refused(lambda: store.fetch(container, accounts["project_id"]), container)


def test_a_ref_of_another_host_or_shape_is_refused(
        owner: Owner, store: BarbicanCertificateStore, accounts: dict[str, str],
        pki: certs.Pki) -> None:
    real = owner.secret(pki.chain_pem).secret_ref
    owner.grant(real)
    secret_id = real.rsplit("/", 1)[1]
    for ref in (f"http://169.254.169.254/v1/secrets/{secret_id}",  # SSRF: another host
                f"http://127.0.0.1:29312/v1/secrets/{secret_id}",  # another port
                f"https://127.0.0.1:29311/v1/secrets/{secret_id}",  # another scheme
                f"{BARBICAN}/prefix/v1/secrets/{secret_id}",  # another path
                secret_id,  # a bare UUID
                f"{BARBICAN}/v1/secrets/not-a-uuid",
                f"{BARBICAN}/v1/secrets/{secret_id}?x=1",
                f"{BARBICAN}/v1/orders/{secret_id}"):
        _refused(lambda ref=ref: store.fetch_secret(ref, accounts["project_id"], "ca"), ref)
    # A container reference is no CA secret either.
    container = owner.container(certificate=pki.leaf().cert_pem)
    _refused(lambda: store.fetch_secret(container, accounts["project_id"], "ca"), container)
    assert store.fetch_secret(real + "/", accounts["project_id"], "ca") == pki.chain_pem


def test_an_unreachable_barbican_is_retryable_not_invalid(accounts: dict[str, str]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = _store(_ottava_auth(accounts), endpoint=closed, timeout=3.0)
    with pytest.raises(Retryable) as unavailable:
        down.fetch(f"{closed}/v1/containers/{uuid.uuid4()}", accounts["project_id"])
    assert unavailable.value.code == 503


def test_refused_service_credentials_are_fatal_not_invalid(accounts: dict[str, str]) -> None:
    wrong = _store(_ottava_auth(accounts, password="wrong"))
    with pytest.raises(Fatal) as failed:
        wrong.fetch(f"{BARBICAN}/v1/containers/{uuid.uuid4()}", accounts["project_id"])
    assert failed.value.code == 500
