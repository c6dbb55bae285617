"""The drivers and database a worker's tasks use, and the bounded call of a driver."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import time
from collections.abc import Callable
from typing import Any, TypeVar

from oslo_log import log as logging

from ottava.db.engine import Database
from ottava.domain.errors import Retryable
from ottava.domain.ports import AgentBootConfig, AmphoraDriver, ComputeDriver, NetworkDriver

LOG = logging.getLogger(__name__)
T = TypeVar("T")


# Issues an amphora's agent its boot configuration (certificate included) and says when that
# certificate expires; None where amphorae run no agent (noop).
AgentBootIssuer = Callable[[str], tuple[AgentBootConfig, datetime.datetime]]


@dataclasses.dataclass
class WorkerDeps:
    db: Database
    compute: ComputeDriver
    network: NetworkDriver
    amphora: AmphoraDriver
    call_timeout: float = 60.0
    call_retries: int = 3
    agent_boot: AgentBootIssuer | None = None
    vrrp_advert_int: float = 1.0  # seconds between VRRP adverts of ACTIVE_STANDBY pairs
    _pool: concurrent.futures.ThreadPoolExecutor = dataclasses.field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="driver-call"))

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` within `call_timeout` seconds, retried with backoff when Retryable."""
        delay = 0.2
        for attempt in range(1, self.call_retries + 1):
            future = self._pool.submit(fn, *args)
            try:
                return future.result(timeout=self.call_timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                error: Exception = Retryable(f"{fn.__qualname__} took over "
                                             f"{self.call_timeout} s")
            except Retryable as exc:
                error = exc
            if attempt == self.call_retries:
                raise error
            LOG.warning("%s failed (%s), try %d of %d", fn.__qualname__, error, attempt,
                        self.call_retries)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
