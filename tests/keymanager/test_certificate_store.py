"""The Barbican certificate store against Ottava's own key manager: the pairing `ottava
standalone` runs (no Keystone; each fetch names the load balancer's project in X-Project-Id).

The owner stores with python-barbicanclient, as `openstack secret store` would; the store reads
over real HTTP, checks, and answers as the port says: the bundle, or Invalid with Octavia's
message for whatever the caller cannot have.
"""

from __future__ import annotations

import pathlib

import pytest

from ottava.domain.errors import Invalid
from ottava.drivers.certificates.barbican import BarbicanCertificateStore
from ottava.settings import DriverSettings, KeyManagerSettings
from tests import certs
from tests.keymanager.conftest import Barbican, KeyManager


@pytest.fixture
def store(key_manager: KeyManager, tmp_path: pathlib.Path) -> BarbicanCertificateStore:
    return BarbicanCertificateStore(DriverSettings(
        state_dir=tmp_path, key_manager=KeyManagerSettings(endpoint=key_manager.url,
                                                           timeout=10.0)))


def _container(client: object, bundle: certs.Bundle) -> str:
    secrets = client.secrets  # type: ignore[attr-defined]
    parts = {name: secrets.create(name=name, payload=payload,
                                  payload_content_type="text/plain")
             for name, payload in (("certificate", bundle.certificate),
                                   ("private_key", bundle.private_key),
                                   ("intermediates", bundle.intermediate))}
    container = client.containers.create_certificate(  # type: ignore[attr-defined]
        name="tls", **parts)
    return str(container.store())


def test_a_container_of_the_callers_project_is_fetched(
        barbican: Barbican, store: BarbicanCertificateStore, project: str) -> None:
    bundle = certs.make_bundle("www.example.test")
    ref = _container(barbican(project), bundle)
    fetched = store.fetch(ref, project)
    assert fetched.certificate.strip() == bundle.certificate.strip()
    assert "PRIVATE KEY" in fetched.private_key
    pem = fetched.pem()
    assert pem.count("BEGIN CERTIFICATE") == 3  # leaf, intermediate, root


def test_a_pkcs12_secret_is_fetched(barbican: Barbican, store: BarbicanCertificateStore,
                                    project: str) -> None:
    bundle = certs.make_bundle("api.example.test")
    ref = barbican(project).secrets.create(name="p12", payload=bundle.pkcs12).store()
    fetched = store.fetch(ref, project)
    assert fetched.certificate.strip() == bundle.certificate.strip()


def test_another_projects_container_is_refused_with_octavias_message(
        barbican: Barbican, store: BarbicanCertificateStore, project: str) -> None:
    ref = _container(barbican(project), certs.make_bundle())
    with pytest.raises(Invalid) as refused:
        store.fetch(ref, project + "-other")
    assert str(refused.value) == f"Could not retrieve certificate: ['{ref}']"


def test_a_reference_to_another_server_is_refused_without_a_call(
        store: BarbicanCertificateStore, project: str) -> None:
    ref = "http://203.0.113.9:9311/v1/containers/0d4e7c6a-5b7e-4f7e-9a51-0c1f7c3c9a10"
    with pytest.raises(Invalid):
        store.fetch(ref, project)


def test_ca_and_crl_secrets_are_fetched_and_a_certificate_is_no_crl(
        barbican: Barbican, store: BarbicanCertificateStore, project: str) -> None:
    pki = certs.Pki()
    client = barbican(project)
    ca_ref = client.secrets.create(name="ca", payload=pki.ca_pem,
                                   payload_content_type="text/plain").store()
    crl_ref = client.secrets.create(name="crl", payload=pki.crl(signer="intermediate"),
                                    payload_content_type="text/plain").store()
    assert "BEGIN CERTIFICATE" in store.fetch_secret(ca_ref, project, "ca")
    assert "BEGIN X509 CRL" in store.fetch_secret(crl_ref, project, "crl")
    with pytest.raises(Invalid):
        store.fetch_secret(ca_ref, project, "crl")
    with pytest.raises(Invalid):  # a secret is not a certificate container's reference
        store.fetch_secret(ca_ref.replace("/secrets/", "/containers/"), project, "ca")
