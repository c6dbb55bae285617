"""Real X.509 material for the certificate tests, minted with `cryptography` on the spot.

`Pki()` is a root CA and an intermediate; `pki.leaf(...)` a server (or, with `client=True`,
client) certificate signed by the intermediate, with its key in whatever form a test needs (PEM
or DER, encrypted or not, or a PKCS#12 file); `pki.crl(...)` a revocation list. Names go in the
subjectAltName (DNS names and IP addresses), so curl, openssl, Python's ssl and HAProxy accept
them. Keys are small EC keys unless a test asks for RSA, so the suites stay fast.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def new_key(kind: str = "ec") -> CertificateIssuerPrivateKeyTypes:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str | None) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _sign(subject: x509.Name, key: CertificateIssuerPrivateKeyTypes, issuer: x509.Name,
          issuer_key: CertificateIssuerPrivateKeyTypes, *, ca: bool,
          names: tuple[str, ...] = (), client: bool = False,
          days: int = 30) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_alt_name(n) for n in names]), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(PEM).decode()


def key_pem(key: CertificateIssuerPrivateKeyTypes, passphrase: str | None = None,
            traditional: bool = False) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
        else serialization.NoEncryption())
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if traditional
           else serialization.PrivateFormat.PKCS8)
    return key.private_bytes(PEM, fmt, encryption).decode()


def key_der(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclasses.dataclass
class Leaf:
    cert: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def cert_pem(self) -> str:
        return cert_pem(self.cert)

    @property
    def key_pem(self) -> str:
        return key_pem(self.key)

    @property
    def serial(self) -> int:
        return self.cert.serial_number


class Pki:
    """A root CA, an intermediate CA under it, and leaves under the intermediate."""

    def __init__(self, kind: str = "ec", name: str = "Ottava Test", days: int = 30) -> None:
        self.days = days
        self.root_key = new_key(kind)
        self.root = _sign(_name(f"{name} Root"), self.root_key, _name(f"{name} Root"),
                          self.root_key, ca=True, days=days)
        self.inter_key = new_key(kind)
        self.inter = _sign(_name(f"{name} Intermediate"), self.inter_key,
                           self.root.subject, self.root_key, ca=True, days=days)

    @property
    def chain_pem(self) -> str:
        """The intermediates blob of a certificate container: intermediate, then root."""
        return cert_pem(self.inter) + cert_pem(self.root)

    @property
    def ca_pem(self) -> str:
        """What a verifier trusts: the intermediate and the root in one file."""
        return self.chain_pem

    def leaf(self, cn: str | None = "www.example.com", kind: str = "ec",
             dns: tuple[str, ...] = (), client: bool = False) -> Leaf:
        """A certificate for `cn`; `dns` (DNS names or IP addresses) go in its
        subjectAltName; `client` makes it a client certificate (extended key usage)."""
        key = new_key(kind)
        return Leaf(_sign(_name(cn), key, self.inter.subject, self.inter_key, ca=False,
                          names=dns, client=client, days=self.days), key)

    def pkcs12(self, leaf: Leaf, passphrase: str | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
            else serialization.NoEncryption())
        return pkcs12.serialize_key_and_certificates(
            b"ottava-test", leaf.key, leaf.cert, [self.inter, self.root], encryption)

    def crl(self, revoked: x509.Certificate | None = None, signer: str = "root") -> str:
        """A CRL issued by the root (or, with `signer` "intermediate", by the intermediate)."""
        issuer, key = ((self.root, self.root_key) if signer == "root"
                       else (self.inter, self.inter_key))
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
                   .last_update(now).next_update(now + datetime.timedelta(days=self.days)))
        if revoked is not None:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(revoked.serial_number)
                .revocation_date(now).build())
        return builder.sign(key, hashes.SHA256()).public_bytes(PEM).decode()


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A certificate container's parts, and the same as one PKCS#12 file."""

    certificate: str
    private_key: str
    intermediate: str
    pkcs12: bytes


def make_bundle(common_name: str = "www.example.test") -> Bundle:
    pki = Pki()
    leaf = pki.leaf(common_name, dns=(common_name,))
    return Bundle(leaf.cert_pem, leaf.key_pem, pki.chain_pem, pki.pkcs12(leaf))
