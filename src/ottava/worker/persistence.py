"""Where TaskFlow keeps the progress of flows: the service database, or memory.

TaskFlow's SQLAlchemy backend builds a fresh set of Table objects for every connection it
hands out, and its engine asks for one per state change of every task: on this machine that
was 6 ms each, 240 ms per operation. Its connections are stateless wrappers around the
engine, so one of them, built once, serves every thread. Its reads and writes of a flow's
progress ride out a database blip like the tasks do (`ottava.db.retry`): each is one
transaction, safe to run again.
"""

from __future__ import annotations

import threading
from typing import Any

from taskflow.persistence.backends import impl_memory, impl_sqlalchemy

from ottava.db.engine import Database
from ottava.db.retry import retrying
from ottava.settings import DatabaseRetry, WorkerSettings

# What a worker's engine and runner call on a connection while flows run.
RETRIED = ("get_logbook", "save_logbook", "destroy_logbook", "update_flow_details",
           "update_atom_details")


class RetryingConnection(impl_sqlalchemy.Connection):
    def __init__(self, backend: Any, upgrade_lock: Any, retry: DatabaseRetry) -> None:
        super().__init__(backend, upgrade_lock)
        for name in RETRIED:
            setattr(self, name, retrying(retry)(getattr(self, name)))


class SharedConnectionBackend(impl_sqlalchemy.SQLAlchemyBackend):
    def __init__(self, db: Database, retry: DatabaseRetry) -> None:
        super().__init__({"connection": db.url}, engine=db.writer_engine)
        self.retry = retry
        self._shared: Any = None
        self._shared_lock = threading.Lock()

    def get_connection(self) -> Any:
        with self._shared_lock:
            if self._shared is None:
                self._shared = RetryingConnection(self, self._upgrade_lock, self.retry)
            return self._shared


def backend(settings: WorkerSettings, db: Database) -> Any:
    if settings.taskflow_persistence == "memory":
        return impl_memory.MemoryBackend()
    return SharedConnectionBackend(db, settings.database_retry)
