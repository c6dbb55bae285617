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
- the flow's state: a resumed engine derives what to do from its atoms, not from it.

Results, failures and intentions (what the resumed engine acts on) are saved as TaskFlow
saves them.
"""

from __future__ import annotations

from typing import Any

from taskflow import states, storage
from taskflow.engines.action_engine import engine as action_engine
from taskflow.persistence import models
from taskflow.utils import misc

from ottava.settings import WorkerSettings

IN_MEMORY_ATOM_STATES = frozenset({states.RUNNING, states.REVERTING})


class LeanStorage(storage.Storage):
    """TaskFlow's storage, writing only what a resumed flow reads back."""

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

    _flow_detail: Any
    _backend: Any
    _compiled: bool
    _runtime: Any

    @misc.cachedproperty
    def storage(self) -> LeanStorage:
        def scopes_of(atom_name: str) -> Any:
            # Only once compiled is the flow's structure (and so each atom's scope) known.
            return self._runtime.fetch_scopes_for(atom_name) if self._compiled else None

        return LeanStorage(self._flow_detail, backend=self._backend, scope_fetcher=scopes_of)


class SerialEngine(_LeanStorageEngine, action_engine.SerialActionEngine):
    pass


class ParallelEngine(_LeanStorageEngine, action_engine.ParallelActionEngine):
    pass


def load(flow: Any, detail: models.FlowDetail, backend: Any,
         settings: WorkerSettings) -> Any:
    """An engine for `flow`, recording into `detail` (of a logbook saved in `backend`)."""
    if settings.taskflow_engine == "parallel":
        return ParallelEngine(flow, detail, backend,
                              {"max_workers": settings.taskflow_max_workers})
    return SerialEngine(flow, detail, backend, {})
