"""The noop certificate store keeps the certificates port's contract: what is put is
fetched by the project it was put for (or by anyone, when put for none), and anything else is
refused with Octavia's 400 wording."""

from __future__ import annotations

import pytest

from ottava.domain.errors import Invalid
from ottava.domain.ports.certificates import CertificateBundle, CertificateStore
from ottava.drivers.certificates.noop import NoopCertificateStore

BUNDLE = CertificateBundle(certificate="-----BEGIN CERTIFICATE-----\n…",
                           private_key="-----BEGIN PRIVATE KEY-----\n…")


def store() -> NoopCertificateStore:
    return NoopCertificateStore()


def test_a_bundle_is_fetched_by_its_project() -> None:
    certificates = store()
    certificates.put("ref-1", BUNDLE, project_id="p1")
    port: CertificateStore = certificates  # the Protocol is what callers see
    assert port.fetch("ref-1", "p1") == BUNDLE


def test_a_shared_bundle_is_fetched_by_anyone() -> None:
    certificates = store()
    certificates.put("ref-ca", CertificateBundle(certificate="CA"))
    assert certificates.fetch("ref-ca", "p2").private_key is None


@pytest.mark.parametrize(("ref", "project"), [("ref-1", "p2"), ("missing", "p1")])
def test_another_projects_or_a_missing_bundle_is_refused_alike(ref: str, project: str) -> None:
    certificates = store()
    certificates.put("ref-1", BUNDLE, project_id="p1")
    with pytest.raises(Invalid) as refused:
        certificates.fetch(ref, project)
    assert refused.value.code == 400
    assert refused.value.message == f"Could not retrieve certificate: ['{ref}']"
