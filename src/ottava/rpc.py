"""Controller messaging: the API casts operation ids, workers run them.

Between processes it is oslo.messaging: a `rabbit://` transport_url connects separate
`ottava api` and `ottava worker` processes (`Dispatcher` casts, `server` consumes). Within one
process (`ottava standalone`, the test harness) it is `InProcessBus`: a cast runs the operation
on the process's own worker threads at once. oslo.messaging's in-process `fake://` driver
polls its queues every 50 ms, a delay every create would wait on (docs/decisions/0018). The
composition root chooses; this module only casts and serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import futurist
import oslo_messaging
from futurist import rejection
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
CAST_TRIES = 3
CAST_BACKLOG = 10_000  # casts waiting for the broker; beyond, the reconciler casts

NAMESPACE = "ottava"
VERSION = "1.0"


class Dispatcher:
    """Casts an operation id to whichever worker listens on the topic, off the caller's
    thread: the API has recorded the operation and answers at once, whether or not the broker
    does. Casts wait in a bounded backlog; each is tried CAST_TRIES times, each try with one
    reconnection attempt (oslo.messaging's default is to reconnect forever). An operation
    that cannot be cast stays QUEUED in the database and the reconciler casts it again."""

    def __init__(self, transport: Any, topic: str, backlog: int = CAST_BACKLOG) -> None:
        target = oslo_messaging.Target(topic=topic, namespace=NAMESPACE, version=VERSION)
        self.client = oslo_messaging.get_rpc_client(transport, target, retry=1)
        self.executor = futurist.ThreadPoolExecutor(
            max_workers=1, check_and_reject=rejection.reject_when_reached(backlog))
        self.closing = threading.Event()

    def __call__(self, operation_id: str) -> None:
        try:
            self.executor.submit(self.cast, operation_id)
        except (futurist.RejectedSubmission, RuntimeError) as exc:  # full, or shut down
            LOG.error("Operation %s left QUEUED for the reconciler: %s", operation_id, exc)

    def cast(self, operation_id: str) -> bool:
        for attempt in range(1, CAST_TRIES + 1):
            if self.closing.is_set():
                return False  # stopping: what is left is QUEUED for the reconciler
            try:
                self.client.cast({}, "run_operation", operation_id=operation_id)
                return True
            except Exception as exc:  # any transport failure; the record is safe
                LOG.warning("Cast of operation %s failed (try %d of %d): %s", operation_id,
                            attempt, CAST_TRIES, exc)
                time.sleep(0.1 * attempt)
        LOG.error("Operation %s left QUEUED for the reconciler", operation_id)
        return False

    def close(self) -> None:
        """Stop: the cast under way finishes, those still waiting stay QUEUED."""
        self.closing.set()
        self.executor.shutdown(wait=True)


class InProcessBus:
    """Casts and consumer in one process: `bus(operation_id)` runs `run(operation_id)` on a
    pool of `threads` started by `serve`. The backlog is bounded like a broker's casts: an
    operation cast while the pool is full, stopped or not yet started stays QUEUED, and the
    reconciler (or `resume_unfinished` at the next start) runs it."""

    def __init__(self, backlog: int = CAST_BACKLOG) -> None:
        self.backlog = backlog
        self._executor: futurist.ThreadPoolExecutor | None = None
        self._run: Callable[[str], Any] | None = None
        self._stopped: futurist.ThreadPoolExecutor | None = None  # until `wait` drains it
        self._lock = threading.Lock()

    def serve(self, run: Callable[[str], Any], threads: int) -> InProcessBus:
        """Start running what is cast (again, after `stop`); returns the bus as the consumer."""
        with self._lock:
            if self._executor is None:
                self._run = run
                self._executor = futurist.ThreadPoolExecutor(
                    max_workers=threads,
                    check_and_reject=rejection.reject_when_reached(self.backlog))
        return self

    def __call__(self, operation_id: str) -> None:
        with self._lock:
            executor, run = self._executor, self._run
            if executor is None or run is None:
                LOG.info("Operation %s left QUEUED: no worker is serving", operation_id)
                return
            try:
                executor.submit(self._deliver, run, operation_id)
            except (futurist.RejectedSubmission, RuntimeError) as exc:  # full, or shut down
                LOG.error("Operation %s left QUEUED for the reconciler: %s", operation_id, exc)

    @staticmethod
    def _deliver(run: Callable[[str], Any], operation_id: str) -> None:
        try:
            run(operation_id)
        except Exception:  # as an RPC server would: log, and leave it to the reconciler
            LOG.exception("Operation %s could not be run", operation_id)

    def stop(self) -> None:
        """Take no more casts; those not started stay QUEUED."""
        with self._lock:
            executor, self._executor = self._executor, None
            if executor is not None:
                self._stopped = executor
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def wait(self) -> None:
        """Wait for the operations under way to finish (after `stop`)."""
        with self._lock:
            executor, self._stopped = self._stopped, None
        if executor is not None:
            executor.shutdown(wait=True)

    def close(self) -> None:
        self.stop()
        self.wait()


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
