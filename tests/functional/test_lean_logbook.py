"""A flow's logbook in its operation's row (`ottava.worker.persistence`) with the lean
storage (`ottava.worker.engine.LeanStorage`), on every database back end: only a task's
outcome is written (no RUNNING state, no progress), a flow stopped half way is resumed from
the row without running again what was done, and a worker whose claim was taken over cannot
write the row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.persistence import models as tf_models

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.errors import Fenced
from ottava.domain.lifecycles import OperationState
from ottava.settings import WorkerSettings
from ottava.worker import engine as flow_engine
from ottava.worker import persistence
from tests import harness

RUNS: list[str] = []
OPERATION = "0e0e0e0e-0000-4000-8000-000000000001"


class Step(task.Task):
    def execute(self) -> dict[str, str]:
        RUNS.append(self.name)
        return {"done": self.name}


def flow() -> Any:
    return linear_flow.Flow("steps").add(Step("first", provides="a"),
                                         Step("second", provides="b"),
                                         Step("third", provides="c"))


@pytest.fixture(params=harness.backends())
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database holding one operation, RUNNING under claim 1."""
    with harness.migrated_database(request.param, "ottava-logbook-") as database:
        with database.transaction() as s:
            s.add(m.Operation(id=OPERATION, kind="steps", target_id=OPERATION,
                              state=OperationState.RUNNING, attempts=1))
        yield database


def progress(db: Database) -> Any:
    with db.reader() as s:
        text = s.scalar(select(m.Operation.progress).where(m.Operation.id == OPERATION))
    return None if text is None else json.loads(text)


def saved_states(db: Database) -> dict[str, str]:
    flows = progress(db)["flows"]
    return {atom["name"]: atom["state"]
            for kept in flows.values() for atom in kept["atoms"].values()}


def new_logbook(db: Database, flow_name: str, settings: WorkerSettings
                ) -> tuple[Any, Any, tf_models.FlowDetail, list[str]]:
    """A new logbook in the operation's row under claim 1: its backend, connection, flow
    detail, and the list every atom detail written to the row is recorded in."""
    backend = persistence.backend(settings, db, OPERATION, 1)
    conn = backend.get_connection()
    book = tf_models.LogBook("operation", uuid=OPERATION)
    detail = tf_models.FlowDetail(flow_name, uuid=OPERATION)
    book.add(detail)
    conn.save_logbook(book)
    writes: list[str] = []
    update_atom = conn.update_atom_details

    def counted(atom_detail: Any) -> Any:
        writes.append(f"{atom_detail.name}:{atom_detail.state}")
        return update_atom(atom_detail)

    conn.update_atom_details = counted
    return backend, conn, detail, writes


def crash_once(flow: Any, detail: tf_models.FlowDetail, backend: Any,
               settings: WorkerSettings, writes: list[str], written: str) -> None:
    """Run `flow` until the atom outcome `written` ("name:STATE") reaches the row, then stop
    as a crash would."""
    states = flow_engine.load(flow, detail, backend, settings).run_iter()
    for _ in states:
        if written in writes:
            break
    states.close()


def resumed(db: Database, settings: WorkerSettings, token: int = 1
            ) -> tuple[Any, tf_models.FlowDetail]:
    """The backend of a worker holding claim `token`, and the flow detail it reads back."""
    backend = persistence.backend(settings, db, OPERATION, token)
    return backend, backend.get_connection().get_logbook(OPERATION).find(OPERATION)


