"""The controller's certificate authority for amphora mutual TLS.

The controller keeps one CA in its state directory, made on first start and loaded afterwards. It
issues every amphora its own server certificate (CN and SAN DNS name = the amphora id, EKU
serverAuth) and the controller itself a client certificate (EKU clientAuth). The agent trusts only
this CA and requires a client certificate (see ``ottava.agent.tls``); the controller trusts only
this CA and checks that the server's name is the amphora id it meant to reach. Because OpenSSL
checks the EKU for the role it verifies, one amphora's server certificate cannot be used as a
client certificate to drive another amphora, and the controller's client certificate cannot pose
as an amphora.

Keys are EC P-256 (ECDSA with SHA-256) rather than RSA-2048: the same or better security (128-bit
level, where RSA-2048 gives about 112), key generation in well under a millisecond instead of tens
or hundreds of milliseconds (an amphora must be created in about a second), smaller certificates and
faster handshakes; every OpenSSL, HAProxy and Python version we support handles it.

Files: ``ca.key`` (PKCS#8 PEM, mode 0600) and ``ca.pem`` in a folder made with mode 0700. Both are
written atomically (temporary file, fsync, rename) under an exclusive lock, so two controller
processes starting at once end up with one CA, and a crash never leaves a key without its cert.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.pem"
LOCK_FILE = "ca.lock"
CA_VALIDITY = datetime.timedelta(days=3650)
# Issued certificates start a little in the past so that a clock slightly behind ours accepts them.
CLOCK_SKEW = datetime.timedelta(minutes=5)
CA_COMMON_NAME = "Ottava amphora CA"

# A DNS name (what the hostname check compares): letters, digits, hyphens and dots, which covers
# UUIDs. Anything else is refused rather than put into a certificate.
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62})$")


class PKIError(Exception):
    """The CA on disk is unusable, or a request to issue a certificate is invalid."""


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` so that readers see the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise PKIError(f"not usable as a certificate name: {name!r}")
    return name


def expires(cert_pem: bytes) -> datetime.datetime:
    """The moment (timezone-aware, UTC) after which ``cert_pem`` is no longer valid."""
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def needs_rotation(
    cert_pem: bytes, margin: datetime.timedelta, now: datetime.datetime | None = None
) -> bool:
    """True when ``cert_pem`` has expired or expires within ``margin`` of ``now``."""
    return expires(cert_pem) - (now or _utcnow()) <= margin


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding, lowercase hex."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class CertificateAuthority:
    """A CA key and its self-signed certificate; issues amphora and controller certificates."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        if key.public_key().public_numbers() != _ec_public(cert).public_numbers():
            raise PKIError("the CA key does not match the CA certificate")
        self._key = key
        self._cert = cert

    # -- creation and loading -------------------------------------------------------------------

    @classmethod
    def create(cls, now: datetime.datetime | None = None) -> CertificateAuthority:
        """A new CA in memory (``load_or_create`` is what a controller calls)."""
        now = now or _utcnow()
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load_or_create(cls, folder: str | os.PathLike[str]) -> CertificateAuthority:
        """Load the CA kept in ``folder``; create it there (once) when it does not exist yet."""
        path = Path(folder)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path, cert_path = path / CA_KEY_FILE, path / CA_CERT_FILE
        with _locked(path):
            # The cert is written last: a key without a cert is the trace of a crash, redone.
            if cert_path.exists():
                if not key_path.exists():
                    raise PKIError(f"{cert_path} exists but its key {key_path} is missing")
                return cls.load(path)
            ca = cls.create()
            _write_atomic(key_path, ca.key_pem, 0o600)
            _write_atomic(cert_path, ca.cert_pem, 0o644)
            return ca

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> CertificateAuthority:
        path = Path(folder)
        try:
            key = serialization.load_pem_private_key((path / CA_KEY_FILE).read_bytes(), None)
            cert = x509.load_pem_x509_certificate((path / CA_CERT_FILE).read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise PKIError(f"cannot load the CA from {path}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PKIError(f"the CA key in {path} is not an EC key")
        return cls(key, cert)

    # -- what callers read ----------------------------------------------------------------------

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert_pem)

    @property
    def expires(self) -> datetime.datetime:
        return self._cert.not_valid_after_utc

    # -- issuing --------------------------------------------------------------------------------

    def issue_server(
        self,
        amphora_id: str,
        validity: datetime.timedelta,
        now: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """(cert PEM, key PEM) for the agent of ``amphora_id``; its name is the amphora id."""
        return self._issue(amphora_id, validity, ExtendedKeyUsageOID.SERVER_AUTH, now)

    def issue_client(
        self,
        name: str,
        validity: datetime.timedelta,
        now: datetime.datetime | None = None,
    ) -> tuple[bytes, bytes]:
        """(cert PEM, key PEM) for the controller's client side, named ``name``."""
        return self._issue(name, validity, ExtendedKeyUsageOID.CLIENT_AUTH, now)

    def _issue(
        self,
        name: str,
        validity: datetime.timedelta,
        usage: x509.ObjectIdentifier,
        now: datetime.datetime | None,
    ) -> tuple[bytes, bytes]:
        _check_name(name)
        if validity <= datetime.timedelta(0):
            raise PKIError(f"validity must be positive, not {validity}")
        now = now or _utcnow()
        # Never past the CA's own end: a chain would stop verifying then anyway.
        not_after = min(now + validity, self._cert.not_valid_after_utc)
        key = _new_key()
        ca_ski = self._cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CLOCK_SKEW)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _ec_public(cert: x509.Certificate) -> ec.EllipticCurvePublicKey:
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise PKIError("the CA certificate does not hold an EC key")
    return public


def client_context(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """The controller's TLS context for talking to amphora agents.

    It trusts only ``ca_pem``, presents the controller's client certificate, refuses anything
    older than TLS 1.2 and checks the server's name: connect with ``server_hostname`` set to the
    amphora id (not its address), e.g. ``context.wrap_socket(sock, server_hostname=amphora.id)``.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cadata=ca_pem.decode("ascii"))
    # load_cert_chain reads files only: hand it a private directory that lives for this call.
    with tempfile.TemporaryDirectory(prefix="ottava-tls-") as tmp:
        cert_file, key_file = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        _write_atomic(cert_file, cert_pem, 0o600)
        _write_atomic(key_file, key_pem, 0o600)
        context.load_cert_chain(cert_file, key_file)
    return context
