"""Test-only certificates, made fresh with cryptography: a CA, a server certificate it signed,
the server's key, and the same as one PKCS#12 bundle."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Bundle:
    certificate: str  # PEM
    private_key: str  # PEM
    intermediate: str  # PEM, the CA
    pkcs12: bytes


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_bundle(common_name: str = "www.example.test") -> Bundle:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test-only CA"))
          .issuer_name(_name("test-only CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    return Bundle(
        certificate=cert.public_bytes(serialization.Encoding.PEM).decode(),
        private_key=key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode(),
        intermediate=ca.public_bytes(serialization.Encoding.PEM).decode(),
        pkcs12=pkcs12.serialize_key_and_certificates(
            common_name.encode(), key, cert, [ca], serialization.NoEncryption()))
