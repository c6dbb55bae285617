"""The TaskFlow engine a worker runs a flow with: TaskFlow's own engines, saving only what
resuming a flow needs.

A worker that dies mid-flow leaves the flow's logbook; the worker that takes the operation
over resumes from it, skipping every task the logbook records as done (with its result) and
reverting those it records as failed. Nothing else in the logbook is ever read back, yet
TaskFlow's storage writes far more, one transaction each: every task's RUNNING state, its
progress at 0.0 and again at 1.0, the flow's own state changes. That was 36 of the 45
commits of a load balancer create, and on PostgreSQL (a commit costs a disk flush) most of
its time. `LeanStorage` keeps those in memory only:

- a task's RUNNING or REVERTING state: resumed from its last saved state (PENDING, or
  FAILURE with the intention to revert), the task runs or reverts again, as it would from
  RUNNING: every task is safe to run twice;
- a task's progress: reported to listeners as before; nobody resumes from it;
- the flow's state: a resumed engine derives what to do from its atoms, not from it;
- the success of a task that provides nothing and has nothing to revert: a resumed engine
  would only skip it, and running it again instead is safe. That is three of the six saves
  of a SINGLE load balancer's create (applying the desired state, guarding the VIP, the
  finish), and a pair's VRRP.

What a resumed flow acts on is written:
- a result later tasks read: a flow resumed without it would work it out again from rows
  its own later steps changed (a failover's replaced amphorae are the new ones once the old
  ones are deleted);
- the success of a task that can be undone: TaskFlow reverts only a task its logbook says
  ran, and a resumed flow that fails before it reaches that task again would leave what
  the task built (a VIP port) behind;
- failures and intentions, as TaskFlow saves them.
"""

from __future__ import annotations

import threading
from typing import Any

from taskflow import states, storage, task
from taskflow.engines.action_engine import engine as action_engine
from taskflow.persistence import models
from taskflow.utils import misc

from ottava.settings import WorkerSettings

IN_MEMORY_ATOM_STATES = frozenset({states.RUNNING, states.REVERTING})


class OneLock:
    """The storage's lock, as TaskFlow's reader/writer lock is used (`read_lock()`,
    `write_lock()`), but one reentrant lock for both: one engine's threads share a storage,
    and a flow's tasks touch it only between their own work, so readers never wait long on
    one another. TaskFlow's reader/writer lock, written in Python, took about a tenth of a
    create's worker time: its storage takes the lock several hundred times per flow."""

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def read_lock(self) -> threading.RLock:
        return self._lock

    def write_lock(self) -> threading.RLock:
        return self._lock


class LeanStorage(storage.Storage):
    """TaskFlow's storage, writing only what a resumed flow reads back. The successes of
    the atoms named in `unsaved_successes` are kept in memory only."""

    def __init__(self, *args: Any, unsaved_successes: frozenset[str] = frozenset(),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = OneLock()
        self.unsaved_successes = unsaved_successes

    def save(self, atom_name: str, result: Any, state: str = states.SUCCESS) -> None:
        if state != states.SUCCESS or atom_name not in self.unsaved_successes:
            super().save(atom_name, result, state)
            return
        with self._lock.write_lock():
            detail, _ = self._atomdetail_by_name(atom_name)
            detail.put(state, result)

    def set_atom_state(self, atom_name: str, state: str) -> None:
        if state not in IN_MEMORY_ATOM_STATES:
            super().set_atom_state(atom_name, state)
            return
        with self._lock.write_lock():
            detail, _ = self._atomdetail_by_name(atom_name)
            detail.state = state

    def set_task_progress(self, task_name: str, progress: float,
                          details: Any = None) -> None:
        with self._lock.write_lock():
            detail, _ = self._atomdetail_by_name(task_name, expected_type=models.TaskDetail)
            detail.meta[storage.META_PROGRESS] = progress

    def set_flow_state(self, state: str) -> None:
        with self._lock.write_lock():
            detail, _ = self._fetch_flowdetail()
            detail.state = state


class _LeanStorageEngine:
    """What both engines share: their storage is a `LeanStorage`."""

    _flow: Any
    _flow_detail: Any
    _backend: Any
    _compiled: bool
    _runtime: Any

    @misc.cachedproperty
    def storage(self) -> LeanStorage:
        def scopes_of(atom_name: str) -> Any:
            # Only once compiled is the flow's structure (and so each atom's scope) known.
            return self._runtime.fetch_scopes_for(atom_name) if self._compiled else None

        return LeanStorage(self._flow_detail, backend=self._backend, scope_fetcher=scopes_of,
                           unsaved_successes=nothing_to_resume(self._flow))


class SerialEngine(_LeanStorageEngine, action_engine.SerialActionEngine):
    pass


class ParallelEngine(_LeanStorageEngine, action_engine.ParallelActionEngine):
    pass


def nothing_to_resume(flow: Any) -> frozenset[str]:
    """The names of the tasks of `flow` (and of its subflows) that provide no value to
    later tasks and revert nothing: whether they ran matters to no resumed engine."""
    names: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, task.Task):
            if not item.provides and type(item).revert is task.Task.revert:
                names.add(item.name)
            return
        for child in item:
            walk(child)

    walk(flow)
    return frozenset(names)


def load(flow: Any, detail: models.FlowDetail, backend: Any,
         settings: WorkerSettings) -> Any:
    """An engine for `flow`, recording into `detail` (of a logbook saved in `backend`)."""
    if settings.taskflow_engine == "parallel":
        return ParallelEngine(flow, detail, backend,
                              {"max_workers": settings.taskflow_max_workers})
    return SerialEngine(flow, detail, backend, {})
