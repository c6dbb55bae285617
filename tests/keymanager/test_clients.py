"""The key manager through python-barbicanclient, over real HTTP: version discovery, text and
binary secrets, metadata-only secrets given a payload later, certificate containers, ACLs,
private secrets, listing pages."""

from __future__ import annotations

import uuid

import pytest
import requests
from barbicanclient import exceptions as barbican_errors
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.certs import make_bundle
from tests.keymanager.conftest import Barbican, KeyManager


def _status(excinfo: pytest.ExceptionInfo[barbican_errors.HTTPError]) -> int:
    return int(excinfo.value.status_code)


def test_version_discovery_answers_as_barbican(key_manager: KeyManager) -> None:
    root = requests.get(key_manager.url + "/", timeout=10)
    assert root.status_code == 300
    [v1] = root.json()["versions"]["values"]
    assert v1["id"] == "v1" and v1["status"] == "stable"
    assert {"rel": "self", "href": key_manager.url + "/v1/"} in v1["links"]
    assert v1["media-types"][0]["base"] == "application/json"
    negotiated = requests.get(key_manager.url + "/",
                              headers={"OpenStack-API-Version": "key-manager 1.1"}, timeout=10)
    [current] = negotiated.json()["versions"]
    assert (current["min_version"], current["max_version"]) == ("1.0", "1.0")
    assert requests.get(key_manager.url + "/v1/", timeout=10).json()["version"]["id"] == "v1"


def test_refs_use_the_host_the_client_reached(key_manager: KeyManager) -> None:
    port = key_manager.url.rsplit(":", 1)[1]
    resp = requests.post(key_manager.url + "/v1/secrets",
                         json={"payload": "x", "payload_content_type": "text/plain"},
                         headers={"Host": f"localhost:{port}"}, timeout=10)
    assert resp.status_code == 201
    assert resp.json()["secret_ref"].startswith(f"http://localhost:{port}/v1/secrets/")
    assert resp.headers["Location"] == resp.json()["secret_ref"]


def test_text_secret_round_trip(barbican: Barbican, project: str) -> None:
    client = barbican(project, user="alice")
    secret = client.secrets.create(name="db-password", payload="s3cr3t text",
                                   secret_type="passphrase")
    ref = secret.store()
    assert "/v1/secrets/" in ref
    fetched = barbican(project).secrets.get(ref)
    assert fetched.name == "db-password" and fetched.secret_type == "passphrase"
    assert fetched.content_types == {"default": "text/plain"}
    assert fetched.status == "ACTIVE" and fetched.created is not None
    assert fetched.payload == "s3cr3t text"
    assert [s.name for s in client.secrets.list(name="db-password")] == ["db-password"]
    client.secrets.delete(ref)
    with pytest.raises(barbican_errors.HTTPClientError) as gone:
        barbican(project).secrets.get(ref).name  # noqa: B018 (the lazy GET)
    assert _status(gone) == 404


def test_binary_pkcs12_secret_round_trip(barbican: Barbican, project: str) -> None:
    bundle = make_bundle()
    client = barbican(project)
    ref = client.secrets.create(name="tls", payload=bundle.pkcs12).store()
    fetched = barbican(project).secrets.get(ref)
    assert fetched.content_types == {"default": "application/octet-stream"}
    assert fetched.payload == bundle.pkcs12
    key, cert, extra = pkcs12.load_key_and_certificates(fetched.payload, None)
    assert key is not None and cert is not None and len(extra) == 2  # intermediate, root


def test_metadata_only_secret_takes_its_payload_once(barbican: Barbican, project: str
                                                     ) -> None:
    client = barbican(project)
    ref = client.secrets.create(name="later").store()
    assert client.secrets.get(ref).content_types is None
    client.secrets.update(ref, b"\x00\x01binary\xff")
    assert barbican(project).secrets.get(ref).payload == b"\x00\x01binary\xff"
    with pytest.raises(barbican_errors.HTTPClientError) as again:
        client.secrets.update(ref, b"another")
    assert _status(again) == 409


def test_certificate_container(barbican: Barbican, project: str) -> None:
    bundle = make_bundle()
    client = barbican(project)
    certificate = client.secrets.create(name="cert", payload=bundle.certificate)
    private_key = client.secrets.create(name="key", payload=bundle.private_key)
    intermediates = client.secrets.create(name="chain", payload=bundle.intermediate)
    container = client.containers.create_certificate(
        name="www", certificate=certificate, private_key=private_key,
        intermediates=intermediates)
    ref = container.store()  # stores the three secrets first, then the container
    fetched = barbican(project).containers.get(ref)
    assert fetched.name == "www" and type(fetched).__name__ == "CertificateContainer"
    assert fetched.certificate.payload == bundle.certificate.strip()
    assert fetched.private_key.payload == bundle.private_key.strip()
    assert fetched.intermediates.payload == bundle.intermediate.strip()
    assert fetched.private_key_passphrase is None
    barbican(project).containers.delete(ref)
    with pytest.raises(barbican_errors.HTTPClientError) as gone:
        barbican(project).containers.get(ref)
    assert _status(gone) == 404


