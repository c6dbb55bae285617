"""The UDP endpoint heartbeats arrive on: receive, verify, hand over; count what is dropped.

`Receiver` reads datagrams in a periodic job of the health manager, checks each with
`ottava.wire.heartbeat.decode` and offers what passes to the `Ingest`. Whatever fails — size,
magic, signature, version, body, shape — is counted under its reason and logged at most once
a minute per reason; the loop itself never stops on bad input. That is enough for one host.

`ReceiverProcesses` does the same in processes of their own (SO_REUSEPORT shares the port
between them), each keeping only the newest heartbeat per amphora and handing the batch to
the health manager once per flush interval through a pipe. Verifying ~30 µs per datagram in
the same interpreter as the batch writer made the two take turns on the GIL while the
kernel's buffer overflowed; in separate processes they run on separate cores.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import functools
import multiprocessing
import multiprocessing.connection
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

from ottava.periodic import Periodic, PeriodicPart
from ottava.wire import heartbeat as wire
from ottava.wire.heartbeat import Heartbeat

LOG = logging.getLogger(__name__)

RECEIVE_BUFFER = 8 * 1024 * 1024  # bytes the kernel may queue for us
LOG_EVERY = 60.0  # seconds between two log lines about one kind of dropped datagram
DRAIN_WAIT = 0.2  # seconds a drain waits for the next datagram before it returns
DRAIN_SPAN = 1.0  # seconds one drain may last under a steady stream
AT_ONCE = 0.001  # the pause between two drains: none to speak of


class AddressTaken(RuntimeError):
    """The heartbeat address is held by another process: two health managers on one port
    would each receive about half of the other's heartbeats and fail healthy amphorae over."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"The heartbeat address {host}:{port} is already in use (another Ottava health "
            "manager on this host?). Stop it, or give this one its own [health_manager] "
            "bind_ip/bind_port (standalone: its own state folder and amphora network).")


