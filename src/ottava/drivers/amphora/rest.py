"""The amphora driver that talks to each amphora's agent over HTTPS with mutual TLS.

It calls the agent API of `ottava.wire.agent` on `<amphora.lb_network_ip>:<port>` (the
port every amphora's agent is born with: `[haproxy_amphora] bind_port`), trusting only the
controller's CA and checking that the server's certificate names the amphora id
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
from ottava.domain.ports.amphora import AmphoraRef
from ottava.drivers.amphora import pki
from ottava.settings import DriverSettings
from ottava.wire import agent as api

CLIENT_NAME = "ottava-controller"
CLIENT_FILE = "controller-client.pem"
CLIENT_VALIDITY = datetime.timedelta(days=365)
ROTATE_MARGIN = datetime.timedelta(days=30)
CONNECT_TIMEOUT = 5.0  # seconds to reach an agent
READ_TIMEOUT = 60.0  # seconds an agent may take to answer (an apply validates and reloads)
RETRY_FOR = 30.0  # seconds an agent that refuses connections (still starting) is tried
_CERT_MARKER = b"-----BEGIN CERTIFICATE-----"


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
    """`AmphoraAgent` over the agent's HTTPS API (see the module docstring)."""

    def __init__(self, context: ssl.SSLContext, port: int, *,
                 connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT,
                 retry_for: float = RETRY_FOR) -> None:
        """Dials each agent on `port`, presenting the client certificate of `context`
        (`pki.client_context`); `from_settings` builds the controller's own."""
        self.context, self.port = context, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.retry_for = retry_for

    @classmethod
    def from_settings(cls, settings: DriverSettings) -> RestAmphoraDriver:
        """The controller's driver (the `rest` entry point): the CA in
        `<settings.state_dir>/ca` (made on first use), its client certificate, and
        `settings.agent_port`, the port every agent listens on."""
        folder = Path(settings.state_dir) / "ca"
        ca = pki.CertificateAuthority.load_or_create(folder)
        cert_pem, key_pem = controller_client_pems(ca, folder)
        return cls(pki.client_context(ca.cert_pem, cert_pem, key_pem), settings.agent_port)

    # --- AmphoraAgent --------------------------------------------------------------------

    def apply(self, amphora: AmphoraRef, spec: dict[str, Any]) -> None:
        self.put(amphora, spec)

    def remove(self, amphora: AmphoraRef) -> None:
        self._call(amphora, "DELETE", api.LOADBALANCER)

    def configure_vrrp(self, amphora: AmphoraRef, config: dict[str, Any]) -> None:
        self._call(amphora, "PUT", api.VRRP, config)

    def rotate_certificate(self, amphora: AmphoraRef, cert_pem: str, key_pem: str) -> None:
        body: api.Certificate = {"cert_pem": cert_pem, "key_pem": key_pem}
        self._call(amphora, "PUT", api.CERTIFICATE, body)

    def plug_interface(self, amphora: AmphoraRef, mac: str, address: str, prefixlen: int,
                       vips: list[str], routes: tuple[tuple[str, str], ...] = ()) -> str:
        plug: api.InterfacePlug = {"mac": mac, "address": address, "prefixlen": prefixlen,
                                   "vips": vips}
        if routes:  # only then: an agent of the first version knows no routes
            plug["routes"] = [{"destination": d, "nexthop": n} for d, n in routes]
        answer = self._call(amphora, "PUT", api.INTERFACE, plug)
        if not isinstance(answer, dict) or not isinstance(answer.get("ifname"), str):
            raise Fatal(f"agent of amphora {amphora.id}: PUT {api.INTERFACE} answered "
                        f"{answer!r}, not an interface name")
        return str(answer["ifname"])

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
