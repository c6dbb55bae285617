"""The WSGI application for gunicorn or uwsgi: `ottava.api.wsgi:application`.

Configuration files come from OTTAVA_CONFIG_FILES (colon-separated) and the state folder from
OTTAVA_STATE_DIR. Operations are cast over `transport_url` to `ottava worker` processes.
"""

from __future__ import annotations

import os

from oslo_log import log as logging

from ottava import bootstrap, rpc
from ottava.api.app import create_app


def build() -> object:
    files = [f for f in os.environ.get("OTTAVA_CONFIG_FILES", "").split(":") if f]
    conf = bootstrap.load_conf(files, os.environ.get("OTTAVA_STATE_DIR"))
    logging.setup(conf, "ottava")
    db = bootstrap.open_database(conf)
    drivers = bootstrap.Drivers(conf)
    transport = bootstrap.messaging(conf, in_process=False)
    services = bootstrap.build_services(conf, db, drivers, rpc.Dispatcher(conf, transport))
    return create_app(services, conf)


application = build()
