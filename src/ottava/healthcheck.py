"""The API's `/healthcheck`: oslo.middleware's healthcheck application with Ottava's checks.

oslo.middleware answers in the format the client accepts (text "OK", or JSON with `detailed`
and `reasons`, or HTML), honours `[healthcheck] detailed`, `allowed_source_ranges` and the
disable-by-file backends, exactly as Octavia's `/healthcheck` does. The checks it runs are
stevedore plugins named in `[healthcheck] backends`; Ottava's database check is registered as
`ottava_db_check` and, so that an octavia.conf keeps working, as `octavia_db_check`;
`ottava.config` makes it the default.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg
from oslo_middleware.healthcheck import Healthcheck, pluginbase
from sqlalchemy import text

from ottava import config
from ottava.db.engine import Database

PATH = "/healthcheck"


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


class WithHealthcheck:
    """A WSGI application answering `/healthcheck` itself and passing the rest on."""

    def __init__(self, application: Any, conf: cfg.ConfigOpts) -> None:
        self.application = application
        self.check = Healthcheck(application, conf)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == PATH:
            return self.check(environ, start_response)
        return self.application(environ, start_response)
