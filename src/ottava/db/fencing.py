"""Fencing tokens: what stops a worker that lost its lease from writing.

A claim increments the operation's `attempts`; the value after the claim is that worker's
token. A worker may pause (a long GC, a frozen VM, a partition) past its lease; the
reconciler then hands the operation to another worker, whose claim increments `attempts`
again. When the first one wakes, every transaction it opens through `FencedDatabase` first
locks the operation row and checks the token: a stale one raises `Fenced` before anything is
written. The row lock makes the check and the writes one unit against a takeover: the
takeover's compare-and-set on the same row waits for the transaction (SQLite: the write lock
taken at BEGIN IMMEDIATE does the same).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db.engine import Database, Executor
from ottava.db.transitions import compare_and_set
from ottava.domain.errors import Fenced
from ottava.domain.lifecycles import OPERATION, OperationState


def holds(db: Executor, operation_id: str, token: int, lock: bool = False) -> bool:
    """Whether the operation is RUNNING under the claim `token` (locking its row: `lock`)."""
    query = select(m.Operation.id).where(
        m.Operation.id == operation_id, m.Operation.state == OperationState.RUNNING,
        m.Operation.attempts == token)
    if lock:
        query = query.with_for_update()
    return db.execute(query).first() is not None


def end_claim(db: Executor, operation_id: str, token: int, state: OperationState,
              error: str | None = None) -> bool:
    """Record the outcome `state` of the claim `token` if it still holds; whether it did."""
    return bool(compare_and_set(
        db, OPERATION, m.Operation, operation_id, state, [OperationState.RUNNING],
        where=[m.Operation.attempts == token], error=error, lease_expires=None,
        progress=None))


def ended(db: Executor, operation_id: str, token: int, state: OperationState) -> bool:
    """Whether the claim `token` already recorded the outcome `state`."""
    held = db.execute(select(m.Operation.state, m.Operation.attempts)
                      .where(m.Operation.id == operation_id)).one_or_none()
    return held is not None and tuple(held) == (state, token)


class FencedDatabase(Database):
    """The database as the worker running one operation sees it: the same engine and
    sessions, but every transaction (`transaction`, `writing`) is fenced by the claim's
    token."""

    def __init__(self, db: Database, operation_id: str, token: int) -> None:
        # Not Database.__init__: the same engine, pool and session factories as `db`.
        self.__dict__.update(db.__dict__)
        self.operation_id = operation_id
        self.token = token

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with super().transaction() as session:
            self._fence(session)
            yield session

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        with super().writing() as conn:
            self._fence(conn)
            yield conn

    def _fence(self, db: Executor) -> None:
        if not holds(db, self.operation_id, self.token, lock=True):
            raise Fenced(self.operation_id, self.token)

    def finish(self, work: Callable[[Connection], object],
               state: OperationState = OperationState.DONE, error: str | None = None) -> None:
        """End the claim: `work(connection)` and the operation recorded `state` (with
        `error`; its lease and progress cleared) in one commit, whose compare-and-set of the
        operation is the fence. A try after one whose commit landed but whose answer was
        lost (a connection cut at COMMIT) finds the outcome recorded and does nothing."""
        with super().writing() as conn:
            if end_claim(conn, self.operation_id, self.token, state, error):
                work(conn)
            elif not ended(conn, self.operation_id, self.token, state):
                raise Fenced(self.operation_id, self.token)

    def still_held(self) -> bool:
        return self.read(holds, self.operation_id, self.token)
