"""Every recurring job of a controller process, run one way: futurist's periodic worker.

A part that works on a clock (the health manager's writer, watchdog and heartbeat
receivers, housekeeping's jobs, a worker's lease renewal) describes each job as a
`Periodic`: a name, the pause between two runs, and what to run. `PeriodicRunner` runs a
set of them on a thread of its own, each job on a thread of a small pool, so a slow one
never delays another; a run that raises is logged and the job runs again after its pause.
`start` and `stop` are the same for every part, and so are the tests.

The amphora agent's heartbeat sender is the one loop not run here: the agent imports only
`ottava.wire` and `ottava.render` (see docs/decisions/0009-periodic-work.md).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from concurrent import futures

from futurist import periodics
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Periodic:
    name: str
    spacing: float  # seconds from the end of one run to the start of the next (> 0)
    run: Callable[[], object]
    run_immediately: bool = False

    def __post_init__(self) -> None:
        if self.spacing <= 0:
            raise ValueError(f"periodic {self.name}: spacing must be over 0, not "
                             f"{self.spacing}")


class PeriodicRunner:
    """Runs `jobs` until stopped; `runs` and `failures` count by job name (for tests and
    metrics)."""

    def __init__(self, name: str, jobs: Iterable[Periodic]) -> None:
        self.name = name
        self.jobs = tuple(jobs)
        self.runs: dict[str, int] = dict.fromkeys((j.name for j in self.jobs), 0)
        self.failures: dict[str, int] = dict.fromkeys(self.runs, 0)
        self._worker = periodics.PeriodicWorker(
            [(self._wrap(job), None, None) for job in self.jobs],
            executor_factory=lambda: futures.ThreadPoolExecutor(
                max_workers=max(1, len(self.jobs)), thread_name_prefix=name),
            schedule_strategy="last_finished",
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def _wrap(self, job: Periodic) -> Callable[[], None]:
        @periodics.periodic(job.spacing, run_immediately=job.run_immediately)
        def run() -> None:
            self.runs[job.name] += 1
            try:
                job.run()
            except Exception:  # one failed run; the next one tries again
                self.failures[job.name] += 1
                LOG.exception("%s: periodic job %s failed", self.name, job.name)

        run.__name__ = run.__qualname__ = f"{self.name}.{job.name}"
        return run

    def start(self) -> None:
        """Start running the jobs (once: starting again, or after stop, does nothing)."""
        with self._lock:
            if not self.jobs or self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._worker.start, name=self.name,
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling, and wait (up to `timeout` s) for runs under way to end."""
        with self._lock:
            self._stopped = True
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._worker.stop()
        self._worker.wait(timeout)
        thread.join(timeout)


class PeriodicPart:
    """A part whose work is periodic jobs. `start` runs them on a runner of its own and
    `stop` stops it, then `close`s the part; a part made of parts (the health manager) runs
    all their jobs on one runner instead, through `periodics`."""

    _runner: PeriodicRunner | None = None

    def periodics(self) -> list[Periodic]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the jobs used (sockets, processes), once they have stopped."""

    def start(self) -> None:
        if self._runner is None:
            self._runner = PeriodicRunner(type(self).__name__, self.periodics())
            self._runner.start()

    def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.stop()
        self.close()
