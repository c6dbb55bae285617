"""The amphora driver that talks to each amphora's agent over HTTPS with mutual TLS.

It calls the agent API of `ottava.wire.agent` on `<amphora.lb_network_ip>:<port>`, trusting
only the controller's CA and checking that the server's certificate names the amphora id
(`server_hostname = amphora.id`), and presents the controller's client certificate.

The controller issues itself that client certificate once and keeps it in the CA folder
(`<state_dir>/ca/controller-client.pem`: key and certificate in one file, written atomically,
so two controller processes never pair a key with the other's certificate); it is re-issued
when it comes within ROTATE_MARGIN of its end.

Failures: every call has a connect timeout and a read timeout. Connection errors (refused,
reset, timed out: an agent that is still starting) are retried with exponential backoff for up
to `retry_for` seconds, then raise `Retryable`. A 4xx answer raises `Fatal` (the same request
will fail again: a bad spec, a spec `haproxy -c` refuses); a 5xx raises `Retryable`; a TLS
failure (wrong certificate on either side) raises `Fatal`. Every agent call is idempotent
(the spec hash decides), so retrying one that may have reached the agent is harmless.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import ssl
import time
from pathlib import Path
from typing import Any

from ottava.domain.errors import Fatal, Retryable
from ottava.domain.ports import AmphoraRef
from ottava.drivers.amphora import pki
from ottava.wire import agent as api

CLIENT_NAME = "ottava-controller"
CLIENT_FILE = "controller-client.pem"
CLIENT_VALIDITY = datetime.timedelta(days=365)
ROTATE_MARGIN = datetime.timedelta(days=30)
_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"


def default_state_dir() -> Path:
    if os.environ.get("OTTAVA_STATE_DIR"):
        return Path(os.environ["OTTAVA_STATE_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ottava"


def controller_client_pems(ca: pki.CertificateAuthority, folder: Path) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of the controller's client certificate, issued once and cached."""
    path = folder / CLIENT_FILE
    try:
        data = path.read_bytes()
        key_pem, marker, rest = data.partition(_CERT_MARKER)
        cert_pem = marker + rest
        if marker and not pki.needs_rotation(cert_pem, ROTATE_MARGIN):
            return cert_pem, key_pem
    except (OSError, ValueError):
        pass
    cert_pem, key_pem = ca.issue_client(CLIENT_NAME, CLIENT_VALIDITY)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{CLIENT_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem + cert_pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return cert_pem, key_pem


class RestAmphoraDriver:
    """`AmphoraDriver` over the agent's HTTPS API (see the module docstring)."""

    def __init__(self, state_dir: str | os.PathLike[str] | None = None, *,
                 port: int = api.DEFAULT_PORT, connect_timeout: float = 5.0,
                 read_timeout: float = 60.0, retry_for: float = 30.0,
                 context: ssl.SSLContext | None = None) -> None:
        """Reads (or makes) the CA in `<state_dir>/ca`; `state_dir` defaults to
        $OTTAVA_STATE_DIR, else $XDG_DATA_HOME/ottava or ~/.local/share/ottava.
        `context` (a `pki.client_context`) replaces all of that when given."""
        if context is None:
            folder = Path(state_dir) if state_dir else default_state_dir()
            ca = pki.CertificateAuthority.load_or_create(folder / "ca")
            cert_pem, key_pem = controller_client_pems(ca, folder / "ca")
            context = pki.client_context(ca.cert_pem, cert_pem, key_pem)
        self.context = context
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry_for = retry_for

    @classmethod
    def from_pems(cls, ca_pem: bytes, cert_pem: bytes, key_pem: bytes,
                  **kwargs: Any) -> RestAmphoraDriver:
        return cls(context=pki.client_context(ca_pem, cert_pem, key_pem), **kwargs)

    # --- AmphoraDriver -------------------------------------------------------------------

    def apply(self, amphora: AmphoraRef, spec: dict[str, Any]) -> None:
        self.put(amphora, spec)

    def remove(self, amphora: AmphoraRef) -> None:
        self._call(amphora, "DELETE", api.LOADBALANCER)

    def configure_vrrp(self, amphora: AmphoraRef, config: dict[str, Any]) -> None:
        self._call(amphora, "PUT", api.VRRP, config)

    def rotate_certificate(self, amphora: AmphoraRef, cert_pem: str, key_pem: str) -> None:
        body: api.Certificate = {"cert_pem": cert_pem, "key_pem": key_pem}
        self._call(amphora, "PUT", api.CERTIFICATE, body)

    def stats(self, amphora: AmphoraRef) -> dict[str, dict[str, int]]:
        """Counters per listener id (statuses and pools/members: `full_stats`)."""
        listeners = self.full_stats(amphora)["listeners"]
        return {ident: {k: v for k, v in row.items() if isinstance(v, int)}
                for ident, row in listeners.items()}

    # --- the rest of the agent API -------------------------------------------------------

    def put(self, amphora: AmphoraRef, spec: dict[str, Any]) -> api.ApplyResult:
        result: api.ApplyResult = self._call(amphora, "PUT", api.LOADBALANCER, spec)
        return result

    def info(self, amphora: AmphoraRef) -> api.Info:
        result: api.Info = self._call(amphora, "GET", api.INFO)
        return result

    def applied_hash(self, amphora: AmphoraRef) -> str | None:
        result: api.AppliedHash = self._call(amphora, "GET", api.LOADBALANCER)
        return result["hash"]

    def full_stats(self, amphora: AmphoraRef) -> api.Stats:
        result: api.Stats = self._call(amphora, "GET", api.STATS)
        return result

    # --- transport -----------------------------------------------------------------------

    def _call(self, amphora: AmphoraRef, method: str, path: str, body: Any = None) -> Any:
        if not amphora.lb_network_ip:
            raise Fatal(f"amphora {amphora.id} has no lb_network_ip")
        data = None if body is None else json.dumps(body).encode()
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                status, raw = self._once(amphora, method, path, data)
                break
            except ssl.SSLError as exc:  # a certificate refused on either side
                raise Fatal(f"TLS with the agent of amphora {amphora.id} failed: {exc}") \
                    from exc
            except (OSError, http.client.HTTPException) as exc:
                if time.monotonic() + delay > deadline:
                    raise Retryable(f"the agent of amphora {amphora.id} at "
                                    f"{amphora.lb_network_ip}:{self.port} did not answer "
                                    f"{method} {path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        if status == 204:
            return None
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        if 200 <= status < 300:
            return payload
        message = (payload.get("error") if isinstance(payload, dict) else None) \
            or raw[:500].decode(errors="replace")
        text = f"agent of amphora {amphora.id}: {method} {path} -> {status}: {message}"
        if 400 <= status < 500:
            raise Fatal(text)
        raise Retryable(text)

    def _once(self, amphora: AmphoraRef, method: str, path: str,
              data: bytes | None) -> tuple[int, bytes]:
        assert amphora.lb_network_ip
        conn = _Connection(amphora.lb_network_ip, self.port, amphora.id, self.context,
                           self.connect_timeout)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(self.read_timeout)
            headers = {"Accept": api.JSON, "Connection": "close"}
            if data is not None:
                headers["Content-Type"] = api.JSON
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


class _Connection(http.client.HTTPSConnection):
    """HTTPS to an address, checking the certificate against the amphora id, not the host."""

    def __init__(self, host: str, port: int, server_name: str, context: ssl.SSLContext,
                 timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls_context = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=self._server_name)
