"""The UDP endpoint heartbeats arrive on: receive, verify, hand over; count what is dropped.

One thread reads datagrams (a large kernel buffer absorbs bursts while the batch writer
holds the GIL), checks each with `ottava.wire.heartbeat.decode` and offers what passes to the
`Ingest`. Whatever fails — size, magic, signature, version, body, shape — is counted under
its reason and logged at most once a minute per reason; the loop itself never stops on bad
input.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from collections.abc import Callable

from oslo_log import log as logging

from ottava.wire import heartbeat as wire
from ottava.wire.heartbeat import Heartbeat

LOG = logging.getLogger(__name__)

RECEIVE_BUFFER = 8 * 1024 * 1024  # bytes the kernel may queue for us
LOG_EVERY = 60.0  # seconds between two log lines about one kind of dropped datagram


class Receiver:
    def __init__(self, host: str, port: int, key: bytes,
                 accept: Callable[[Heartbeat], None]) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.socket.settimeout(0.2)  # so stop() is noticed
        self.address = self.socket.getsockname()[:2]
        self.key = key
        self.accept = accept
        self.received = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self._logged: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def handle(self, datagram: bytes, source: tuple[str, int] | None = None) -> bool:
        """Check one datagram and pass it on; False (and counted) when it is dropped."""
        self.received += 1
        try:
            heartbeat = wire.decode(datagram, self.key)
        except wire.Rejected as exc:
            self._drop(exc.reason, f"{exc} from {source[0] if source else '?'}")
            return False
        self.accept(heartbeat)
        return True

    def _drop(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        now = time.monotonic()
        if now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
            self._logged[reason] = now
            LOG.warning("Dropped a heartbeat (%s; %d so far)", detail, self.dropped[reason])

    def _run(self) -> None:
        recv = self.socket.recvfrom
        while not self._stop.is_set():
            try:
                datagram, source = recv(wire.MAX_SIZE + 1)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return
                LOG.warning("Heartbeat socket error: %s", exc)
                time.sleep(0.1)
                continue
            try:
                self.handle(datagram, source)
            except Exception:  # a bug must not stop the health manager from listening
                self.dropped["error"] += 1
                LOG.exception("Heartbeat handling failed")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat-receiver",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.socket.close()
