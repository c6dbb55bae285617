"""The base of every task: the operation's `Job` (its plan, id, the drivers and database)."""

from __future__ import annotations

from typing import Any

from taskflow import task

from ottava.worker.drivers import Job


class WorkerTask(task.Task):
    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.deps = job.deps
        self.plan = job.plan
