"""The noop certificate store keeps the certificates port's contract: what is put is fetched,
checked as the Barbican store checks it, by the project it was put for (or by anyone, when put
for none), and anything else is refused with Octavia's 400 wording."""

from __future__ import annotations

import pytest

from ottava.domain.errors import Invalid
from ottava.domain.ports.certificates import CertificateBundle, CertificateStore
from ottava.drivers.certificates.noop import NoopCertificateStore
from tests import certs


@pytest.fixture
def bundle(pki: certs.Pki, leaf: certs.Leaf) -> CertificateBundle:
    return CertificateBundle(certificate=leaf.cert_pem, private_key=leaf.key_pem,
                             intermediates=(certs.cert_pem(pki.inter),))


def _refused_as_octavia(ref: str, call: object) -> None:
    with pytest.raises(Invalid) as refused:
        call()  # type: ignore[operator]
    assert refused.value.code == 400
    assert refused.value.message == f"Could not retrieve certificate: ['{ref}']"


def test_a_bundle_is_fetched_by_its_project(bundle: CertificateBundle) -> None:
    certificates = NoopCertificateStore()
    certificates.put("ref-1", bundle, project_id="p1")
    port: CertificateStore = certificates  # the Protocol is what callers see
    assert port.fetch("ref-1", "p1") == bundle


def test_a_shared_bundle_is_fetched_by_anyone(bundle: CertificateBundle) -> None:
    certificates = NoopCertificateStore()
    certificates.put("ref-shared", bundle)
    assert certificates.fetch("ref-shared", "p2") == bundle


@pytest.mark.parametrize(("ref", "project"), [("ref-1", "p2"), ("missing", "p1")])
def test_another_projects_or_a_missing_bundle_is_refused_alike(
        bundle: CertificateBundle, ref: str, project: str) -> None:
    certificates = NoopCertificateStore()
    certificates.put("ref-1", bundle, project_id="p1")
    _refused_as_octavia(ref, lambda: certificates.fetch(ref, project))


def test_an_encrypted_key_is_fetched_decrypted(leaf: certs.Leaf) -> None:
    certificates = NoopCertificateStore()
    certificates.put("ref-enc", CertificateBundle(
        certificate=leaf.cert_pem.strip(), private_key=certs.key_pem(leaf.key, "pw"),
        passphrase="pw"))
    fetched = certificates.fetch("ref-enc", "p1")
    assert fetched == CertificateBundle(certificate=leaf.cert_pem, private_key=leaf.key_pem)


@pytest.mark.parametrize("broken", ["garbage", "mismatched", "no-passphrase"])
def test_an_unusable_bundle_is_refused_as_barbicans_would_be(
        pki: certs.Pki, leaf: certs.Leaf, broken: str) -> None:
    key = {"garbage": "garbage", "mismatched": pki.leaf().key_pem,
           "no-passphrase": certs.key_pem(leaf.key, "pw")}[broken]
    certificates = NoopCertificateStore()
    certificates.put("ref-bad", CertificateBundle(certificate=leaf.cert_pem, private_key=key))
    _refused_as_octavia("ref-bad", lambda: certificates.fetch("ref-bad", None))


def test_ca_and_crl_secrets_are_fetched_checked_by_their_project(pki: certs.Pki) -> None:
    certificates = NoopCertificateStore()
    certificates.put_secret("ref-ca", pki.chain_pem.strip(), project_id="p1")
    crl = pki.crl()
    certificates.put_secret("ref-crl", crl)
    assert certificates.fetch_secret("ref-ca", "p1", "ca") == pki.chain_pem
    assert certificates.fetch_secret("ref-crl", "p2", "crl") == crl
    _refused_as_octavia("ref-ca", lambda: certificates.fetch_secret("ref-ca", "p2", "ca"))
    _refused_as_octavia("nothing", lambda: certificates.fetch_secret("nothing", "p1", "crl"))


def test_a_secret_of_the_wrong_kind_is_refused_with_octavias_message(pki: certs.Pki) -> None:
    certificates = NoopCertificateStore()
    certificates.put_secret("ref-ca", pki.chain_pem)
    with pytest.raises(Invalid) as refused:
        certificates.fetch_secret("ref-ca", None, "crl")
    assert refused.value.message.startswith("Validation failure: The client authentication "
                                            "certificate revocation list is invalid.")
