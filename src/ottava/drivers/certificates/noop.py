"""A certificate store held in memory: what is put in it can be fetched, nothing else.

The stand-in beside the real stores (the key manager of `ottava standalone`, Barbican): the
noop drivers' data plane terminates no TLS, and tests put the bundles and CA/CRL secrets they
need. A bundle or secret put for a project is fetched only by that project, as Barbican's ACLs
would have it. What is put is kept as given and checked on every fetch by the same
`bundles` checks the Barbican store runs, so a test sees the same 400s a cloud would give.
It knows no tokens: `grant` only records what it was asked (`granted`), so a test can see
that the caller's token reached the store; the project checks of the fetches are its gate.
"""

from __future__ import annotations

import threading

from ottava.domain.ports.certificates import CertificateBundle, PemKind
from ottava.drivers.certificates import bundles
from ottava.settings import DriverSettings


class NoopCertificateStore:
    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Holds only what is put in it; needs no setting.
        self._lock = threading.Lock()
        self._bundles: dict[str, tuple[CertificateBundle, str | None]] = {}
        self._secrets: dict[str, tuple[str, str | None]] = {}
        self.granted: list[tuple[str, str]] = []  # (reference, token), in the order asked

    def put(self, ref: str, bundle: CertificateBundle, project_id: str | None = None) -> None:
        """Keep `bundle` under `ref`, readable by `project_id` only (None: by everyone)."""
        with self._lock:
            self._bundles[ref] = (bundle, project_id)

    def put_secret(self, ref: str, pem: str, project_id: str | None = None) -> None:
        """Keep a CA or CRL secret under `ref`, readable by `project_id` only (None: by
        everyone)."""
        with self._lock:
            self._secrets[ref] = (pem, project_id)

    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        with self._lock:
            found = self._bundles.get(ref)
        if found is None or found[1] not in (None, project_id):
            # Octavia's wording; another project's bundle is as absent as a missing one.
            raise bundles.retrieval_error(ref)
        try:
            return bundles.check_bundle(found[0])
        except bundles.UnusableCertificate:
            raise bundles.retrieval_error(ref) from None

    def fetch_secret(self, ref: str, project_id: str | None, kind: PemKind) -> str:
        with self._lock:
            found = self._secrets.get(ref)
        if found is None or found[1] not in (None, project_id):
            raise bundles.retrieval_error(ref)
        return bundles.check_ca(found[0]) if kind == "ca" else bundles.check_crl(found[0])

    def grant(self, ref: str, token: str) -> None:
        with self._lock:
            self.granted.append((ref, token))
