"""The host agent: one process serving every local amphora kept under one folder.

In a VM an amphora runs its own agent (`ottava amphora-agent`, `ottava.agent.server`). On one
host that would be one Python process of about 34 MB per amphora, more than its HAProxy, so
`ottava amphora-host-agent --dir <state>/amphorae` serves them all (decision 0025) and keeps
the agent's contract for each:

- each amphora's agent API listens inside that amphora's network namespace, on its own
  management address, with its own certificate, and accepts only the controller's client
  certificate: a connection to one amphora's address reaches that amphora's state only;
- each amphora's heartbeat leaves from its namespace, signed with its own key;
- its HAProxy, keepalived and nftables table are its own, inside its namespace, and outlive
  the host agent as they outlive an amphora's own agent (a new host agent adopts them).

What the amphorae share is the process and one accept loop over all their listening sockets;
each connection then gets a thread of its own inside its amphora's namespace
(`ottava.agent.netns`), as do the amphora's heartbeat and check threads.

The local compute driver names the amphorae to serve over a control socket
(`ottava.wire.agent.call_host`). When the host agent starts it serves every amphora folder whose
namespace exists. An amphora whose namespace is deleted behind its back (a test's "dead host")
is dropped within a second: its threads end and its sockets close, which frees the namespace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import selectors
import socket
import socketserver
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ottava.agent import netns
from ottava.agent.heartbeat import Sender
from ottava.agent.server import AgentServer, build, heartbeat_sender, stop_on_signals
from ottava.wire import agent as api

LOG = logging.getLogger("ottava.agent.host")
PID_FILE = "host-agent.pid"  # in the amphorae's folder, written by the host agent itself
POLL_INTERVAL = 0.5  # the accept loop's wait, hence how soon a stop is seen
REAP_INTERVAL = 1.0  # how often vanished namespaces are looked for
CONTROL_TIMEOUT = 10.0  # a control client's request line


@dataclass
class Amphora:
    """What the host agent runs for one amphora."""

    config: api.AgentConfig
    server: AgentServer
    sender: Sender | None
    identity: str = ""  # what it was started from (`identity_of`)
    namespace: tuple[int, int] | None = None  # which namespace of that name (`netns.identity`)

    def close(self) -> None:
        """Stop serving it; its HAProxy, keepalived and nftables table keep running."""
        if self.sender is not None:
            self.sender.stop()
        self.server.datagrams.stop()
        self.server.server_close()


def start_amphora(config: api.AgentConfig, namespace: tuple[int, int] | None) -> Amphora:
    """An amphora's server and heartbeat, built on the calling thread: inside the amphora's
    namespace (`netns.run_inside`), so its socket and every thread it starts are too. Its
    heartbeats stop the moment `namespace` (`netns.identity`) is no longer the one of that
    name: a deleted amphora must not look alive, or half-configured, until it is reaped."""
    server = build(config)
    server.timeout = 0  # handle_request() must never wait: the accept loop already did
    name = config["netns"]

    def alive() -> bool:
        return netns.identity(name) == namespace

    try:
        sender = heartbeat_sender(config, server.haproxy, server.datagrams, alive)
        if sender is not None:
            sender.start()
    except BaseException:  # nothing of a failed start may stay behind in the namespace
        server.datagrams.stop()
        server.server_close()
        raise
    return Amphora(config, server, sender)


def identity_of(config: api.AgentConfig) -> str:
    """A digest of an amphora's configuration and of the certificate, key and CA it names."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode())
    for key in ("ca_path", "cert_path", "key_path"):
        digest.update(Path(config[key]).read_bytes())
    return digest.hexdigest()


