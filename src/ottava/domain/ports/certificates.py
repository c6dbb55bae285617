"""The certificates port: TLS certificate bundles and CA/CRL secrets of listeners and pools.

A reference is what the user gave (`default_tls_container_ref`, `sni_container_refs`,
`client_ca_tls_container_ref`, a pool's `tls_container_ref`, …): a Barbican secret or
container URL in a cloud, the local key manager's on one host. The store fetches on behalf of
the caller (whose project must be allowed to read it) and checks that what it found is usable:

- `fetch`: a server or client certificate with its private key, from a certificate container
  or a PKCS#12 secret. The key must match the certificate; an encrypted key comes back
  decrypted (the amphora holds no passphrase).
- `fetch_secret`: a PEM secret, one or more CA certificates (`client_ca_tls_container_ref`,
  a pool's `ca_tls_container_ref`) or a certificate revocation list (`*crl_container_ref`).
- `grant`: with the API caller's own token, check that the caller may read a reference and
  let Ottava read it from then on (where the store reads as Ottava's own user, a reference
  the caller cannot read must not become usable through Ottava's rights).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Protocol

PemKind = Literal["ca", "crl"]


@dataclasses.dataclass(frozen=True)
class CertificateBundle:
    certificate: str  # PEM
    private_key: str | None = None  # PEM, not encrypted once a store has checked it
    intermediates: tuple[str, ...] = ()  # PEM each
    passphrase: str | None = None  # of an encrypted private key, before the store's check

    def pem(self) -> str:
        """Certificate, intermediates and key in one PEM file, as HAProxy reads it."""
        parts = [self.certificate, *self.intermediates]
        if self.private_key:
            parts.append(self.private_key)
        return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


class CertificateStore(Protocol):
    def fetch(self, ref: str, project_id: str | None) -> CertificateBundle:
        """The certificate and key `ref` names, as the caller's project may read them.

        Raises Invalid when there is no such bundle, the project may not read it, or it is
        not a usable certificate with a matching key (Octavia answers 400 for each)."""
        ...

    def fetch_secret(self, ref: str, project_id: str | None, kind: PemKind) -> str:
        """The PEM secret `ref` names: CA certificates (`kind` "ca") or a CRL ("crl").

        Raises Invalid as `fetch` does, and when the payload is not a PEM of that kind."""
        ...

    def grant(self, ref: str, token: str) -> None:
        """As the holder of `token` (the caller's Keystone token): check they may read `ref`
        and give Ottava read on it (a container: on the secrets in it too).

        Raises Invalid when they may not, as `fetch` does. Repeating it changes nothing."""
        ...
