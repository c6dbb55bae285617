"""The amphora agent's HTTPS server: the API of `ottava.wire.agent` over one HAProxy.

`main(config_path)` reads the agent's JSON config (`ottava.wire.agent.AgentConfig`), serves
HTTPS with mutual TLS (`ottava.agent.tls.server_context`: only the controller's client
certificate is accepted) and drives one `HAProxy(<state_dir>/lb)` for the stream listeners
and one `Datagrams(<state_dir>/datagrams)` (nftables) for the UDP and SCTP ones. A spec is
applied to the datagram side first: when either side fails, HAProxy still carries the
previous spec's hash, so the controller sees the change as not applied and tries again.
It runs until SIGTERM or SIGINT, then stops accepting, and exits 0.

Choices:
- Standard library only (http.server, ssl), plus `ottava.agent.haproxy` (which brings
  `ottava.wire.lbspec` and `ottava.render`): the agent and its HAProxy should fit in about
  30 MB. No oslo, SQLAlchemy or Falcon here.
- One thread per connection (ThreadingHTTPServer); the TLS handshake runs in that thread with
  a timeout, so a client that stalls in the handshake never blocks the accept loop. Every read
  has a timeout (REQUEST_TIMEOUT) and a PUT body is bounded (MAX_BODY, 413 beyond). HAProxy's
  own lock serialises applies.
- HAProxy is *not* stopped when the agent exits: the data plane must survive an agent restart
  (upgrade, crash). A new agent adopts the running HAProxy through its PID file and master
  socket (see `ottava.agent.haproxy`).
- Errors are JSON `{"error", "http_code"}`: 400 for a document that is not a valid spec or
  that `haproxy -c` refuses, 500 when HAProxy does not start or reload.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ottava.agent import datagrams, interfaces, netns
from ottava.agent.datagrams import DatagramError, Datagrams
from ottava.agent.haproxy import ConfigRejected, HAProxy, HAProxyError
from ottava.agent.heartbeat import Sender
from ottava.agent.keepalived import Keepalived, KeepalivedError
from ottava.agent.tls import server_context
from ottava.render.haproxy import Logging
from ottava.wire import agent as api

LOG = logging.getLogger("ottava.agent")
REQUEST_TIMEOUT = 30.0  # the handshake and each read of a request
VERSION_TIMEOUT = 5.0  # `haproxy -v`


class AgentServer(http.server.ThreadingHTTPServer):
    """HTTPS server holding the agent's state: its config and its HAProxy."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config: api.AgentConfig, context: ssl.SSLContext) -> None:
        """Binds at once, in the calling thread's network namespace: the host agent builds
        each amphora's server inside that amphora's (`netns.run_inside`)."""
        self.config = config
        self.context = context
        # Set when one host agent serves many amphorae: every request thread enters it.
        self.netns = config.get("netns")
        self.haproxy = HAProxy(Path(config["state_dir"]) / "lb",
                               local_peer=config["amphora_id"], logging=log_settings(config))
        self.keepalived = Keepalived(Path(config["state_dir"]) / "vrrp", self.haproxy.pidfile,
                                     netns=self.netns)
        self.datagrams = Datagrams(Path(config["state_dir"]) / "datagrams")
        if ":" in config["bind_host"]:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((config["bind_host"], config["bind_port"]), Handler)
        except BaseException:  # its checks started already (a saved spec): not left running
            self.datagrams.stop()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # A new thread starts in the namespace of the thread that made it: the host agent's
        # accept loop, outside every amphora. It enters this amphora's before anything else.
        thread = threading.current_thread()
        thread.name = f"{self.config['amphora_id'][:8]} request"
        try:
            netns.enter(self.netns)
        except OSError as exc:  # the namespace is going away: so is this amphora
            LOG.warning("dropped a request from %s: %s", client_address[0], exc)
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def server_bind(self) -> None:
        # http.server's own server_bind asks DNS for the host's full name (getfqdn); inside an
        # amphora there is no resolver to ask, so that stalls for seconds and sends queries
        # nowhere useful. The name is only used in the Server header: bind without it.
        if self.allow_reuse_address:  # a restarted agent rebinds despite TIME_WAIT
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(REQUEST_TIMEOUT)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            LOG.warning("refused TLS from %s: %s", client_address[0], exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def rotate_certificate(self, cert_pem: str, key_pem: str) -> None:
        """Serve new connections with a new certificate (connections already open keep the
        old one). The pair is loaded into a fresh context first: a bad pair changes nothing."""
        cert_path, key_path = Path(self.config["cert_path"]), Path(self.config["key_path"])
        staged = [(cert_path.with_suffix(".new"), cert_pem, 0o644),
                  (key_path.with_suffix(".new"), key_pem, 0o600)]
        for path, text, mode in staged:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        try:
            # Loading checks that the key matches the certificate. Who signed it is the
            # controller's business: only the controller (mutual TLS) can call this.
            context = server_context(self.config["ca_path"], staged[0][0], staged[1][0])
        except BaseException:
            for path, _, _ in staged:
                path.unlink(missing_ok=True)
            raise
        os.replace(staged[0][0], cert_path)
        os.replace(staged[1][0], key_path)
        self.context = context  # finish_request reads it for every new connection

    def haproxy_version(self) -> str | None:
        return haproxy_version(self.haproxy.haproxy)


class Handler(http.server.BaseHTTPRequestHandler):
    server: AgentServer
    server_version = "ottava-agent"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    # --- routes --------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path == api.INFO:
            info: api.Info = {"api_version": api.API_VERSION,
                              "amphora_id": self.server.config["amphora_id"],
                              "haproxy_version": self.server.haproxy_version()}
            self._json(200, info)
        elif self.path == api.LOADBALANCER:
            applied: api.AppliedHash = {"hash": self.server.haproxy.applied_hash()}
            self._json(200, applied)
        elif self.path == api.STATS:
            self._stats()
        else:
            self._error(404, f"no resource {self.path}")

    def do_PUT(self) -> None:
        if self.path == api.VRRP:
            self._put_vrrp()
            return
        if self.path == api.CERTIFICATE:
            self._put_certificate()
            return
        if self.path == api.INTERFACE:
            self._put_interface()
            return
        if self.path != api.LOADBALANCER:
            self._not_allowed()
            return
        document = self._body()
        if document is None:
            return
        try:
            changed = self.server.datagrams.apply(document)
            changed = self.server.haproxy.apply(document) or changed
        except ConfigRejected as exc:
            self._error(400, str(exc))
            return
        except ValueError as exc:
            self._error(400, f"invalid load balancer spec: {exc}")
            return
        except (HAProxyError, DatagramError) as exc:
            LOG.error("apply failed: %s", exc)
            self._error(500, str(exc))
            return
        result: api.ApplyResult = {"hash": document["hash"], "changed": changed}
        LOG.info("applied spec %s (changed: %s)", document["hash"], changed)
        self._json(200, result)

    def do_DELETE(self) -> None:
        if self.path == api.VRRP:
            self.server.keepalived.stop()
            self._no_content()
            return
        if self.path != api.LOADBALANCER:
            self._not_allowed()
            return
        try:
            self.server.datagrams.remove()
            self.server.haproxy.remove()
        except (HAProxyError, DatagramError) as exc:
            self._error(500, str(exc))
            return
        LOG.info("removed the load balancer")
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self._not_allowed()

    def _put_vrrp(self) -> None:
        document = self._body()
        if document is None:
            return
        try:
            changed = self.server.keepalived.apply(document)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        except (OSError, KeepalivedError, subprocess.SubprocessError) as exc:
            LOG.error("keepalived failed: %s", exc)
            self._error(500, str(exc))
            return
        LOG.info("VRRP configured (changed: %s)", changed)
        self._json(200, {"changed": changed})

    def _put_interface(self) -> None:
        document = self._body()
        if document is None:
            return
        try:
            request = api.parse_interface_plug(document)
            ifname = interfaces.plug(request)
        except ValueError as exc:
            self._error(400, str(exc))
            return
        except interfaces.InterfaceNotFound as exc:
            self._error(404, str(exc))
            return
        except interfaces.InterfaceError as exc:
            LOG.error("interface plug failed: %s", exc)
            self._error(500, str(exc))
            return
        LOG.info("interface %s holds %s and VIPs %s", ifname, request["address"],
                 request["vips"])
        self._json(200, {"ifname": ifname})

    def _put_certificate(self) -> None:
        document = self._body()
        if document is None:
            return
        if not isinstance(document, dict) or not all(
                isinstance(document.get(k), str) for k in ("cert_pem", "key_pem")):
            self._error(400, "a certificate is {\"cert_pem\": str, \"key_pem\": str}")
            return
        try:
            self.server.rotate_certificate(document["cert_pem"], document["key_pem"])
        except (ValueError, ssl.SSLError, OSError) as exc:
            self._error(400, f"certificate refused: {exc}")
            return
        LOG.info("serving with a new certificate")
        self._no_content()

    def _no_content(self) -> None:
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # --- helpers -------------------------------------------------------------------------

    def _not_allowed(self) -> None:
        if self.path in (api.INFO, api.LOADBALANCER, api.STATS, api.VRRP, api.CERTIFICATE,
                         api.INTERFACE):
            self._error(405, f"{self.command} is not allowed on {self.path}")
        else:
            self._error(404, f"no resource {self.path}")

    def _stats(self) -> None:
        haproxy = self.server.haproxy
        try:
            stats = haproxy.stats() if haproxy.master_pid() is not None else api.empty_stats()
            datagrams.merge(stats, self.server.datagrams.stats())  # type: ignore[arg-type]
        except (OSError, HAProxyError, DatagramError) as exc:
            self._error(503, f"the stats are not readable: {exc}")
            return
        self._json(200, stats)

    def _body(self) -> Any:
        """The decoded JSON body, or None after answering an error."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._error(411, "a Content-Length is required")
            return None
        if int(length) > api.MAX_BODY:
            self._error(413, f"the body is larger than {api.MAX_BODY} bytes")
            return None
        try:
            raw = self.rfile.read(int(length))
            return json.loads(raw)
        except TimeoutError:
            self._error(408, "the body did not arrive in time")
        except (ValueError, UnicodeDecodeError) as exc:
            self._error(400, f"the body is not JSON: {exc}")
        return None

    def _json(self, code: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", api.JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, message: str) -> None:
        self.close_connection = True
        self._json(code, api.error(code, message))

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.client_address[0], format % args)


_VERSIONS: dict[str, str] = {}


def haproxy_version(haproxy: str) -> str | None:
    """`haproxy -v`'s version word, asked once per binary (a host agent serves many); a
    failed answer is asked again next time."""
    if haproxy not in _VERSIONS:
        try:
            out = subprocess.run([haproxy, "-v"], capture_output=True, text=True,
                                 timeout=VERSION_TIMEOUT, check=False).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        words = out.split()
        if len(words) <= 2:
            return None
        _VERSIONS[haproxy] = words[2]
    return _VERSIONS[haproxy]


def log_settings(config: api.AgentConfig) -> Logging:
    """Where the configuration says HAProxy's logs go (nowhere unless it names targets)."""
    defaults = Logging()
    return Logging(
        tenant_targets=tuple(config.get("tenant_log_targets", [])),
        admin_targets=tuple(config.get("admin_log_targets", [])),
        protocol=config.get("log_protocol", defaults.protocol),
        user_log_format=config.get("user_log_format", defaults.user_log_format),
        connection_logging=config.get("connection_logging", defaults.connection_logging))


def heartbeat_sender(config: api.AgentConfig, haproxy: HAProxy,
                     datagram_side: Datagrams | None = None,
                     alive: Callable[[], bool] | None = None) -> Sender | None:
    """The heartbeat thread the config asks for, or None (no key or no targets)."""
    key, targets = config.get("heartbeat_key"), config.get("heartbeat_targets")
    if not key or not targets:
        LOG.info("no heartbeat targets configured: sending no heartbeats")
        return None
    return Sender(config["amphora_id"], haproxy, key.encode(), targets,
                  float(config.get("heartbeat_interval", 10)), datagrams=datagram_side,
                  alive=alive)


def build(config: api.AgentConfig) -> AgentServer:
    context = server_context(config["ca_path"], config["cert_path"], config["key_path"])
    return AgentServer(config, context)


def serve(server: AgentServer, stop: threading.Event) -> None:
    """Serve until `stop` is set, then close the listening socket (HAProxy keeps running)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="agent-http", daemon=True)
    thread.start()
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: how an agent process is told to stop."""
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def main_from_boot(boot_path: str, folder: str, bind_host: str, debug: bool = False) -> int:
    """A VM amphora's agent: on first boot install its boot document (the config drive's
    user data, `ottava.wire.agent.BootDocument`) into `folder`, then serve on `bind_host`."""
    try:
        config_path = first_boot(boot_path, folder, bind_host)
    except (OSError, ValueError) as exc:
        logging.basicConfig(stream=sys.stderr)
        LOG.error("cannot install the amphora's boot document %s: %s", boot_path, exc)
        return 1
    return main(config_path, debug=debug)


def first_boot(boot_path: str, folder: str, bind_host: str) -> str:
    """The agent's config file in `folder`, installed from the boot document only if there
    is none yet: the config drive never changes, so a restart (or a reboot) must not put back
    the certificate the controller has rotated since (`PUT /v1/certificate`)."""
    config_path = os.path.join(folder, api.BOOT_CONFIG)
    if not os.path.exists(config_path):
        with open(boot_path, encoding="utf-8") as f:
            api.install_boot(json.load(f), folder, bind_host)
    return config_path


def main(config_path: str, debug: bool = False) -> int:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = api.load_config(config_path)
        server = build(config)
    except (OSError, ValueError, ssl.SSLError) as exc:
        LOG.error("cannot start the amphora agent: %s", exc)
        return 1
    stop = stop_on_signals()
    sender = heartbeat_sender(config, server.haproxy, server.datagrams)
    if sender is not None:
        sender.start()
    host, port = server.server_address[:2]
    LOG.info("amphora agent %s listening on %s:%s (HAProxy master: %s)", config["amphora_id"],
             host, port, server.haproxy.master_pid())
    try:
        serve(server, stop)
    finally:
        if sender is not None:
            sender.stop()
        server.datagrams.stop()
    LOG.info("amphora agent stopped; HAProxy keeps running")
    return 0
