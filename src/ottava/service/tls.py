"""TLS references of listeners and pools, checked before anything is written.

A listener or pool names its certificates by reference (Barbican URLs). Each reference a
request sets is first granted to Ottava with the caller's token where Keystone gave one
(`CertificateStore.grant`: the caller must be able to read it, as in Octavia), then fetched
through the certificates port, as the owning project may read it, before the change's
transaction opens (no driver call holds the database, decision 0011):
a reference that does not resolve, a key that does not match its certificate, a CA or CRL
that is not one, or a CRL that its CA did not issue is a 400 with nothing written. The
worker fetches them again when it sends the configuration (`ottava.domain.spec.resolve`),
so a secret replaced in the store reaches the amphora with the next change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ottava.domain.errors import Invalid
from ottava.domain.ports.certificates import CertificateStore, PemKind

# field -> what it names: a certificate with its key, CA certificates, or a CRL
LISTENER_REFERENCES: Mapping[str, str] = {
    "default_tls_container_ref": "bundle", "sni_container_refs": "bundle",
    "client_ca_tls_container_ref": "ca", "client_crl_container_ref": "crl"}
POOL_REFERENCES: Mapping[str, str] = {
    "tls_container_ref": "bundle", "ca_tls_container_ref": "ca", "crl_container_ref": "crl"}
# The pairs whose CRL must have been issued by the CA beside it.
CRL_AND_CA = (("client_crl_container_ref", "client_ca_tls_container_ref"),
              ("crl_container_ref", "ca_tls_container_ref"))


def check_references(store: CertificateStore | None, fields: Mapping[str, str],
                     values: Mapping[str, Any], current: Any, project_id: str | None,
                     token: str | None = None) -> None:
    """Fetch every reference `values` sets (fields as in `fields`), granted first with the
    caller's `token` if there is one; `current` (the row being updated, or None) supplies a
    CA whose CRL is being replaced, and the reverse."""
    given = {name: values[name] for name in fields if values.get(name)}
    if not given:
        return
    if store is None:
        raise RuntimeError("this process has no certificates driver to check TLS references")
    fetched: dict[str, str] = {}
    for name, value in given.items():
        kind = fields[name]
        for ref in value if isinstance(value, list) else [value]:
            if token:
                store.grant(ref, token)
            if kind == "bundle":
                store.fetch(ref, project_id)
            else:
                pem_kind: PemKind = "ca" if kind == "ca" else "crl"
                fetched[name] = store.fetch_secret(ref, project_id, pem_kind)
    for crl_field, ca_field in CRL_AND_CA:
        if crl_field not in fields or not (crl_field in given or ca_field in given):
            continue
        crl_ref = values.get(crl_field, getattr(current, crl_field, None))
        ca_ref = values.get(ca_field, getattr(current, ca_field, None))
        if not (crl_ref and ca_ref):
            continue
        crl = fetched.get(crl_field) or store.fetch_secret(crl_ref, project_id, "crl")
        ca = fetched.get(ca_field) or store.fetch_secret(ca_ref, project_id, "ca")
        if not crl_issued_by(crl, ca):
            raise Invalid(CRL_NOT_OF_CA)


CRL_NOT_OF_CA = ("Validation failure: The CRL specified is not valid for client certificate "
                 "authority reference supplied.")  # Octavia's words
_CRL_BLOCK = re.compile(r"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


def crl_issued_by(crl_pem: str, ca_pem: str) -> bool:
    """Whether every CRL in `crl_pem` was signed by one of the CA certificates in `ca_pem`
    (a chain of CAs comes with one CRL per CA)."""
    cas = x509.load_pem_x509_certificates(ca_pem.encode())
    crls = [x509.load_pem_x509_crl(block.encode()) for block in _CRL_BLOCK.findall(crl_pem)]
    return bool(crls) and all(any(_signed(crl, ca) for ca in cas) for crl in crls)


def _signed(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    return (ca.subject == crl.issuer and isinstance(key, SIGNING_KEYS)
            and crl.is_signature_valid(key))


SIGNING_KEYS = (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, dsa.DSAPublicKey,
                ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)
