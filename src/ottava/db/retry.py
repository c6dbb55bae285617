"""Riding out a database blip: a unit of work that failed because the database dropped its
connection (or refused new ones for a moment) is run again, with oslo.db's `wrap_db_retry`
doing the waiting (growing intervals, a bounded count). What counts as transient is decided
here, in one place, for Ottava's own transactions (`Unavailable`, see `db.engine`) and for
TaskFlow's persistence (its `StorageFailure` wraps the driver's error).

Only work that is safe to run twice may be wrapped: a transaction that failed rolled back,
and one whose commit was lost with the connection finds its own writes already there. A
fenced worker (`Fenced`) is never retried: another worker owns the operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from oslo_db import api as oslo_db_api
from sqlalchemy import exc as sa_exc

from ottava.domain.errors import Fenced, Unavailable
from ottava.settings import DatabaseRetry

F = TypeVar("F", bound=Callable[..., Any])

# The driver errors of a connection lost or refused (a lock wait beyond SQLite's busy timeout
# is an OperationalError too, and as worth another try).
TRANSIENT_DRIVER_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError)


def is_transient(error: BaseException) -> bool:
    """Whether `error`, or an error that caused it, is the database not answering."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, Fenced):
            return False
        if isinstance(current, (Unavailable, *TRANSIENT_DRIVER_ERRORS)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def retrying(policy: DatabaseRetry) -> Callable[[F], F]:
    """A decorator running the wrapped function again while it fails transiently, at most
    `policy.max_retries` more times, waiting `interval`, then twice that, up to
    `max_interval` seconds; the last failure is raised."""
    if policy.max_retries <= 0:
        return lambda function: function
    wrap = oslo_db_api.wrap_db_retry(
        retry_interval=policy.interval, max_retries=policy.max_retries,
        inc_retry_interval=True, max_retry_interval=policy.max_interval,
        exception_checker=is_transient)
    return wrap
