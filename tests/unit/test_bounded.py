"""`drivers/bounded.Bounded`: a call over its time limit is given up as Retryable and tried
again up to the bound; Fatal passes at once; a view of the driver that a call hands out (the
catalog as one caller sees it) is bounded the same way, and the driver itself comes back as
the wrapper."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ottava.domain.errors import Fatal, Retryable
from ottava.drivers.bounded import Bounded, call_pool


class Driver:
    def __init__(self, hold: threading.Event) -> None:
        self.hold, self.calls = hold, 0

    def slow(self) -> str:
        self.calls += 1
        self.hold.wait(5)
        return "late"

    def refuse(self) -> None:
        self.calls += 1
        raise Fatal("no")

    def as_user(self, token: str | None) -> Driver:
        return self if token is None else Driver(self.hold)


@pytest.fixture
def hold() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # the given-up calls return, their threads end


def test_calls_over_the_limit_are_retried_then_refused(hold: threading.Event) -> None:
    driver = Driver(hold)
    bounded = Bounded(driver, timeout=0.05, retries=2, pool=call_pool(4))
    with pytest.raises(Retryable, match=r"took over 0\.05 s"):
        bounded.slow()
    assert driver.calls == 2
    with pytest.raises(Fatal):
        bounded.refuse()
    assert driver.calls == 3  # Fatal: tried once


def test_a_view_of_the_driver_is_bounded_too(hold: threading.Event) -> None:
    bounded = Bounded(Driver(hold), timeout=0.05, retries=1, pool=call_pool(4))
    assert bounded.as_user(None) is bounded
    view = bounded.as_user("token")
    assert isinstance(view, Bounded) and view is not bounded
    with pytest.raises(Retryable):
        view.slow()
