"""The worker's logbook (`ottava.worker.engine.LeanStorage`) on a real SQLite database: it
writes only a task's outcome (no RUNNING state, no progress), and a flow stopped half way is
resumed from it without running again what was done."""

from __future__ import annotations

import contextlib
from typing import Any

from taskflow import task
from taskflow.patterns import linear_flow
from taskflow.persistence import models as tf_models

from ottava.db.engine import Database
from ottava.settings import WorkerSettings
from ottava.worker import engine as flow_engine
from ottava.worker import persistence

RUNS: list[str] = []


class Step(task.Task):
    def execute(self) -> str:
        RUNS.append(self.name)
        return f"{self.name} done"


def flow() -> Any:
    return linear_flow.Flow("steps").add(Step("first", provides="a"),
                                         Step("second", provides="b"),
                                         Step("third", provides="c"))


def test_only_outcomes_are_written_and_a_stopped_flow_resumes(tmp_path: Any) -> None:
    db = Database(f"sqlite:///{tmp_path}/ottava.db")
    settings = WorkerSettings()
    backend = persistence.backend(settings, db)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
        book = tf_models.LogBook("operation", uuid="op-1")
        detail = tf_models.FlowDetail("steps", uuid="op-1")
        book.add(detail)
        conn.save_logbook(book)
        writes: list[str] = []
        update = conn.update_atom_details

        def counted(atom_detail: Any) -> Any:
            writes.append(f"{atom_detail.name}:{atom_detail.state}")
            return update(atom_detail)

        conn.update_atom_details = counted

    RUNS.clear()
    first = flow_engine.load(flow(), detail, backend, settings)
    states = first.run_iter()
    for _ in states:  # stop (as a crash would) once the first task's outcome is saved
        if writes:
            break
    states.close()
    assert RUNS == ["first"]
    assert writes == ["first:SUCCESS"]  # neither RUNNING nor progress reached the database

    with contextlib.closing(backend.get_connection()) as conn:
        saved = conn.get_logbook("op-1").find("op-1")
    RUNS.clear()
    flow_engine.load(flow(), saved, backend, settings).run()
    assert RUNS == ["second", "third"]  # the first one's saved outcome was not redone
    assert writes == ["first:SUCCESS", "second:SUCCESS", "third:SUCCESS"]
    db.dispose()
