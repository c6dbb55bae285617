"""Where TaskFlow keeps the progress of flows: the service database, or memory.

TaskFlow's SQLAlchemy backend builds a fresh set of Table objects for every connection it
hands out, and its engine asks for one per state change of every task: on this machine that
was 6 ms each, 240 ms per operation. Its connections are stateless wrappers around the
engine, so one of them, built once, serves every thread.
"""

from __future__ import annotations

import threading
from typing import Any

from taskflow.persistence.backends import impl_memory, impl_sqlalchemy

from ottava.db.engine import Database
from ottava.settings import WorkerSettings


class SharedConnectionBackend(impl_sqlalchemy.SQLAlchemyBackend):
    def __init__(self, db: Database) -> None:
        super().__init__({"connection": db.url}, engine=db.writer_engine)
        self._shared: Any = None
        self._shared_lock = threading.Lock()

    def get_connection(self) -> Any:
        with self._shared_lock:
            if self._shared is None:
                self._shared = super().get_connection()
            return self._shared


def backend(settings: WorkerSettings, db: Database) -> Any:
    if settings.taskflow_persistence == "memory":
        return impl_memory.MemoryBackend()
    return SharedConnectionBackend(db)
