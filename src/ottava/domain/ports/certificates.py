"""The certificates port: TLS certificate bundles of listeners and pools, by reference.

A reference is what the user gave (`default_tls_container_ref`, `sni_container_refs`,
`client_ca_tls_container_ref`, a pool's `tls_container_ref`, …): a Barbican secret or
container URL in a cloud, the local key manager's on one host. The store fetches the bundle on
behalf of the caller (whose project must be allowed to read it) and checks that it is usable:
a certificate in PEM, and where there is a private key, one that matches it.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class CertificateBundle:
    certificate: str  # PEM
    private_key: str | None = None  # PEM; None for a CA certificate or a CRL
    intermediates: tuple[str, ...] = ()  # PEM each
    passphrase: str | None = None  # of an encrypted private key


class CertificateStore(Protocol):
    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        """The bundle `ref` names, as the caller's project may read it.

        Raises Invalid when there is no such bundle, the project may not read it, or it is
        not a usable certificate (Octavia answers 400 for each)."""
        ...
