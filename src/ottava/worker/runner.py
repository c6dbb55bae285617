"""Runs operations: claim the record, run its flow with TaskFlow, record the outcome.

A claim is a compare-and-set on the operation's state, so two workers given the same id (a
redelivered message, or the reconciler re-driving it) never run it twice at once. A claim is
a lease: this runner renews it every third of `[house_keeping] operation_lease` while the flow
runs, so a RUNNING operation whose lease lapsed belongs to a worker that died, and the
housekeeping reconciler hands it to another (which resumes it from TaskFlow's logbook).

Fault injection for the crash tests: with OTTAVA_CRASH_AT=<flow kind>:<atom name> in the
environment, the process kills itself (SIGKILL) as that atom starts, as a power cut would.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import threading
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging
from sqlalchemy import select, update
from taskflow import engines
from taskflow import exceptions as tf_exceptions
from taskflow import states as tf_states
from taskflow.persistence import models as tf_models
from taskflow.types import notifier

from ottava.db import health
from ottava.db import models as m
from ottava.domain.operations import Plan
from ottava.worker import flows, persistence
from ottava.worker.drivers import WorkerDeps
from ottava.worker.tasks.database import fail_plan

LOG = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "QUEUED", "RUNNING", "DONE", "FAILED"


CRASH_ENV = "OTTAVA_CRASH_AT"


def lease_until(seconds: float) -> datetime.datetime:
    return health.now() + datetime.timedelta(seconds=seconds)


class OperationRunner:
    def __init__(self, deps: WorkerDeps, conf: cfg.ConfigOpts, name: str = "worker") -> None:
        self.deps = deps
        self.conf = conf
        self.name = name
        self.lease = float(conf.house_keeping.operation_lease)
        self.backend = persistence.backend(conf, deps.db)
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._stopped = threading.Event()

    def claim(self, operation_id: str, states: tuple[str, ...] = (QUEUED,)) -> m.Operation | None:
        with self.deps.db.transaction() as s:
            changed = s.execute(
                update(m.Operation)
                .where(m.Operation.id == operation_id, m.Operation.state.in_(states))
                .values(state=RUNNING, attempts=m.Operation.attempts + 1, worker=self.name,
                        lease_expires=lease_until(self.lease))
            ).rowcount  # type: ignore[attr-defined]
            return s.get(m.Operation, operation_id) if changed else None

    def _renew_leases(self) -> None:
        while not self._stopped.wait(self.lease / 3):
            with self._lock:
                ids = sorted(self._running)
            if not ids:
                continue
            try:
                with self.deps.db.transaction() as s:
                    s.execute(update(m.Operation)
                              .where(m.Operation.id.in_(ids), m.Operation.worker == self.name,
                                     m.Operation.state == RUNNING)
                              .values(lease_expires=lease_until(self.lease)))
            except Exception:  # the database is away: the next renewal tries again
                LOG.exception("Renewing the leases of %d operations failed", len(ids))

    def _ensure_renewer(self) -> None:
        with self._lock:
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew_leases,
                                                 name="lease-renewer", daemon=True)
                self._renewer.start()

    def stop(self) -> None:
        self._stopped.set()

    def run(self, operation_id: str, states: tuple[str, ...] = (QUEUED,)) -> str | None:
        """Run the operation if it can be claimed; returns its final state."""
        op = self.claim(operation_id, states)
        if op is None:
            LOG.debug("Operation %s was claimed elsewhere or is finished", operation_id)
            return None
        plan = Plan.from_json(op.payload)
        state, error = DONE, None
        self._ensure_renewer()
        with self._lock:
            self._running.add(op.id)
        try:
            self._run_flow(op.id, plan)
        except Exception as exc:  # the flow has reverted; record why it failed
            LOG.warning("Operation %s (%s) failed: %s", op.id, op.kind, exc)
            state, error = FAILED, f"{type(exc).__name__}: {exc}"
            try:
                # The flow's own revert may itself have failed part way: make sure.
                fail_plan(self.deps.db, op.payload)
            except Exception:
                # Not even that could be written: leave the operation RUNNING; its lease
                # lapses and the reconciler runs it again later (from its first step: the
                # flow's logbook is gone, and every step is safe to run again).
                LOG.exception("Operation %s could not be marked failed; leaving it to the "
                              "reconciler", op.id)
                with self._lock:
                    self._running.discard(op.id)
                return None
        finally:
            with self._lock:
                self._running.discard(op.id)
        with self.deps.db.transaction() as s:
            s.execute(update(m.Operation).where(m.Operation.id == op.id)
                      .values(state=state, error=error, lease_expires=None))
        return state

    def _run_flow(self, operation_id: str, plan: Plan) -> None:
        flow = flows.build(plan.kind, self.deps)
        with contextlib.closing(self.backend.get_connection()) as conn:
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
        options: dict[str, Any] = {}
        if self.conf.task_flow.engine == "parallel":
            options["max_workers"] = self.conf.task_flow.max_workers
        engine = engines.load(
            flow,
            store={"plan": plan.to_json(), "operation_id": operation_id},
            backend=self.backend,
            book=book,
            flow_detail=detail,
            engine=self.conf.task_flow.engine,
            **options,
        )
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
        finally:
            # Progress is kept only while an operation runs; a finished one needs none.
            with contextlib.closing(self.backend.get_connection()) as conn:
                conn.destroy_logbook(book.uuid)

    def resume_unfinished(self) -> list[str]:
        """Run every operation left QUEUED or RUNNING, e.g. by a process that died.

        Only for a worker that knows no other worker runs them (standalone, or the first
        worker to start): several workers re-driving the same operation is what the
        housekeeping reconciler with claim expiry is for.
        """
        with self.deps.db.reader() as s:
            ids = list(s.scalars(
                select(m.Operation.id).where(m.Operation.state.in_([QUEUED, RUNNING]))
                .order_by(m.Operation.created_at)))
        for ident in ids:
            self.run(ident, (QUEUED, RUNNING))
        return ids