def test_a_container_refers_only_to_its_own_projects_secrets(barbican: Barbican,
                                                               project: str) -> None:
    foreign = barbican(f"other-{project}").secrets.create(payload="theirs").store()
    client = barbican(project)
    with pytest.raises(barbican_errors.HTTPClientError) as refused:
        client.containers.create_certificate(
            name="stolen", certificate=client.secrets.get(foreign)).store()
    assert _status(refused) == 404
    own = client.secrets.create(payload="mine").store()
    with pytest.raises(barbican_errors.HTTPClientError) as misnamed:
        client.client.post("containers", json={
            "type": "certificate", "secret_refs": [{"name": "certificat", "secret_ref": own}]})
    assert _status(misnamed) == 400


def test_acl_lets_a_user_of_another_project_read(barbican: Barbican, project: str) -> None:
    owner = barbican(project, user="alice")
    ref = owner.secrets.create(name="shared", payload="for bob").store()
    bob = barbican(f"other-{project}", user="bob")
    with pytest.raises(barbican_errors.HTTPClientError) as hidden:
        bob.secrets.get(ref).payload  # noqa: B018
    assert _status(hidden) == 404

    acl = owner.acls.create(entity_ref=ref, users=["bob"])
    assert acl.submit() == f"{ref}/acl"
    assert owner.acls.get(ref).read.users == ["bob"]
    assert bob.secrets.get(ref).payload == "for bob"
    # An ACL lets its users read, not manage.
    with pytest.raises(barbican_errors.HTTPClientError) as not_theirs:
        bob.secrets.delete(ref)
    assert _status(not_theirs) == 403
    with pytest.raises(barbican_errors.HTTPClientError) as not_their_acl:
        bob.acls.get(ref).read.users  # noqa: B018
    assert _status(not_their_acl) == 403

    owner.acls.get(ref).remove()
    assert owner.acls.get(ref).read.project_access is True
    with pytest.raises(barbican_errors.HTTPClientError) as revoked:
        bob.secrets.get(ref).payload  # noqa: B018
    assert _status(revoked) == 404


def test_container_acl_and_its_secrets(barbican: Barbican, project: str) -> None:
    """As in Barbican, a container's ACL does not reach its secrets: each is granted too."""
    owner = barbican(project, user="alice")
    bundle = make_bundle()
    cert = owner.secrets.create(name="cert", payload=bundle.certificate)
    ref = owner.containers.create_certificate(name="www", certificate=cert).store()
    service = barbican("service", user="octavia")
    owner.acls.create(entity_ref=ref, users=["octavia"]).submit()
    container = service.containers.get(ref)
    assert container.name == "www"
    with pytest.raises(barbican_errors.HTTPClientError) as secret_not_granted:
        container.certificate.payload  # noqa: B018
    assert _status(secret_not_granted) == 404
    owner.acls.create(entity_ref=cert.secret_ref, users=["octavia"]).submit()
    assert service.containers.get(ref).certificate.payload == bundle.certificate.strip()


def test_private_secret_reads_only_for_creator_listed_users_and_admins(
        barbican: Barbican, project: str) -> None:
    alice = barbican(project, user="alice")
    ref = alice.secrets.create(name="private", payload="only alice").store()
    alice.acls.create(entity_ref=ref, users=["dave"], project_access=False).submit()
    carol = barbican(project, user="carol")  # same project, not listed
    with pytest.raises(barbican_errors.HTTPClientError) as hidden:
        carol.secrets.get(ref).payload  # noqa: B018
    assert _status(hidden) == 404
    assert "private" not in [s.name for s in carol.secrets.list()]
    assert alice.secrets.get(ref).payload == "only alice"
    assert barbican(project, user="dave").secrets.get(ref).payload == "only alice"
    admin = barbican("elsewhere", user="root", roles="admin")
    assert admin.secrets.get(ref).payload == "only alice"
    # PATCH merges: project access back on, dave still listed.
    resp = alice.client.request(f"secrets/{ref.rsplit('/', 1)[1]}/acl", "PATCH",
                                json={"read": {"project-access": True}})
    assert resp.status_code == 200
    assert alice.acls.get(ref).read.users == ["dave"]
    assert carol.secrets.get(ref).payload == "only alice"


def test_container_listing_pages(barbican: Barbican, key_manager: KeyManager, project: str
                                 ) -> None:
    client = barbican(project)
    names = [f"c{i}" for i in range(5)]
    for name in names:
        client.containers.create(name=name).store()
    assert [c.name for c in client.containers.list(limit=2, offset=0)] == names[:2]
    assert [c.name for c in client.containers.list(limit=2, offset=4)] == names[4:]
    page = requests.get(f"{key_manager.url}/v1/containers", params={"limit": 2, "offset": 2},
                        headers={"X-Project-Id": project}, timeout=10).json()
    assert page["total"] == 5 and [c["name"] for c in page["containers"]] == names[2:4]
    assert page["previous"] == f"{key_manager.url}/v1/containers?limit=2&offset=0"
    assert page["next"] == f"{key_manager.url}/v1/containers?limit=2&offset=4"
    last = requests.get(page["next"], headers={"X-Project-Id": project}, timeout=10).json()
    assert "next" not in last and [c["name"] for c in last["containers"]] == names[4:]
    assert barbican(f"other-{project}").containers.list() == []
    assert len(client.containers.list(name="c3")) == 1


def test_unknown_ids_are_404(barbican: Barbican, project: str) -> None:
    client = barbican(project)
    with pytest.raises(barbican_errors.HTTPClientError) as missing:
        client.secrets.get(str(uuid.uuid4())).name  # noqa: B018
    assert _status(missing) == 404
