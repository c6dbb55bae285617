"""Controller messaging over oslo.messaging: the API casts operation ids, workers consume them.

`fake://` is oslo.messaging's in-process transport, used by `ottava standalone`; a
`rabbit://` transport_url connects separate `ottava api` and `ottava worker` processes. The
composition root builds the transport from the configuration; this module only casts and
serves on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import oslo_messaging
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
CAST_TRIES = 3

NAMESPACE = "ottava"
VERSION = "1.0"


class Dispatcher:
    """Casts an operation id to whichever worker listens on the topic."""

    def __init__(self, transport: Any, topic: str) -> None:
        target = oslo_messaging.Target(topic=topic, namespace=NAMESPACE, version=VERSION)
        self.client = oslo_messaging.get_rpc_client(transport, target)

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


def server(transport: Any, topic: str, run: Callable[[str], Any], server_name: str) -> Any:
    """An RPC server running `run(operation_id)` on a pool of threads."""
    target = oslo_messaging.Target(topic=topic, server=server_name)
    return oslo_messaging.get_rpc_server(
        transport,
        target,
        [OperationEndpoint(run)],
        access_policy=oslo_messaging.DefaultRPCAccessPolicy,
    )
