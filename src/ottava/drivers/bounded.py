"""Any driver seen through a time limit and a bounded retry: every call that leaves the process.

`Bounded(driver, timeout, retries, pool)` answers every method of `driver`: the call runs on a
thread of `pool` and is given up after `timeout` seconds (raising Retryable); a call that
raises Retryable, or times out, is tried again with a doubling pause, `retries` tries in all.
Fatal and every other error pass through at once. A call given up keeps its thread until it
returns on its own (Python cannot stop a thread): the pool is sized for a few such.

A call that answers another view of the same driver (`NetworkCatalog.as_user`: the catalog as
one caller sees it) gets it bounded the same way; one answering the driver itself gets this
wrapper back.

The composition root wraps each driver in one; the service layer and the worker see only the
port's Protocol and never wait on a network without a bound.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

from ottava.domain.errors import Retryable

LOG = logging.getLogger(__name__)
FIRST_PAUSE = 0.2  # seconds before the second try; doubled before each next one


class Bounded:
    def __init__(self, target: Any, timeout: float, retries: int,
                 pool: concurrent.futures.Executor) -> None:
        self._target = target
        self._timeout = timeout
        self._retries = max(1, retries)
        self._pool = pool

    @property
    def target(self) -> Any:
        """The driver itself (tests reach its fakes' extras, e.g. what a noop was sent)."""
        return self._target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute
        return functools.partial(self.call, attribute)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` within the time limit, tried again while Retryable."""
        pause = FIRST_PAUSE
        for attempt in range(1, self._retries + 1):
            future = self._pool.submit(fn, *args, **kwargs)
            try:
                return self._bounded(future.result(timeout=self._timeout))
            except concurrent.futures.TimeoutError:
                future.cancel()
                error: Retryable = Retryable(
                    f"{_name(fn)} took over {self._timeout:g} s")
            except Retryable as exc:
                error = exc
            if attempt == self._retries:
                raise error
            LOG.warning("%s failed (%s), try %d of %d", _name(fn), error, attempt,
                        self._retries)
            time.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")


    def _bounded(self, result: Any) -> Any:
        if result is self._target:
            return self
        if type(result) is type(self._target):
            return Bounded(result, self._timeout, self._retries, self._pool)
        return result


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


def call_pool(max_workers: int = 16) -> concurrent.futures.ThreadPoolExecutor:
    """The threads one process's driver calls run on."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=max_workers,
                                                 thread_name_prefix="driver-call")