class HostAgent:
    """Serves the amphorae of `directory` (one folder per amphora id, each holding its
    `agent.json`) until `serve`'s stop event is set."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).absolute()
        self.amphorae: dict[str, Amphora] = {}
        self._lock = threading.Lock()  # adding, dropping and reaping amphorae
        self._selector = selectors.DefaultSelector()
        self.control = ControlServer(api.host_socket(self.directory), self)
        self._selector.register(self.control.socket, selectors.EVENT_READ, self.control)

    # --- which amphorae -------------------------------------------------------------------

    def add(self, amphora_id: str) -> None:
        """Serve `amphora_id` from its folder's configuration, read afresh. An amphora served
        already is left alone when nothing changed, and started again when something did (a
        retried boot brings a new certificate): dropping a listening socket refuses the
        connections still waiting in its queue, so it is never done for nothing."""
        config = api.load_config(self.directory / amphora_id / api.HOST_CONFIG)
        name = config.get("netns")
        if config["amphora_id"] != amphora_id or name is None:
            raise ValueError(f"{amphora_id}'s configuration names another amphora or no "
                             f"namespace")
        if not netns.exists(name):
            raise ValueError(f"network namespace {name} does not exist")
        identity, namespace = identity_of(config), netns.identity(name)
        with self._lock:
            served = self.amphorae.get(amphora_id)
            if served is not None and (served.identity, served.namespace) == (identity,
                                                                               namespace):
                return
            self._drop(amphora_id)
            amphora = netns.run_inside(name, start_amphora, config, namespace)
            amphora.identity, amphora.namespace = identity, namespace
            self.amphorae[amphora_id] = amphora
            self._selector.register(amphora.server.socket, selectors.EVENT_READ, amphora.server)
        LOG.info("serving amphora %s in %s on %s:%s", amphora_id, name, config["bind_host"],
                 config["bind_port"])

    def remove(self, amphora_id: str) -> None:
        with self._lock:
            if self._drop(amphora_id):
                LOG.info("no longer serving amphora %s", amphora_id)

    def served(self) -> list[str]:
        with self._lock:
            return sorted(self.amphorae)

    def adopt(self) -> None:
        """Serve every amphora folder whose namespace still exists (a restart)."""
        for folder in sorted(self.directory.iterdir()):
            if not (folder / api.HOST_CONFIG).is_file():
                continue
            try:
                self.add(folder.name)
            except (OSError, ValueError, ssl.SSLError) as exc:
                LOG.warning("not adopting %s: %s", folder.name, exc)

    def reap(self) -> None:
        """Drop the amphorae whose namespace is gone, or is another one now (deleted and made
        again under the same name: the old one must not stay held by its threads)."""
        with self._lock:
            for amphora_id, amphora in list(self.amphorae.items()):
                if netns.identity(amphora.config["netns"]) != amphora.namespace:
                    self._drop(amphora_id)
                    LOG.info("amphora %s's namespace is gone: dropped", amphora_id)

    def _drop(self, amphora_id: str) -> bool:
        amphora = self.amphorae.pop(amphora_id, None)
        if amphora is None:
            return False
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(amphora.server.socket)
        amphora.close()
        return True

    # --- serving --------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        """Accept connections for every amphora (and the control socket) until `stop`, or
        until the amphorae's folder is gone (nothing can be served from it any more)."""
        reaped = time.monotonic()
        while not stop.is_set():
            for key, _ in self._selector.select(POLL_INTERVAL):
                server: socketserver.BaseServer = key.data
                try:
                    server.handle_request()  # accepts one; its handling gets a thread
                except (OSError, ValueError) as exc:  # dropped meanwhile: its socket closed
                    LOG.debug("accept failed: %s", exc)
            if time.monotonic() - reaped >= REAP_INTERVAL:
                self.reap()
                reaped = time.monotonic()
                if not self.directory.is_dir():
                    LOG.warning("%s is gone: stopping", self.directory)
                    return

    def close(self) -> None:
        """Stop serving every amphora (their data planes keep running) and the control
        socket."""
        with self._lock:
            for amphora_id in list(self.amphorae):
                self._drop(amphora_id)
        self._selector.close()
        self.control.server_close()
        with contextlib.suppress(OSError):
            os.unlink(self.control.path)


class ControlHandler(socketserver.StreamRequestHandler):
    """One request line in, one answer line out (`ottava.wire.agent.HostRequest`)."""

    server: ControlServer
    timeout = CONTROL_TIMEOUT

    def handle(self) -> None:
        host = self.server.host
        try:
            request = api.parse_host_request(json.loads(self.rfile.readline(api.MAX_BODY)))
            if request["op"] == "add":
                host.add(request["amphora_id"])
            elif request["op"] == "remove":
                host.remove(request["amphora_id"])
            answer: dict[str, Any] = {"ok": True, "served": host.served()}
        except (OSError, ValueError, ssl.SSLError) as exc:
            LOG.warning("control request refused: %s", exc)
            answer = {"ok": False, "error": str(exc)}
        with contextlib.suppress(OSError):
            self.wfile.write(json.dumps(answer).encode() + b"\n")


class ControlServer(socketserver.ThreadingUnixStreamServer):
    """The control socket: only root may open it (0600, in a 0700 folder when not the
    amphorae's own)."""

    daemon_threads = True

    def __init__(self, path: str, host: HostAgent) -> None:
        self.host = host
        self.path = path
        folder = os.path.dirname(path)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.path.exists(path):
            if _answers(path):
                raise RuntimeError(f"another host agent serves {host.directory} ({path})")
            os.unlink(path)  # left by a host agent that died
        umask = os.umask(0o177)  # created 0600: no moment where others could connect
        try:
            super().__init__(path, ControlHandler)
        finally:
            os.umask(umask)
        self.timeout = 0


def _answers(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def main(directory: str, debug: bool = False) -> int:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s [%(threadName)s] %(name)s "
                               "%(message)s")
    try:
        host = HostAgent(directory)
    except (OSError, RuntimeError) as exc:
        LOG.error("cannot start the host agent: %s", exc)
        return 1
    stop = stop_on_signals()
    # Written here, once the control socket is ours, not by whoever started this process: a
    # starter killed right after starting it cannot leave a host agent nobody can find.
    pid_file = host.directory / PID_FILE
    temporary = pid_file.with_suffix(".tmp")
    temporary.write_text(f"{os.getpid()}\n")
    os.replace(temporary, pid_file)
    host.adopt()
    LOG.info("host agent serving %d amphorae of %s; control socket %s",
             len(host.amphorae), host.directory, host.control.server_address)
    try:
        host.serve(stop)
    finally:
        host.close()
        with contextlib.suppress(OSError, ValueError):
            if int(pid_file.read_text()) == os.getpid():
                pid_file.unlink()
    LOG.info("host agent stopped; the amphorae's HAProxy keep running")
    return 0
