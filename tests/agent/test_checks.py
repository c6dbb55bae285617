"""The agent's own member checks (datagram pools), against real sockets on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from ottava.agent import checks


def monitor(kind: str, **kw: Any) -> dict[str, Any]:
    return {"type": kind, "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2,
            "http_method": None, "url_path": None, "expected_codes": None,
            "domain_name": None, "enabled": True, **kw}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def udp_server() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]  # bound, silent: a UDP service that does not answer


def test_udp_connect_tells_a_silent_service_from_a_closed_port(udp_server: int) -> None:
    assert checks.probe(monitor("UDP-CONNECT", timeout=0.3), "127.0.0.1", udp_server)
    assert not checks.probe(monitor("UDP-CONNECT"), "127.0.0.1", free_udp_port())


def test_tcp_and_http_probes() -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(202 if self.path == "/ok" else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert checks.probe(monitor("TCP"), "127.0.0.1", port)
        assert checks.probe(monitor("HTTP", url_path="/ok", expected_codes="200-202"),
                            "127.0.0.1", port)
        assert not checks.probe(monitor("HTTP", url_path="/bad", expected_codes="200, 202"),
                                "127.0.0.1", port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not checks.probe(monitor("TCP"), "127.0.0.1", port)  # nothing listens now


def test_expected_codes() -> None:
    assert checks.expected_codes(None) == {200}
    assert checks.expected_codes("200, 202") == {200, 202}
    assert checks.expected_codes("200-203") == {200, 201, 202, 203}


def test_checker_applies_fall_and_rise() -> None:
    port = free_udp_port()
    changes: list[bool] = []
    checker = checks.Checker(lambda: changes.append(checker.health()["m"] is True))
    try:
        checker.watch([checks.Target("m", "127.0.0.1", port,
                                     monitor("UDP-CONNECT", timeout=0.3))])
        assert checker.health() == {"m": True}  # members start up, as HAProxy's do
        deadline = time.monotonic() + 10
        while changes != [False] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert changes == [False]  # down after two failed probes in a row
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))
            deadline = time.monotonic() + 10
            while changes != [False, True] and time.monotonic() < deadline:
                time.sleep(0.05)
        assert changes == [False, True]  # up after one good probe
    finally:
        checker.stop()
