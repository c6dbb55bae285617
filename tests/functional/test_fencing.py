"""Fencing tokens: a worker paused past its lease wakes after another worker took its
operation over. It must not write, not revert, and not record an outcome; the new holder
can. Run against every database back end (row locks differ: SQLite's write lock, MariaDB's
and PostgreSQL's SELECT … FOR UPDATE)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.fencing import FencedDatabase
from ottava.db.transitions import compare_and_set
from ottava.domain.errors import Fenced, Unavailable
from ottava.domain.lifecycles import OPERATION, PROVISIONING, OperationState, Provisioning
from ottava.domain.operations import Entity, OperationKind, Plan
from ottava.settings import DatabaseRetry
from ottava.worker.drivers import Job
from ottava.worker.runner import OperationRunner
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.database import FinishPlan
from tests.harness import Client


class Undo(WorkerTask):
    """A task whose revert records that it ran (as a real one would delete a server)."""

    undone: list[str] = []

    def execute(self) -> None:
        return None

    def revert(self, *args: Any, **kwargs: Any) -> None:
        Undo.undone.append(self.job.operation_id)


def claim(stack: Any, op_id: str, worker: str) -> int:
    """The claim a worker makes (the runner's compare-and-set); returns its token."""
    with stack.db.transaction() as s:
        assert compare_and_set(s, OPERATION, m.Operation, op_id, OperationState.RUNNING,
                               [OperationState.QUEUED], attempts=m.Operation.attempts + 1,
                               worker=worker)
        return int(s.scalar(select(m.Operation.attempts).where(m.Operation.id == op_id)))


def queued(stack: Any, lb: dict) -> str:
    """A queued operation on `lb` that no worker was told about."""
    with stack.db.transaction() as s:
        op = m.Operation(kind="loadbalancer_update", target_id=lb["id"],
                         load_balancer_id=lb["id"], payload={}, state=OperationState.QUEUED)
        s.add(op)
        s.flush()
        return str(op.id)


def test_a_worker_that_lost_its_claim_cannot_write_revert_or_finish(
        api: Client, lb: dict, stack: Any) -> None:
    op_id = queued(stack, lb)
    first = claim(stack, op_id, "worker-a")
    paused = FencedDatabase(stack.db, op_id, first)
    with paused.transaction() as s:  # while it holds the claim, it writes
        s.get(m.LoadBalancer, lb["id"]).name = "written-by-a"

    # worker-a pauses past its lease; the reconciler requeues; worker-b claims.
    with stack.db.transaction() as s:
        assert compare_and_set(s, OPERATION, m.Operation, op_id, OperationState.QUEUED,
                               [OperationState.RUNNING])
    second = claim(stack, op_id, "worker-b")
    assert second == first + 1

    with pytest.raises(Fenced), paused.transaction() as s:
        s.get(m.LoadBalancer, lb["id"]).name = "written-by-a-after-waking"
    assert api.get(f"/v2/lbaas/loadbalancers/{lb['id']}").json()[
        "loadbalancer"]["name"] == "written-by-a"

    Undo.undone.clear()
    plan = Plan(OperationKind.LOADBALANCER_UPDATE, lb["id"])
    deps = stack.runner.deps
    stale = Undo(Job(deps.__class__(**{**deps.__dict__, "db": paused}), plan, op_id))
    stale.revert()
    assert Undo.undone == []  # the stale worker leaves what it built to the new holder
    holder = FencedDatabase(stack.db, op_id, second)
    current = Undo(Job(deps.__class__(**{**deps.__dict__, "db": holder}), plan, op_id))
    current.revert()
    assert Undo.undone == [op_id]

    # The stale worker's finish (recording the operation DONE in the commit of the flow's
    # last writes) writes nothing; the holder's does.
    def rename(name: str) -> Any:
        return lambda c: c.execute(update(m.LoadBalancer)
                                   .where(m.LoadBalancer.id == lb["id"]).values(name=name))

    with pytest.raises(Fenced):
        paused.finish(rename("finished-by-a"))
    holder.finish(rename("finished-by-b"))
    with stack.db.reader() as s:
        op = s.get(m.Operation, op_id)
        assert (op.state, op.attempts, op.worker) == ("DONE", second, "worker-b")
        assert s.get(m.LoadBalancer, lb["id"]).name == "finished-by-b"


class AnswerLost:
    """The database behind a connection that dies just after COMMIT reached the server: the
    next transaction is written, and its caller hears that the database went away."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.lose_next = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Any]:
        with self.db.writing() as c:
            yield c
        if self.lose_next:
            self.lose_next = False
            raise Unavailable("The database is not available")


def test_a_claim_and_an_outcome_whose_answers_were_lost_are_known_as_ones_own(
        api: Client, lb: dict, stack: Any) -> None:
    op_id, other_id = queued(stack, lb), queued(stack, lb)
    lossy = AnswerLost(stack.db)
    deps = stack.runner.deps
    runner = OperationRunner(dataclasses.replace(
        deps, db=lossy, settings=dataclasses.replace(
            deps.settings, database_retry=DatabaseRetry(3, 0.01, 0.01))), "worker-lossy")

    lossy.lose_next = True
    claimed = runner.claim(op_id)  # written, answer lost, tried again: it is this claim
    assert claimed is not None
    assert claimed.token == 1
    with stack.db.reader() as s:
        op = s.get(m.Operation, op_id)
        assert (op.state, op.attempts, op.worker) == ("RUNNING", 1, "worker-lossy")
    # Its outcome, recorded with the flow's last writes: a try after one whose answer was
    # lost finds it recorded under its own claim, and writes nothing more.
    mine, tries = FencedDatabase(stack.db, op_id, claimed.token), []
    mine.finish(tries.append)
    mine.finish(tries.append)
    assert len(tries) == 1  # the second try wrote nothing
    with stack.db.reader() as s:
        assert s.get(m.Operation, op_id).state == "DONE"

    # What another worker took over is never taken for one's own, lost answer or not.
    assert runner.claim(other_id) is not None  # token 1; then its lease lapses
    with stack.db.transaction() as s:
        assert compare_and_set(s, OPERATION, m.Operation, other_id, OperationState.QUEUED,
                               [OperationState.RUNNING])
    assert claim(stack, other_id, "worker-a") == 2
    lossy.lose_next = True
    assert runner.claim(other_id) is None
    with pytest.raises(Fenced):
        FencedDatabase(stack.db, other_id, 1).finish(tries.append)


def test_a_finish_whose_commit_answer_was_lost_is_known_as_done(
        api: Client, lb: dict, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`FinishPlan` commits the plan and the operation's DONE together; when only the answer
    to that COMMIT is lost, its retry finds the operation DONE under its own claim and
    neither fails the flow nor writes again."""
    op_id = queued(stack, lb)
    token = claim(stack, op_id, "worker-a")
    with stack.db.transaction() as s:  # locked by the operation, as its plan says
        assert compare_and_set(s, PROVISIONING, m.LoadBalancer, lb["id"],
                               Provisioning.PENDING_UPDATE, [Provisioning.ACTIVE])
    writing, lose = Database.writing, [True]

    @contextlib.contextmanager
    def answer_lost(self: Database) -> Iterator[Any]:
        with writing(self) as conn:
            yield conn
        if lose:  # committed; the caller hears the database went away
            lose.pop()
            raise Unavailable("The database is not available")

    monkeypatch.setattr(Database, "writing", answer_lost)
    deps = stack.runner.deps
    plan = Plan(OperationKind.LOADBALANCER_UPDATE, lb["id"],
                activate=((Entity.LOADBALANCER, lb["id"]),))
    job = Job(dataclasses.replace(
        deps, db=FencedDatabase(stack.db, op_id, token),
        settings=dataclasses.replace(deps.settings,
                                     database_retry=DatabaseRetry(3, 0.01, 0.01))),
        plan, op_id)
    FinishPlan(job).execute()

    assert not lose  # the first try's answer was lost
    with stack.db.reader() as s:
        op = s.get(m.Operation, op_id)
        assert (op.state, op.attempts) == ("DONE", token)
        assert s.get(m.LoadBalancer, lb["id"]).provisioning_status == "ACTIVE"
