"""A small certificate authority for tests: server and client certificates, CRLs.

Tests of TLS termination, client authentication and re-encryption need certificates that
real clients (curl, openssl, Python's ssl) and HAProxy accept: a CA, certificates it issues
with names in their subjectAltName, and revocation lists. EC P-256 keys keep generation
fast. Nothing here is used outside the tests.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LONG = datetime.timedelta(days=36500)  # fixture files outlive every test run


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> str:
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ottava tests")])


@dataclasses.dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)

    @property
    def serial(self) -> int:
        return self.cert.serial_number

    def bundle_pem(self) -> str:
        """Certificate then key, as HAProxy and curl read one file."""
        return self.cert_pem + self.key_pem


class Authority:
    """A CA that issues server and client certificates and signs CRLs."""

    def __init__(self, common_name: str = "Ottava test CA",
                 validity: datetime.timedelta = LONG) -> None:
        self.key = _key()
        self.validity = validity
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        self.cert = (
            x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(_name(common_name)).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    def issue(self, common_name: str, names: tuple[str, ...] = (),
              client: bool = False) -> Issued:
        """A certificate for `common_name` (and `names`: DNS names or IP addresses)."""
        key = _key()
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        alt: list[x509.GeneralName] = []
        for name in (common_name, *names):
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + self.validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        return Issued(cert, key)

    def crl(self, revoked: tuple[int, ...] = ()) -> str:
        """A CRL of this CA revoking the certificates with these serial numbers."""
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
                   .last_update(now).next_update(now + self.validity))
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now).build())
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM).decode()
