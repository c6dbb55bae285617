"""A certificate store held in memory: what is put in it can be fetched, nothing else.

The stand-in beside the real stores (the key manager of `ottava standalone`, Barbican): the
noop drivers' data plane terminates no TLS, and tests put the bundles they need. A bundle put
for a project is fetched only by that project, as Barbican's ACLs would have it.
"""

from __future__ import annotations

import threading

from ottava.domain.errors import Invalid
from ottava.domain.ports.certificates import CertificateBundle
from ottava.settings import DriverSettings


class NoopCertificateStore:
    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Holds only what is put in it; needs no setting.
        self._lock = threading.Lock()
        self._bundles: dict[str, tuple[CertificateBundle, str | None]] = {}

    def put(self, ref: str, bundle: CertificateBundle, project_id: str | None = None) -> None:
        """Keep `bundle` under `ref`, readable by `project_id` only (None: by everyone)."""
        with self._lock:
            self._bundles[ref] = (bundle, project_id)

    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        with self._lock:
            found = self._bundles.get(ref)
        if found is None or found[1] not in (None, project_id):
            # Octavia's wording; another project's secret is as absent as a missing one.
            raise Invalid(f"Could not retrieve certificate: ['{ref}']")
        return found[0]