def test_only_outcomes_are_written_and_a_stopped_flow_resumes(db: Database) -> None:
    settings = WorkerSettings()
    backend, conn, detail, writes = new_logbook(db, "steps", settings)

    RUNS.clear()
    crash_once(flow(), detail, backend, settings, writes, "first:SUCCESS")
    assert RUNS == ["first"]
    assert writes == ["first:SUCCESS"]  # neither RUNNING nor progress reached the database
    assert saved_states(db) == {"first": "SUCCESS", "second": "PENDING", "third": "PENDING"}

    # Another worker takes the operation over (claim 2) and resumes from the row alone.
    with db.transaction() as s:
        s.execute(update(m.Operation).where(m.Operation.id == OPERATION).values(attempts=2))
    taker, saved = resumed(db, settings, token=2)
    RUNS.clear()
    flow_engine.load(flow(), saved, taker, settings).run()
    assert RUNS == ["second", "third"]  # the first one's saved outcome was not redone
    assert saved_states(db) == {"first": "SUCCESS", "second": "SUCCESS", "third": "SUCCESS"}
    first_result = [atom["results"] for kept in progress(db)["flows"].values()
                    for atom in kept["atoms"].values() if atom["name"] == "first"]
    assert first_result == [{"done": "first"}]

    # The first worker wakes: claim 1 no longer holds, and the row is not its to write.
    with pytest.raises(Fenced):
        conn.destroy_logbook(OPERATION)
    assert saved_states(db)["third"] == "SUCCESS"
    taker.get_connection().destroy_logbook(OPERATION)
    assert progress(db) is None


class Plain(task.Task):
    """Provides nothing and reverts nothing: whether it ran matters to no resumed engine."""

    def execute(self) -> None:
        RUNS.append(self.name)


class Undoable(task.Task):
    def execute(self) -> None:
        RUNS.append(self.name)

    def revert(self, *args: Any, **kwargs: Any) -> None:
        RUNS.append(f"revert {self.name}")


def mixed_flow() -> Any:
    return linear_flow.Flow("mixed").add(Step("made", provides="a"), Plain("plain"),
                                         Undoable("undoable"), Plain("last"))


def test_a_task_with_nothing_to_resume_is_not_written_and_runs_again_when_resumed(
        db: Database) -> None:
    assert flow_engine.nothing_to_resume(mixed_flow()) == {"plain", "last"}
    settings = WorkerSettings()
    backend, _conn, detail, writes = new_logbook(db, "mixed", settings)

    RUNS.clear()
    crash_once(mixed_flow(), detail, backend, settings, writes, "undoable:SUCCESS")
    assert RUNS == ["made", "plain", "undoable"]
    assert writes == ["made:SUCCESS", "undoable:SUCCESS"]  # the plain task's was not written
    assert saved_states(db) == {"made": "SUCCESS", "plain": "PENDING",
                                "undoable": "SUCCESS", "last": "PENDING"}

    # Resumed from the row: the plain task runs again (it is safe to), nothing saved does.
    again, saved = resumed(db, settings)
    RUNS.clear()
    flow_engine.load(mixed_flow(), saved, again, settings).run()
    assert RUNS == ["plain", "last"]


def test_a_resumed_flow_that_fails_early_still_undoes_what_ran_before_the_crash(
        db: Database) -> None:
    """A task that can be undone is written when it succeeds: after a crash, the resumed
    flow may fail in a task it runs again before reaching that one, and TaskFlow reverts
    only what its logbook says ran."""
    settings = WorkerSettings()
    backend, _conn, detail, writes = new_logbook(db, "mixed", settings)
    RUNS.clear()
    crash_once(mixed_flow(), detail, backend, settings, writes, "undoable:SUCCESS")
    assert RUNS == ["made", "plain", "undoable"]

    class BrokenNow(Plain):
        def execute(self) -> None:
            raise RuntimeError("broken after the crash")

    failing_now = linear_flow.Flow("mixed").add(Step("made", provides="a"),
                                                BrokenNow("plain"), Undoable("undoable"),
                                                Plain("last"))
    again, saved = resumed(db, settings)
    RUNS.clear()
    with pytest.raises(RuntimeError, match="broken after the crash"):
        flow_engine.load(failing_now, saved, again, settings).run()
    assert RUNS == ["revert undoable"]


def test_a_failure_after_an_unsaved_success_still_reverts_what_can_be_undone(
        db: Database) -> None:
    class Broken(task.Task):
        def execute(self) -> None:
            raise RuntimeError("broken")

    settings = WorkerSettings()
    backend, _conn, detail, _writes = new_logbook(db, "failing", settings)
    failing = linear_flow.Flow("failing").add(Undoable("undoable"), Plain("plain"),
                                              Broken("broken"))
    RUNS.clear()
    with pytest.raises(RuntimeError, match="broken"):
        flow_engine.load(failing, detail, backend, settings).run()
    assert RUNS == ["undoable", "plain", "revert undoable"]
