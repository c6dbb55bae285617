"""The base of every task: access to the worker's drivers and database."""

from __future__ import annotations

from typing import Any

from taskflow import task

from ottava.worker.drivers import WorkerDeps


class WorkerTask(task.Task):
    def __init__(self, deps: WorkerDeps, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deps = deps
