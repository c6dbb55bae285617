"""Backends for the end-to-end tests: small HTTP servers on the host's bridge address that
answer with their name, can hold requests open, set an application cookie, echo the request's
headers, speak HTTPS, and be frozen; and UDP servers that answer with their name."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GATEWAY = "198.18.0.1"
GATEWAY6 = "fd00:198:18::1"  # the bridge's IPv6 address: backends for IPv6 members
HOLD_LIMIT = 15.0  # no handler sleeps longer than this, whatever happens to the test


def on_the_bridge(address: str) -> str:
    """`address`, made to exist first when it is the bridge's: a test run alone (before any
    amphora made the bridge) can start its backends before its first load balancer."""
    if address in (GATEWAY, GATEWAY6):
        from concurrent.futures import ThreadPoolExecutor

        from ottava.drivers.linux import netlink

        # On a thread of its own: pyroute2 runs an event loop of its own, which it cannot
        # where one runs already (a Playwright test's thread).
        with ThreadPoolExecutor(1) as pool:
            pool.submit(netlink.ensure_bridge).result(timeout=30)
    return address


class Backend(ThreadingHTTPServer):
    """An HTTP server on the bridge address answering its own name.

    `/slow` sleeps while `hold` is set (at most HOLD_LIMIT s); `/app` sets the cookie
    JSESSIONID=<name>; `/headers` answers the request's headers as a JSON object; `freeze()`
    stops serving while the socket keeps listening (a stopped process: connections are
    accepted by the kernel and never answered); `thaw()` resumes. With `tls` (a server
    context) every connection is HTTPS."""

    daemon_threads = True

    def __init__(self, name: str, port: int = 0, tls: ssl.SSLContext | None = None,
                 address: str = GATEWAY) -> None:
        self.name = name
        address = on_the_bridge(address)
        if ":" in address:
            self.address_family = socket.AF_INET6
        self.tls = tls
        self.hold = threading.Event()
        self.inflight = 0
        self.served = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.inflight += 1
                try:
                    if self.path.startswith("/slow"):
                        deadline = time.monotonic() + HOLD_LIMIT
                        while server.hold.is_set() and time.monotonic() < deadline:
                            time.sleep(0.02)
                    body = name.encode()
                    if self.path.startswith("/headers"):
                        body = json.dumps(dict(self.headers.items())).encode()
                    self.send_response(200)
                    if self.path.startswith("/app"):
                        self.send_header("Set-Cookie", f"JSESSIONID={name}; Path=/")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server.lock:
                        server.inflight -= 1
                        server.served += 1

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__((address, port), Handler, bind_and_activate=False)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart, same port
        self.server_bind = lambda: self.socket.bind(self.server_address)  # type: ignore[method-assign]
        self.server_bind()
        self.server_activate()
        self.port = self.socket.getsockname()[1]
        self.thaw()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = self.socket.accept()
        if self.tls is not None:
            # The handshake happens on the handler's first read, not on the accepting thread.
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # health checks hang up without reading the answer: not worth a traceback

    def thaw(self) -> None:
        self.frozen = False
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def freeze(self) -> None:
        self.frozen = True
        self.shutdown()

    def stop(self) -> None:
        self.hold.clear()
        self.shutdown()
        self.server_close()


class UdpBackend:
    """A UDP server on the bridge address answering every datagram with its name.

    `stop()` closes the socket, so datagrams to its port are answered by the kernel with ICMP
    port unreachable, which is what a UDP-CONNECT health check looks for. `received` counts
    the datagrams it answered."""

    def __init__(self, name: str, port: int = 0, address: str = GATEWAY) -> None:
        self.name = name
        self.received = 0
        address = on_the_bridge(address)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                _, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.received += 1
            with contextlib.suppress(OSError):
                self.sock.sendto(self.name.encode(), peer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
