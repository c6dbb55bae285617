"""Runs operations: claim the record, run its flow with TaskFlow, record the outcome.

The outcome is recorded in the same commit as the flow's last writes: DONE by the flow's last
task (`FinishPlan`, with its targets ACTIVE), FAILED by the runner once the flow has reverted
(with its targets ERROR). No operation is ever finished without its objects, nor the reverse.

A claim is a compare-and-set on the operation's state (`ottava.domain.lifecycles.OPERATION`),
so two workers given the same id (a redelivered message, or the reconciler re-driving it)
never run it twice at once. A claim is a lease: a periodic job renews it every third of
`[house_keeping] operation_lease` while the flow runs, so a RUNNING operation whose lease
lapsed belongs to a worker that died, and the housekeeping reconciler hands it to another
(which resumes it from TaskFlow's logbook). The claim's count is a fencing token: a worker
that was only paused, and wakes after the takeover, can neither write, revert nor record an
outcome (`ottava.db.fencing`). Every step rides out a database blip (`ottava.db.retry`); an
operation whose database stayed away longer than that is left RUNNING, never marked failed:
its lease lapses and the reconciler runs it again once the database is back.

Metrics (`ottava.metrics.Registry`): every recorded outcome counts by kind and outcome with
the time from claim to outcome (failovers once more on their own), and every task of a flow
is timed as it runs. Every recorded outcome is then handed to the event notifications
(`ottava.worker.notifications`), which send Octavia's load balancer events.

Fault injection for the crash tests: with OTTAVA_CRASH_AT=<flow kind>:<atom name> in the
environment, the process kills itself (SIGKILL) as that atom starts, as a power cut would.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
import threading
import time
from typing import Any

from oslo_log import log as logging
from sqlalchemy import select
from taskflow import exceptions as tf_exceptions
from taskflow import states as tf_states
from taskflow.persistence import models as tf_models
from taskflow.types import notifier

from ottava.db import health
from ottava.db import models as m
from ottava.db.fencing import FencedDatabase
from ottava.db.retry import is_transient, retrying
from ottava.db.transitions import compare_and_set
from ottava.domain.errors import Fenced
from ottava.domain.lifecycles import OPERATION, UNFINISHED, OperationState
from ottava.domain.operations import FAILOVERS, OperationKind, Plan
from ottava.metrics import Registry
from ottava.periodic import Periodic, PeriodicRunner
from ottava.worker import engine as flow_engine
from ottava.worker import flows, persistence
from ottava.worker.drivers import Job, WorkerDeps
from ottava.worker.notifications import EventNotifier, NoNotifications
from ottava.worker.tasks.database import fail_plan

LOG = logging.getLogger(__name__)

CRASH_ENV = "OTTAVA_CRASH_AT"


def lease_until(seconds: float) -> datetime.datetime:
    return health.now() + datetime.timedelta(seconds=seconds)


@dataclasses.dataclass(frozen=True)
class Claim:
    """An operation this worker claimed: what its flow is built from, and the claim's
    fencing token."""

    id: str
    kind: str
    payload: Any
    token: int
    progress: str | None  # the logbook a worker that died left, if any


TASK_DONE = {tf_states.SUCCESS: "success", tf_states.FAILURE: "failure",
             tf_states.REVERTED: "reverted"}


class OperationRunner:
    def __init__(self, deps: WorkerDeps, name: str = "worker",
                 metrics: Registry | None = None,
                 notifications: EventNotifier | None = None) -> None:
        self.deps = deps
        self.metrics = metrics if metrics is not None else Registry()
        self.notifications = notifications if notifications is not None else NoNotifications()
        self.settings = deps.settings
        self.name = name
        self.lease = float(self.settings.operation_lease)
        # `[task_flow] persistence = memory`: one in-memory logbook store for every flow.
        self.memory = (persistence.in_memory()
                       if self.settings.taskflow_persistence == "memory" else None)
        self.retried = retrying(self.settings.database_retry)
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self.periodic = PeriodicRunner(f"worker-{name}", [
            Periodic("lease-renewal", self.lease / 3, self.renew_leases)])

    def claim(self, operation_id: str, states: tuple[OperationState, ...] = (
            OperationState.QUEUED,)) -> Claim | None:
        """Take the operation (RUNNING, under a new fencing token) if it is in one of
        `states`; None when another worker has it or it is finished."""
        # The token a try wrote: when the connection drops after the database committed a
        # claim but before it said so, the next try finds the row already RUNNING under that
        # token and this worker's name, and knows the claim is its own.
        written: list[int] = []
        return self.retried(self._claim)(operation_id, states, written)

    def _claim(self, operation_id: str, states: tuple[OperationState, ...],
               written: list[int]) -> Claim | None:
        with self.deps.db.writing() as c:
            row = c.execute(select(m.Operation.state, m.Operation.attempts, m.Operation.worker,
                                   m.Operation.kind, m.Operation.payload,
                                   m.Operation.progress)
                            .where(m.Operation.id == operation_id)).one_or_none()
            if row is None:
                return None
            mine = bool(written and row.state == OperationState.RUNNING
                        and row.attempts == written[-1] and row.worker == self.name)
            token = row.attempts if mine else row.attempts + 1
            claim = Claim(operation_id, row.kind, row.payload, token, row.progress)
            if mine:
                return claim
            written.append(token)
            changed = compare_and_set(
                c, OPERATION, m.Operation, operation_id, OperationState.RUNNING, states,
                where=[m.Operation.attempts == row.attempts], attempts=claim.token,
                worker=self.name, lease_expires=lease_until(self.lease))
            return claim if changed else None

    def renew_leases(self) -> int:
        """Extend the lease of every operation this runner is running; how many."""
        with self._lock:
            ids = sorted(self._running)
        if not ids:
            return 0
        with self.deps.db.writing() as c:
            return compare_and_set(c, OPERATION, m.Operation, ids, OperationState.RUNNING,
                                   [OperationState.RUNNING],
                                   where=[m.Operation.worker == self.name],
                                   lease_expires=lease_until(self.lease))

    def start(self) -> None:
        self.periodic.start()

    def stop(self) -> None:
        self.periodic.stop()
        self.notifications.close()

    def run(self, operation_id: str, states: tuple[OperationState, ...] = (
            OperationState.QUEUED,)) -> OperationState | None:
        """Run the operation if it can be claimed; returns its final state."""
        with self._lock:
            if operation_id in self._running:  # delivered again while it runs here
                return None
            self._running.add(operation_id)  # from here on its lease is renewed
        self.periodic.start()  # a runner driven without start() still renews its leases
        try:
            return self._claim_and_run(operation_id, states)
        finally:
            with self._lock:
                self._running.discard(operation_id)

    def _claim_and_run(self, operation_id: str,
                       states: tuple[OperationState, ...]) -> OperationState | None:
        op = self.claim(operation_id, states)
        if op is None:
            LOG.debug("Operation %s was claimed elsewhere or is finished", operation_id)
            return None
        plan = Plan.from_json(op.payload)
        started = time.monotonic()
        # The claim's token fences every write the flow makes (see ottava.db.fencing).
        token = op.token
        fenced = FencedDatabase(self.deps.db, op.id, token)
        deps = dataclasses.replace(self.deps, db=fenced)
        state = OperationState.DONE
        try:
            # Its last task records the operation DONE (`FinishPlan`).
            self._run_flow(Job(deps, plan, op.id), token, op.progress)
        except Exception as exc:  # the flow has reverted; record why it failed
            if is_transient(exc):
                LOG.warning("Operation %s (%s) stopped: the database did not answer for "
                            "longer than its retries; left to the reconciler", op.id, op.kind)
                return None
            LOG.warning("Operation %s (%s) failed: %s", op.id, op.kind, exc)
            state = OperationState.FAILED
            try:
                # Every task's own revert has run: now its targets go to ERROR and its
                # locked parents back to ACTIVE, so nothing is left PENDING_*, in the
                # commit that records the operation FAILED.
                self.retried(fenced.finish)(lambda conn: fail_plan(conn, plan),
                                            OperationState.FAILED,
                                            f"{type(exc).__name__}: {exc}")
            except Fenced:
                LOG.warning("Operation %s was taken over by another worker before it finished "
                            "here: its outcome is the other worker's to record", op.id)
                return None
            except Exception:
                # Not even that could be written: leave the operation RUNNING; its lease
                # lapses and the reconciler runs it again later (from its first step: the
                # flow's logbook is gone, and every step is safe to run again).
                LOG.exception("Operation %s could not be marked failed; leaving it to the "
                              "reconciler", op.id)
                return None
        self._count(plan.kind, state, time.monotonic() - started)
        self.notifications.finished(plan, state)
        return state

    def _count(self, kind: OperationKind, state: OperationState, seconds: float) -> None:
        outcome = state.value.lower()
        self.metrics.operations.labels(kind.value, outcome).inc()
        self.metrics.operation_seconds.labels(kind.value, outcome).observe(seconds)
        if kind in FAILOVERS:
            self.metrics.failovers.labels(kind.value, outcome).inc()
            self.metrics.failover_seconds.labels(kind.value).observe(seconds)

    def _run_flow(self, job: Job, token: int, progress: str | None) -> None:
        operation_id, plan = job.operation_id, job.plan
        flow = flows.build(job)
        backend = persistence.backend(self.settings, self.deps.db, operation_id, token,
                                      progress, self.memory)
        conn = backend.get_connection()
        try:
            # A logbook left by a worker that died: the engine resumes where it stopped.
            book = conn.get_logbook(operation_id)
            detail = book.find(operation_id)
            LOG.info("Resuming operation %s (%s)", operation_id, plan.kind)
        except tf_exceptions.NotFound:
            book = tf_models.LogBook(f"operation-{operation_id}", uuid=operation_id)
            detail = tf_models.FlowDetail(plan.kind, uuid=operation_id)
            book.add(detail)
            conn.save_logbook(book)
        engine = flow_engine.load(flow, detail, backend, self.settings)
        engine.atom_notifier.register(notifier.Notifier.ANY, self._task_timer(plan.kind))
        crash_at = os.environ.get(CRASH_ENV, "")
        if crash_at.startswith(f"{plan.kind}:"):
            atom = crash_at.split(":", 1)[1]

            def crash(state: str, details: dict[str, Any]) -> None:
                if details.get("task_name") == atom and state == tf_states.RUNNING:
                    LOG.warning("%s=%s: killing this process", CRASH_ENV, crash_at)
                    os.kill(os.getpid(), signal.SIGKILL)

            engine.atom_notifier.register(notifier.Notifier.ANY, crash)
        try:
            engine.run()
        except BaseException:
            # The flow has reverted: whoever runs the operation again starts it afresh.
            conn.destroy_logbook(book.uuid)
            raise
        # A finished operation keeps no progress: recording its outcome cleared the row's
        # (`FencedDatabase.finish`); the memory store forgets it here.
        if self.memory is not None:
            conn.destroy_logbook(book.uuid)

    def _task_timer(self, kind: OperationKind) -> Any:
        """An atom listener timing each task of one flow run: from RUNNING to SUCCESS or
        FAILURE, and from REVERTING to REVERTED. One flow run's tasks report on the engine's
        threads, each task name once at a time, so the dictionary needs no lock."""
        started: dict[str, float] = {}
        seconds = self.metrics.task_seconds

        def listen(state: str, details: dict[str, Any]) -> None:
            name = details.get("task_name")
            if name is None:  # a retry controller, not a task
                return
            if state in (tf_states.RUNNING, tf_states.REVERTING):  # a run, or its undoing
                started[name] = time.monotonic()
            elif state in TASK_DONE and name in started:
                seconds.labels(kind.value, name, TASK_DONE[state]).observe(
                    time.monotonic() - started.pop(name))

        return listen

    def resume_unfinished(self) -> list[str]:
        """Run every operation left QUEUED or RUNNING, e.g. by a process that died.

        Only for a worker that knows no other worker runs them (standalone, or the first
        worker to start): several workers re-driving the same operation is what the
        housekeeping reconciler with claim expiry is for.
        """
        with self.deps.db.reader() as s:
            ids = list(s.scalars(
                select(m.Operation.id).where(m.Operation.state.in_(UNFINISHED))
                .order_by(m.Operation.created_at)))
        for ident in ids:
            self.run(ident, (OperationState.QUEUED, OperationState.RUNNING))
        return ids
