"""What counts as a database blip, and how often a unit of work is tried again."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from taskflow import exceptions as tf_exceptions

from ottava.db.retry import is_transient, retrying
from ottava.domain.errors import Conflict, Fenced, Unavailable
from ottava.settings import DatabaseRetry

FAST = DatabaseRetry(max_retries=3, interval=0.001, max_interval=0.002)


def lost_connection() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))


def wrapped(outer: Exception, cause: BaseException) -> Exception:
    try:
        raise outer from cause
    except Exception as error:
        return error


def test_what_a_blip_is() -> None:
    assert is_transient(lost_connection())
    assert is_transient(sa_exc.InterfaceError("SELECT 1", {}, Exception("closed")))
    assert is_transient(Unavailable("The database is not available"))
    # TaskFlow's persistence wraps the driver's error in its own.
    assert is_transient(wrapped(tf_exceptions.StorageFailure("failed"), lost_connection()))
    assert not is_transient(sa_exc.IntegrityError("INSERT", {}, Exception("duplicate")))
    assert not is_transient(Conflict("busy"))
    assert not is_transient(ValueError("a bug"))
    # A fenced worker is never retried, whatever caused it.
    assert not is_transient(wrapped(Fenced("op", 1), lost_connection()))


def test_a_blip_is_retried_until_it_passes() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise Unavailable("The database is not available")
        return "done"

    assert retrying(FAST)(flaky)() == "done"
    assert len(calls) == 3


def test_retries_are_bounded_and_the_last_failure_is_raised() -> None:
    calls = []

    def down() -> None:
        calls.append(1)
        raise Unavailable("The database is not available")

    with pytest.raises(Unavailable):
        retrying(FAST)(down)()
    assert len(calls) == 1 + FAST.max_retries


def test_other_failures_are_not_retried() -> None:
    calls = []

    def wrong() -> None:
        calls.append(1)
        raise Conflict("busy")

    with pytest.raises(Conflict):
        retrying(FAST)(wrong)()
    assert len(calls) == 1
    assert retrying(DatabaseRetry(max_retries=0))(len)("abc") == 3
