"""The base of every task: the operation's `Job` (its plan, id, the drivers and database).

Every task's `execute` and `revert` ride out a database blip: run again while the database
does not answer, as `[database] db_max_retries` allows (`ottava.db.retry`); every step of a
flow is safe to run twice, as resuming a flow from its logbook already requires.
Every task's `revert` is fenced: a worker whose claim was taken over (see
`ottava.db.fencing`) leaves what it built to the worker that took the operation over, which
resumes the same flow from its logbook and may be using it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

from oslo_log import log as logging
from taskflow import task

from ottava.db.retry import retrying
from ottava.worker.drivers import Job

LOG = logging.getLogger(__name__)


def _frozen(value: Any) -> Hashable:
    """A `requires`, `rebind` or `ignore_list` argument as a key (each may be a string, a
    list or a dictionary)."""
    if isinstance(value, dict):
        return tuple(value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    return value


# (task class, method, requires, rebind, auto_extract, ignore_list, injected names) -> what
# TaskFlow's `_build_arg_mapping` answers for them.
_ARG_MAPPINGS: dict[Hashable, tuple[Any, Any, Any]] = {}


class WorkerTask(task.Task):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "execute" in cls.__dict__:
            cls.execute = _riding_out_blips(cls.__dict__["execute"])
        if "revert" in cls.__dict__:
            cls.revert = _riding_out_blips(_fenced(cls.__dict__["revert"]))

    def __init__(self, job: Job, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.deps = job.deps
        self.plan = job.plan

    def _build_arg_mapping(self, executor: Callable[..., Any], requires: Any = None,
                           rebind: Any = None, auto_extract: bool = True,
                           ignore_list: Any = None) -> tuple[Any, Any, Any]:
        """TaskFlow's mapping of `executor`'s arguments, worked out once per task class and
        arguments: TaskFlow reads the method's signature (`inspect`) at every construction,
        twice for `execute` and twice for `revert`, and a flow's tasks are made for every
        operation (a tenth of a load balancer create's worker time)."""
        key = (type(self), executor.__name__, _frozen(requires), _frozen(rebind),
               auto_extract, _frozen(ignore_list), _frozen(sorted(self.inject or ())))
        found = _ARG_MAPPINGS.get(key)
        if found is None:
            found = _ARG_MAPPINGS[key] = super()._build_arg_mapping(
                executor, requires=requires, rebind=rebind, auto_extract=auto_extract,
                ignore_list=ignore_list)
        mapping, required, optional = found
        # Copies: TaskFlow treats them as the task's own.
        return type(mapping)(mapping), type(required)(required), type(optional)(optional)


def _fenced(revert: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(revert)
    def guarded(self: WorkerTask, *args: Any, **kwargs: Any) -> Any:
        if not self.job.still_held():
            LOG.warning("Not reverting %s of operation %s: another worker took it over",
                        self.name, self.job.operation_id)
            return None
        return revert(self, *args, **kwargs)

    return guarded


def _riding_out_blips(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def retried(self: WorkerTask, *args: Any, **kwargs: Any) -> Any:
        return retrying(self.deps.settings.database_retry)(method)(self, *args, **kwargs)

    return retried
