"""The API's `/healthcheck`: oslo.middleware's healthcheck application with Ottava's checks.

oslo.middleware answers in the format the client accepts (text "OK", or JSON with `detailed`
and `reasons`, or HTML), honours `[healthcheck] detailed`, `allowed_source_ranges` and the
disable-by-file backends, exactly as Octavia's `/healthcheck` does. The checks it runs are
stevedore plugins named in `[healthcheck] backends`; Ottava's database check is registered as
`ottava_db_check` and, so that an octavia.conf keeps working, as `octavia_db_check`; the
broker check as `ottava_broker_check`. `ottava.config` makes both the default.
"""

from __future__ import annotations

import socket
from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_middleware.healthcheck import Healthcheck, pluginbase
from sqlalchemy import text

from ottava import config
from ottava.api.faults import fault_body
from ottava.db.engine import Database

PATH = "/healthcheck"
DEFAULT_BROKER_PORT = 5672
BROKER_TIMEOUT = 2.0  # seconds per broker host


class DatabaseCheck(pluginbase.HealthcheckBaseExtension):
    """Whether the database answers a trivial query (within the engine's timeouts)."""

    def __init__(self, oslo_conf: cfg.ConfigOpts, conf: dict[str, Any]) -> None:
        super().__init__(oslo_conf, conf)
        # Its own small engine: the check must not queue behind the API's busy pool.
        self.database = Database(config.read(oslo_conf).common.database_url)

    def healthcheck(self, server_port: int) -> pluginbase.HealthcheckResult:
        try:
            with self.database.reader() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:  # any failure of the database means "not OK"
            return pluginbase.HealthcheckResult(
                available=False, reason="The database is not available",
                details=str(error).splitlines()[0] if str(error) else type(error).__name__)
        return pluginbase.HealthcheckResult(available=True, reason="OK")


class BrokerCheck(pluginbase.HealthcheckBaseExtension):
    """Whether a host of the message broker in `transport_url` accepts a connection.

    A TCP connection, not a message: oslo.messaging offers no ping, and an API whose broker
    refuses connections is the case worth reporting (its casts wait for the reconciler)."""

    def __init__(self, oslo_conf: cfg.ConfigOpts, conf: dict[str, Any]) -> None:
        super().__init__(oslo_conf, conf)
        url = oslo_conf.transport_url
        parsed = oslo_messaging.TransportURL.parse(oslo_conf, url) if url else None
        self.hosts = [(h.hostname, h.port or DEFAULT_BROKER_PORT)
                      for h in (parsed.hosts if parsed and parsed.transport != "fake" else [])
                      if h.hostname]

    def healthcheck(self, server_port: int) -> pluginbase.HealthcheckResult:
        if not self.hosts:
            return pluginbase.HealthcheckResult(available=True, reason="OK")
        for host, port in self.hosts:
            try:
                socket.create_connection((host, port), timeout=BROKER_TIMEOUT).close()
            except OSError:
                continue
            return pluginbase.HealthcheckResult(available=True, reason="OK")
        named = ", ".join(f"{host}:{port}" for host, port in self.hosts)
        return pluginbase.HealthcheckResult(
            available=False, reason="The message broker is not reachable",
            details=f"no connection to {named}")


ALLOWED_METHODS = ("GET", "HEAD")


def method_not_allowed(start_response: Any) -> list[bytes]:
    """405 in the API's fault format: the health check only answers GET and HEAD."""
    body = fault_body(405, "Method Not Allowed").encode()
    start_response("405 Method Not Allowed", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Allow", ", ".join(ALLOWED_METHODS))])
    return [body]


class WithHealthcheck:
    """A WSGI application answering `/healthcheck` itself and passing the rest on."""

    def __init__(self, application: Any, conf: cfg.ConfigOpts) -> None:
        self.application = application
        self.check = Healthcheck(application, conf)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == PATH:
            if environ.get("REQUEST_METHOD") not in ALLOWED_METHODS:
                return method_not_allowed(start_response)
            return self.check(environ, start_response)
        return self.application(environ, start_response)
