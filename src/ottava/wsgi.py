"""The API's WSGI application for gunicorn or uwsgi: `ottava.wsgi:application`.

Configuration files come from OTTAVA_CONFIG_FILES (colon-separated) and the state folder from
OTTAVA_STATE_DIR. Operations are cast over `transport_url` to `ottava worker` processes.
"""

from __future__ import annotations

import os

from oslo_log import log as logging

from ottava import bootstrap


def build() -> object:
    files = [f for f in os.environ.get("OTTAVA_CONFIG_FILES", "").split(":") if f]
    loaded = bootstrap.load(files, os.environ.get("OTTAVA_STATE_DIR"))
    logging.setup(loaded.conf, "ottava")
    settings = loaded.settings.api_process()
    db = bootstrap.open_database(settings.common)
    drivers = bootstrap.load_drivers(settings.drivers)
    transport = bootstrap.messaging(loaded.conf)
    services = bootstrap.build_services(settings.service, db, drivers,
                                        bootstrap.dispatcher(transport, settings.common))
    return bootstrap.api_application(loaded.conf, settings.api, services)


application = build()
bootstrap.tune_collector()  # each gunicorn worker imports this once, built
