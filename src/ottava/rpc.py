"""Controller messaging over oslo.messaging: the API casts operation ids, workers consume them.

`fake://` is oslo.messaging's in-process transport, used by `ottava standalone`; a
`rabbit://` transport_url connects separate `ottava api` and `ottava worker` processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
CAST_TRIES = 3

NAMESPACE = "ottava"
VERSION = "1.0"


def transport(conf: cfg.ConfigOpts, url: str | None = None) -> Any:
    register_opts(conf)
    return oslo_messaging.get_rpc_transport(conf, url=url)


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Every oslo.messaging option on `conf`.

    oslo.messaging registers some groups (metrics, tracing) on the global CONF only, yet
    reads them from the ConfigOpts it is given; Ottava never uses the global one.
    """
    from oslo_messaging import opts
    from oslo_messaging._metrics import client as metrics
    from oslo_messaging._tracing import client as tracing

    groups = [
        *opts.list_opts(),
        ("oslo_messaging_tracing", tracing.oslo_messaging_tracing),
        ("oslo_messaging_metrics", metrics.oslo_messaging_metrics),
    ]
    for group, options in groups:
        conf.register_opts(options, group=group)


class Dispatcher:
    """Casts an operation id to whichever worker listens on the topic."""

    def __init__(self, conf: cfg.ConfigOpts, transport_: Any) -> None:
        target = oslo_messaging.Target(topic=conf.oslo_messaging.topic, namespace=NAMESPACE,
                                       version=VERSION)
        self.client = oslo_messaging.get_rpc_client(transport_, target)

    def __call__(self, operation_id: str) -> None:
        """Cast, tried a few times; an operation that cannot be cast stays QUEUED in the
        database for the reconciler, so the API request that recorded it still succeeds."""
        for attempt in range(1, CAST_TRIES + 1):
            try:
                self.client.cast({}, "run_operation", operation_id=operation_id)
                return
            except Exception as exc:  # any transport failure; the record is safe
                LOG.warning("Cast of operation %s failed (try %d of %d): %s", operation_id,
                            attempt, CAST_TRIES, exc)
                time.sleep(0.1 * attempt)
        LOG.error("Operation %s left QUEUED for the reconciler", operation_id)


class OperationEndpoint:
    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, run: Callable[[str], Any]) -> None:
        self._run = run

    def run_operation(self, ctxt: Any, operation_id: str) -> None:
        self._run(operation_id)


def server(conf: cfg.ConfigOpts, transport_: Any, run: Callable[[str], Any],
           server_name: str) -> Any:
    """An RPC server running `run(operation_id)` on a pool of threads."""
    target = oslo_messaging.Target(topic=conf.oslo_messaging.topic, server=server_name)
    return oslo_messaging.get_rpc_server(
        transport_,
        target,
        [OperationEndpoint(run)],
        access_policy=oslo_messaging.DefaultRPCAccessPolicy,
    )
