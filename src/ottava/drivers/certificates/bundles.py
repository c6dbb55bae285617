"""What a certificate store found, checked and normalised: pure `cryptography`, no I/O.

Every store (Barbican, the in-memory one) hands its raw parts here and gets back what the
amphora can use: a `CertificateBundle` whose certificate and intermediates are PEM (one block
each), whose private key is an unencrypted PKCS#8 PEM that matches the certificate; or a CA
bundle / CRL in PEM. Input may be PEM or DER (Barbican serves `application/octet-stream`
secrets as raw bytes), text or bytes, with or without the final newline Barbican strips.

A part that is not usable raises `UnusableCertificate` (an `Invalid`) saying why, in Octavia's
internal wording; the stores answer the user with Octavia's API wording ("Could not retrieve
certificate: [...]") and log the why, as Octavia does. PKCS#12, CA and CRL failures raise
`Invalid` with the message Octavia's API itself answers.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types as key_types
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from ottava.domain.errors import Invalid
from ottava.domain.ports.certificates import CertificateBundle

Data = str | bytes

# Octavia's wording (octavia/common/exceptions.py), kept because clients match on it.
RETRIEVAL = "Could not retrieve certificate: {refs}"
UNREADABLE = "Could not read X509 from PEM"
MISMATCHED = "Key and x509 certificate do not match"
NEEDS_PASSPHRASE = "Passphrase needed to decrypt key but client did not provide one."
NO_SUBJECT = "No CN or DNSName(s) found in certificate. The certificate is invalid."
UNREADABLE_PKCS12 = ("The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. "
                     "In addition, make sure it does not require a pass phrase. Error: {error}")
INVALID_CA = ("Validation failure: The client authentication CA certificate is invalid. It "
              "must be a valid x509 PEM format certificate. Error: {error}")
INVALID_CRL = ("Validation failure: The client authentication certificate revocation list is "
               "invalid. It must be a valid x509 PEM format certificate revocation list. "
               "Error: {error}")

# Ottava's own reasons, for the log.
NO_CERTIFICATE = "No certificate found"
NO_KEY = "No private key found for the certificate"

_PEM_BEGIN = b"-----BEGIN "
_CRL_BLOCK = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


class UnusableCertificate(Invalid):
    """A certificate container's part is missing, unreadable, or does not fit the others.
    The message says why (for the log); the user is told `retrieval_error(ref)`."""


def retrieval_error(*refs: str) -> Invalid:
    """Octavia's 400 for references it could not use: `Could not retrieve certificate:
    ['<ref>', ...]` (Octavia formats the list of bad references with Python's repr)."""
    return Invalid(RETRIEVAL.format(refs=list(refs)))


def certificate_bundle(certificate: Data | None, private_key: Data | None,
                       intermediates: Data | None = None,
                       passphrase: Data | None = None) -> CertificateBundle:
    """The checked bundle of a certificate container's parts (any of them PEM or DER).

    Raises UnusableCertificate: no certificate or no key, a certificate that cannot be read,
    a key that cannot be read, is encrypted without (or with the wrong) passphrase, or does
    not match the certificate; Invalid with Octavia's message when the certificate names no
    host."""
    if certificate is None or not _as_bytes(certificate).strip():
        raise UnusableCertificate(NO_CERTIFICATE)
    cert = _load_one_certificate(_as_bytes(certificate))
    _require_subject(cert)
    chain = _load_certificates(_as_bytes(intermediates)) if intermediates else []
    if private_key is None or not _as_bytes(private_key).strip():
        # A listener or a pool's client certificate is useless to HAProxy without its key.
        raise UnusableCertificate(NO_KEY)
    key = _load_private_key(_as_bytes(private_key), passphrase)
    _require_match(cert, key)
    return CertificateBundle(certificate=_cert_pem(cert), private_key=_key_pem(key),
                             intermediates=tuple(_cert_pem(c) for c in chain))


def pkcs12_bundle(blob: Data, passphrase: Data | None = None) -> CertificateBundle:
    """The checked bundle of a PKCS#12 file (certificate, key, and any further certificates
    as the intermediates). Raises Invalid with Octavia's PKCS#12 message when the file cannot
    be read (or needs a passphrase not given), UnusableCertificate as `certificate_bundle`."""
    password = _as_bytes(passphrase) if passphrase else None
    try:
        loaded = pkcs12.load_pkcs12(_as_bytes(blob), password)
    except (TypeError, ValueError) as exc:
        raise Invalid(UNREADABLE_PKCS12.format(error=exc)) from None
    if loaded.cert is None:
        raise UnusableCertificate(NO_CERTIFICATE)
    cert = loaded.cert.certificate
    _require_subject(cert)
    if loaded.key is None:
        raise UnusableCertificate(NO_KEY)
    _require_match(cert, loaded.key)
    return CertificateBundle(
        certificate=_cert_pem(cert), private_key=_key_pem(loaded.key),
        intermediates=tuple(_cert_pem(c.certificate) for c in loaded.additional_certs))


def check_bundle(bundle: CertificateBundle) -> CertificateBundle:
    """`bundle` with its parts checked and normalised as by `certificate_bundle` (its
    passphrase, if any, decrypts its key and is dropped)."""
    return certificate_bundle(bundle.certificate, bundle.private_key,
                              "".join(bundle.intermediates) or None, bundle.passphrase)


def check_ca(data: Data) -> str:
    """One or more CA certificates (PEM, DER or PKCS#7), as PEM blocks one after the other.

    Raises Invalid with Octavia's client CA message when there is none or one is unreadable."""
    try:
        certs = _load_certificates(_as_bytes(data))
    except UnusableCertificate as exc:
        raise Invalid(INVALID_CA.format(error=exc.message)) from None
    return "".join(_cert_pem(c) for c in certs)


def check_crl(data: Data) -> str:
    """Certificate revocation lists as PEM: one DER list, or one or more PEM lists in a file
    (a chain of CAs needs one list per CA, since HAProxy checks every certificate of a
    client's chain). Raises Invalid with Octavia's CRL message."""
    raw = _trimmed(_as_bytes(data))
    try:
        if raw.startswith(_PEM_BEGIN):
            blocks = _CRL_BLOCK.findall(raw)
            if not blocks:
                raise ValueError("Valid PEM but no BEGIN X509 CRL/END X509 delimiters. "
                                 "Are you sure this is a CRL?")
            crls = [x509.load_pem_x509_crl(block) for block in blocks]
        else:
            crls = [x509.load_der_x509_crl(raw)]
    except ValueError as exc:
        raise Invalid(INVALID_CRL.format(error=exc)) from None
    return "".join(crl.public_bytes(serialization.Encoding.PEM).decode("ascii")
                   for crl in crls)


def _trimmed(raw: bytes) -> bytes:
    """PEM text without surrounding whitespace (Barbican strips a text secret's final newline;
    a user may add some); DER as it is, since its last bytes may be whitespace characters."""
    stripped = raw.strip()
    return stripped if stripped.startswith(_PEM_BEGIN) or not stripped else raw


def _as_bytes(data: Data) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _load_certificates(raw: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM blob, a PKCS#7 bundle (PEM or DER), or one DER certificate."""
    raw = _trimmed(raw)
    if not raw:
        raise UnusableCertificate(UNREADABLE)
    try:
        if b"-----BEGIN PKCS7-----" in raw:
            return pkcs7.load_pem_pkcs7_certificates(raw)
        if raw.startswith(_PEM_BEGIN) or _PEM_BEGIN in raw:
            # Text around the blocks (openssl's "subject=" lines) is allowed, as by openssl.
            return x509.load_pem_x509_certificates(raw)
        try:
            return [x509.load_der_x509_certificate(raw)]
        except ValueError:
            return pkcs7.load_der_pkcs7_certificates(raw)
    except ValueError as exc:
        raise UnusableCertificate(f"{UNREADABLE}: {exc}") from None


def _load_one_certificate(raw: bytes) -> x509.Certificate:
    certs = _load_certificates(raw)
    if len(certs) != 1:
        # The chain belongs in the intermediates; which of several would be the server's?
        raise UnusableCertificate(f"{UNREADABLE}: {len(certs)} certificates where one is "
                                  "expected")
    return certs[0]


def _load_private_key(raw: bytes, passphrase: Data | None) -> key_types.PrivateKeyTypes:
    raw = _trimmed(raw)
    load = (serialization.load_pem_private_key if raw.startswith(_PEM_BEGIN)
            else serialization.load_der_private_key)
    password = _as_bytes(passphrase) if passphrase else None
    try:
        return load(raw, password)
    except TypeError:
        if password is None:
            raise UnusableCertificate(NEEDS_PASSPHRASE) from None
        # A passphrase stored beside a key that is not encrypted is harmless: use the key.
        try:
            return load(raw, None)
        except (TypeError, ValueError) as exc:
            raise UnusableCertificate(f"The private key is unreadable: {exc}") from None
    except ValueError as exc:
        if password is not None:
            # cryptography cannot tell a wrong passphrase from a corrupt encrypted key.
            raise UnusableCertificate(
                f"The private key cannot be decrypted with the passphrase given: {exc}"
            ) from None
        raise UnusableCertificate(f"The private key is unreadable: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise UnusableCertificate(f"The private key is unreadable: {exc}") from None


def _require_match(cert: x509.Certificate, key: key_types.PrivateKeyTypes) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
        theirs = cert.public_key().public_bytes(serialization.Encoding.DER, spki)
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnusableCertificate(f"{MISMATCHED}: {exc}") from None
    if ours != theirs:
        raise UnusableCertificate(MISMATCHED)


def _require_subject(cert: x509.Certificate) -> None:
    """A TLS certificate names its host in the CN or a DNS SAN (Octavia's MissingCertSubject)."""
    if cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME):
        return
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise Invalid(NO_SUBJECT) from None
    if not san.value.get_values_for_type(x509.DNSName):
        raise Invalid(NO_SUBJECT)


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: key_types.PrivateKeyTypes) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")