def bind(host: str, port: int, shared: bool = False) -> socket.socket:
    """A UDP socket on host:port with a large receive buffer (beyond the system's cap when
    this process may: root); `shared`: this health manager's other receiver processes may
    bind the same port. No SO_REUSEADDR: for UDP it would let a second health manager share
    the port silently. Raises AddressTaken when the port is held."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
                break
            except OSError:
                continue
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise AddressTaken(host, port) from None
        raise
    return sock


def claim(host: str, port: int) -> None:
    """AddressTaken unless host:port is free: a bind without SO_REUSEPORT fails while any
    other process holds the port, shared or not. Checked before this health manager's own
    receiver processes bind it together."""
    if port:
        bind(host, port).close()


class Receiver(PeriodicPart):
    def __init__(self, host: str, port: int, key: bytes,
                 accept: Callable[[Heartbeat], None], shared: bool = False,
                 max_age: float = wire.MAX_AGE) -> None:
        self.socket = bind(host, port, shared)
        self.socket.settimeout(DRAIN_WAIT)
        self.address = self.socket.getsockname()[:2]
        self.keys = wire.Keys(key)
        self.max_age = max_age
        self.accept = accept
        self.received = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self._logged: dict[str, float] = {}
        # The newest send time accepted from each amphora: one sent no later is a replay.
        self._newest: dict[str, float] = {}

    def handle(self, datagram: bytes, source: tuple[str, int] | None = None) -> bool:
        """Check one datagram and pass it on; False (and counted) when it is dropped."""
        self.received += 1
        try:
            heartbeat = wire.decode(datagram, self.keys, max_age=self.max_age)
        except wire.Rejected as exc:
            self._drop(exc.reason, f"{exc} from {source[0] if source else '?'}")
            return False
        sent, ident = wire.sent_at(datagram), heartbeat["id"]
        if sent <= self._newest.get(ident, 0.0):
            self._drop("replayed", f"a heartbeat of {ident} sent no later than one already "
                       f"accepted, from {source[0] if source else '?'}")
            return False
        if len(self._newest) >= wire.Keys.LIMIT:
            self._newest.clear()
        self._newest[ident] = sent
        self.accept(heartbeat)
        return True

    def _drop(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        now = time.monotonic()
        if now - self._logged.get(reason, -LOG_EVERY) >= LOG_EVERY:
            self._logged[reason] = now
            LOG.warning("Dropped a heartbeat (%s; %d so far)", detail, self.dropped[reason])

    def drain(self) -> int:
        """Handle the datagrams that arrive until none has for DRAIN_WAIT s (or for at most
        DRAIN_SPAN s); returns how many were read. Run again at once by the periodic runner."""
        recv, count = self.socket.recvfrom, 0
        until = time.monotonic() + DRAIN_SPAN
        while time.monotonic() < until:
            try:
                datagram, source = recv(wire.MAX_SIZE + 1)
            except TimeoutError:
                break
            except OSError as exc:
                if self.socket.fileno() == -1:
                    break  # closed: the health manager is stopping
                LOG.warning("Heartbeat socket error: %s", exc)
                break
            count += 1
            try:
                self.handle(datagram, source)
            except Exception:  # a bug must not stop the health manager from listening
                self.dropped["error"] += 1
                LOG.exception("Heartbeat handling failed")
        return count

    def periodics(self) -> list[Periodic]:
        return [Periodic("heartbeat-receiver", AT_ONCE, self.drain, run_immediately=True)]

    def close(self) -> None:
        self.socket.close()


def _child(host: str, port: int, key: bytes, interval: float, max_age: float,
           conn: multiprocessing.connection.Connection) -> None:
    """A receiver process: verify datagrams, keep the newest heartbeat per amphora, send
    (batch, accepted, dropped-by-reason) up `conn` every `interval` s until told to stop."""
    batch: dict[str, Heartbeat] = {}
    accepted = 0

    def keep(heartbeat: Heartbeat) -> None:
        nonlocal accepted
        batch[heartbeat["id"]] = heartbeat
        accepted += 1

    receiver = Receiver(host, port, key, keep, shared=True, max_age=max_age)
    receiver.socket.settimeout(interval / 4)
    conn.send(("bound", receiver.address))
    recv, handle = receiver.socket.recvfrom, receiver.handle
    due = time.monotonic() + interval
    while True:
        try:
            datagram, source = recv(wire.MAX_SIZE + 1)
            handle(datagram, source)
        except TimeoutError:
            pass
        except Exception:  # a bug must not stop the receiver
            receiver.dropped["error"] += 1
        if time.monotonic() >= due:
            due = time.monotonic() + interval
            if conn.poll():
                return  # told to stop (or the parent is gone)
            conn.send(("batch", batch, accepted, receiver.received, dict(receiver.dropped)))
            batch, accepted = {}, 0
            receiver.received = 0
            receiver.dropped.clear()


class ReceiverProcesses(PeriodicPart):
    """`count` receiver processes sharing host:port, feeding `Ingest.offer_batch`.

    The kernel spreads datagrams over the processes by their source address and port, and an
    agent sends from one socket: all of one amphora's heartbeats reach the same process, so
    merging the processes' batches never puts an older heartbeat over a newer one. A
    process that dies is logged and started again on the same port."""

    def __init__(self, host: str, port: int, key: bytes, count: int, interval: float,
                 accept: Callable[[dict[str, Heartbeat], int], None],
                 max_age: float = wire.MAX_AGE) -> None:
        self.key = key
        self.max_age = max_age
        self.accept = accept
        self.interval = interval
        self.received = 0
        self.restarts = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self._children: list[tuple[Any, multiprocessing.connection.Connection]] = []
        self._stopping = False
        self._lock = threading.Lock()
        self.address = (host, port)
        claim(host, port)
        for _ in range(count):
            # The others share the first one's port (which may have been asked as 0).
            self._children.append(self._spawn())

    def _spawn(self) -> tuple[Any, multiprocessing.connection.Connection]:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_child, daemon=True, name="ottava-heartbeat-receiver",
            args=(self.address[0], self.address[1], self.key, self.interval, self.max_age,
                  child))
        process.start()
        child.close()
        if not parent.poll(30):
            process.kill()
            raise RuntimeError("a heartbeat receiver process did not start")
        _, address = parent.recv()
        self.address = (str(address[0]), int(address[1]))
        return process, parent

    def pump(self, slot: int) -> None:
        """Take the batch process `slot` sent, if one comes within DRAIN_WAIT s; start the
        process again if it died."""
        process, conn = self._children[slot]
        try:
            if not conn.poll(DRAIN_WAIT):
                return
            _, batch, accepted, received, dropped = conn.recv()
        except (EOFError, OSError):
            if self._stopping:
                return
            LOG.error("Heartbeat receiver process %s died (exit %s): starting another",
                      process.pid, process.exitcode)
            with contextlib.suppress(OSError):
                conn.close()
            try:
                with self._lock:
                    self._children[slot] = self._spawn()
                    self.restarts += 1
            except (OSError, RuntimeError) as exc:
                LOG.error("Could not start a heartbeat receiver: %s", exc)
                time.sleep(1.0)
            return
        self.received += received
        self.dropped.update(dropped)
        if batch:
            self.accept(batch, accepted)

    def periodics(self) -> list[Periodic]:
        return [Periodic(f"heartbeat-pump-{slot}", AT_ONCE, functools.partial(self.pump, slot),
                         run_immediately=True) for slot in range(len(self._children))]

    def close(self) -> None:
        """Stop the processes (after the periodic runner has stopped pumping)."""
        self._stopping = True
        with self._lock:
            for process, conn in self._children:
                with contextlib.suppress(OSError):
                    conn.send("stop")
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
                conn.close()
