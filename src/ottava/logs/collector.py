"""A syslog collector for `ottava standalone`: the amphorae's HAProxy logs, kept per load
balancer (`ottava.logs.store`).

Amphorae send RFC 3164 lines (`<PRI>Mmm dd hh:mm:ss HOST TAG: MESSAGE`) whose host is the load
balancer id (`log-send-hostname`, `ottava.render.haproxy`) and whose facility says the kind:
local0 tenant flow logs, local1 admin logs. The collector listens on one port for both
transports Octavia offers (`[amphora_agent] log_protocol`): UDP datagrams, one line each, and
TCP streams framed by octet counting (RFC 6587: `<length> <line>`, what HAProxy's rings send)
or, failing that, by newlines. Lines it cannot place (no load balancer id as host, another
facility) are counted and dropped.

Bounded: at most MAX_CONNECTIONS TCP senders at once, each line at most MAX_LINE bytes, an
idle TCP sender dropped after IDLE_TIMEOUT seconds.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import socket
import threading

from ottava.logs.store import LogStore

LOG = logging.getLogger(__name__)
FACILITIES = {16: "tenant", 17: "admin"}  # local0, local1
MAX_LINE = 65536
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 300.0
PORT_ATTEMPTS = 20  # free ports tried for UDP and TCP alike when none is configured
_LINE = re.compile(r"<(\d{1,3})>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?(\S+) (.*)", re.S)


class LogCollector:
    def __init__(self, store: LogStore, host: str, port: int) -> None:
        self.store = store
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # Port 0: UDP takes a free port and TCP the same number, which a TCP connection of
        # this host may hold (its local end): then both try another, a bounded few times.
        for attempt in range(1 if port else PORT_ATTEMPTS):
            self._udp = socket.socket(family, socket.SOCK_DGRAM)
            self._tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                self._udp.bind((host, port))
                bound = self._udp.getsockname()[1]
                self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self._tcp.bind((host, bound))
                self._tcp.listen(16)
                break
            except OSError as error:
                self._udp.close()
                self._tcp.close()
                if port or error.errno != errno.EADDRINUSE or attempt == PORT_ATTEMPTS - 1:
                    raise
        self.address: tuple[str, int] = (host, bound)
        self.dropped = 0
        self.stored = 0
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._receive, name="log-udp", daemon=True),
                         threading.Thread(target=self._accept, name="log-tcp", daemon=True)]

    @property
    def target(self) -> str:
        """The address amphorae send to, as `host:port`."""
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for sock in (self._udp, self._tcp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=5)
        self.store.close()

    def take(self, line: str) -> None:
        """File one syslog line."""
        match = _LINE.fullmatch(line.rstrip("\r\n"))
        if match is None:
            self.dropped += 1
            return
        kind = FACILITIES.get(int(match.group(1)) >> 3)
        if kind is None:
            self.dropped += 1
            return
        try:
            self.store.append(match.group(2), kind, match.group(3))
            self.stored += 1
        except (ValueError, OSError):  # a host that is no load balancer id, a full disk
            self.dropped += 1

    def _receive(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self._udp.recv(MAX_LINE)
            except OSError:
                return
            self.take(data.decode(errors="replace"))

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                conn.close()
                continue
            threading.Thread(target=self._stream, args=(conn,), name="log-tcp-sender",
                             daemon=True).start()

    def _stream(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            conn.settimeout(IDLE_TIMEOUT)
            while not self._stopping.is_set():
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                buffer = self._frames(buffer)
                if len(buffer) > MAX_LINE:
                    return  # a sender that frames nothing we understand
        except OSError:
            return
        finally:
            conn.close()
            self._slots.release()

    def _frames(self, buffer: bytes) -> bytes:
        """Take every whole line off `buffer`; the rest."""
        while buffer:
            length, space, rest = buffer.partition(b" ")
            if length.isdigit() and space:  # octet counting
                size = int(length)
                if len(rest) < size:
                    return buffer
                self.take(rest[:size].decode(errors="replace"))
                buffer = rest[size:]
                continue
            line, newline, rest = buffer.partition(b"\n")
            if not newline:
                return buffer
            self.take(line.decode(errors="replace"))
            buffer = rest
        return buffer
