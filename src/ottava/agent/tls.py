"""The amphora agent's side of mutual TLS (standard library only).

The agent serves HTTPS with the certificate the controller issued for this amphora and accepts
only clients that present a certificate signed by the controller's CA. OpenSSL verifies a client
certificate for the "TLS client" purpose, so a certificate whose extended key usage is serverAuth
only (another amphora's) is refused as well: only the controller's clientAuth certificate passes.
Nothing here imports controller code: the agent may import only ``ottava.wire`` and
``ottava.render``.
"""

from __future__ import annotations

import os
import ssl

PathLike = str | os.PathLike[str]


def server_context(ca_path: PathLike, cert_path: PathLike, key_path: PathLike) -> ssl.SSLContext:
    """A server-side context that requires a client certificate signed by the CA, TLS >= 1.2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(cert_path, key_path)
    context.load_verify_locations(cafile=ca_path)
    return context
