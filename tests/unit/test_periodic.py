"""`ottava.periodic`: the one way controller processes run recurring work. Jobs run again
and again until stopped, a failing run is counted and logged and the job carries on, stop
waits for a run under way, and a part's start/stop runs its own jobs and releases what they
used. Every wait here is bounded by an event with a timeout, never a sleep to be measured."""

from __future__ import annotations

import threading

import pytest

from ottava.periodic import Periodic, PeriodicPart, PeriodicRunner

BOUND = 10.0  # seconds at most any wait here takes




def test_jobs_run_repeatedly_each_on_its_own_and_stop() -> None:
    fast_done, fast = threading.Event(), []
    slow_started, slow_release = threading.Event(), threading.Event()

    def fast_job() -> None:
        fast.append(1)
        if len(fast) >= 5:
            fast_done.set()

    def slow_job() -> None:
        slow_started.set()
        slow_release.wait(BOUND)

    runner = PeriodicRunner("test", [Periodic("fast", 0.01, fast_job, run_immediately=True),
                                     Periodic("slow", 0.01, slow_job, run_immediately=True)])
    runner.start()
    try:
        assert slow_started.wait(BOUND)
        # The slow job is still running: the fast one is not held up behind it.
        assert fast_done.wait(BOUND)
        assert runner.runs["fast"] >= 5 and runner.runs["slow"] == 1
    finally:
        slow_release.set()
        runner.stop(BOUND)
    after = runner.runs["fast"]
    assert runner.runs["fast"] == after  # nothing runs once stopped
    runner.start()  # a stopped runner stays stopped
    assert runner._thread is None


def test_a_failing_run_is_counted_and_the_job_carries_on() -> None:
    recovered = threading.Event()
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("the database is away")
        recovered.set()

    runner = PeriodicRunner("test", [Periodic("flaky", 0.01, flaky, run_immediately=True)])
    runner.start()
    try:
        assert recovered.wait(BOUND)
    finally:
        runner.stop(BOUND)
    assert runner.failures["flaky"] == 2


@pytest.mark.parametrize("spacing", [0, -1.0])
def test_a_job_needs_a_pause_between_runs(spacing: float) -> None:
    with pytest.raises(ValueError, match="spacing"):
        Periodic("busy", spacing, lambda: None)


def test_a_part_runs_its_own_jobs_and_closes_after_them() -> None:
    class Part(PeriodicPart):
        def __init__(self) -> None:
            self.ran = threading.Event()
            self.closed_after_runs: int | None = None
            self.count = 0

        def tick(self) -> None:
            self.count += 1
            self.ran.set()

        def periodics(self) -> list[Periodic]:
            return [Periodic("tick", 0.01, self.tick, run_immediately=True)]

        def close(self) -> None:
            self.closed_after_runs = self.count

    part = Part()
    part.start()
    assert part.ran.wait(BOUND)
    part.stop()
    assert part.closed_after_runs is not None and part.closed_after_runs >= 1
    assert part.count == part.closed_after_runs  # no run after close
