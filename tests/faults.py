"""Faults on demand: a TCP proxy in front of a real service (the broker, the database) that a
test cuts and restores, as a network partition or a restarted service would."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterator


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`. `cut()` drops every open connection and stops
    listening, so new ones are refused, as a stopped service's host refuses them;
    `restore()` listens on the same port again. `stop()` ends it; every thread exits."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.down = threading.Event()
        self.stopping = threading.Event()
        self.accepter = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self.accepter.start()

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            # shutdown() first: a bare close() leaves the socket listening (and accepting into
            # its backlog) until the accepter's poll returns, so a connect right after cut()
            # could still succeed.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.open.clear()

    def restore(self) -> None:
        with self.lock:
            if self.down.is_set():
                self.listener = socket.create_server(("127.0.0.1", self.port))
                self.listener.settimeout(0.2)
                self.down.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.cut()
        self.accepter.join(timeout=5)

    def _accept(self) -> None:
        while not self.stopping.is_set():
            if self.down.is_set():
                self.stopping.wait(0.05)
                continue
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue  # a timeout, or the listener closed by cut()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True,
                             name="tcp-proxy-pump").start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        pairs = {client: upstream, upstream: client}
        for sock in pairs:
            selector.register(sock, selectors.EVENT_READ)
        try:
            while not self.stopping.is_set():
                for key, _ in selector.select(timeout=0.5):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    pairs[key.fileobj].sendall(data)  # type: ignore[index]
        except OSError:
            return
        finally:
            selector.close()
            with self.lock:
                for sock in pairs:
                    self.open.discard(sock)
                    sock.close()


@contextlib.contextmanager
def proxy(target: tuple[str, int]) -> Iterator[TcpProxy]:
    p = TcpProxy(target)
    try:
        yield p
    finally:
        p.stop()
