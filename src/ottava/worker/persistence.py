"""Where TaskFlow keeps the progress of a flow: in its operation's own row, or in memory.

A worker runs one flow per operation, and only the worker holding the operation's claim may
record its progress. So the whole logbook of a flow (one book, one flow detail, an atom
detail per task) is one JSON document in `operation.progress`, and each save is a single
UPDATE of that row, fenced by the claim's token like every other write of the flow
(`ottava.db.fencing`): a worker whose claim was taken over cannot overwrite the progress of
the worker that resumed it.

TaskFlow's own SQLAlchemy backend kept it in three tables, reading a row before writing it:
three to five statements per saved task outcome, about half of a load balancer create's
statements (decision 0019). Its tables are gone (migration 0003).

Every save rides out a database blip (`ottava.db.retry`): it writes the whole document, so a
save whose commit landed but whose answer was lost is simply made again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from taskflow import exceptions as tf_exceptions
from taskflow import states as tf_states
from taskflow.persistence import base
from taskflow.persistence import models as tf_models
from taskflow.persistence.backends import impl_memory

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.retry import retrying
from ottava.domain.errors import Fenced
from ottava.domain.lifecycles import OperationState
from ottava.settings import WorkerSettings


class Unread:
    """The progress of a row not read yet (None is a row without progress)."""


UNREAD = Unread()

# An atom in one of these states has not run (TaskFlow's None: not yet set).
UNSTARTED = frozenset({None, tf_states.PENDING})


class OperationProgress(base.Backend):
    """The logbook of one operation's flow, kept in that operation's row while the claim
    `token` holds it. The book's uuid is the operation's id."""

    def __init__(self, db: Database, operation_id: str, token: int,
                 settings: WorkerSettings, claimed: str | Unread | None = UNREAD) -> None:
        """`claimed`: the progress the row held when the claim was taken (read with it), so
        the first look at the logbook costs no query."""
        super().__init__({})
        self.db = db
        self.operation_id = operation_id
        self.token = token
        self.retried = retrying(settings.database_retry)
        self._connection = _RowConnection(self, claimed)

    def get_connection(self) -> _RowConnection:
        # Stateless between calls but for the document; one serves every caller.
        return self._connection

    def close(self) -> None:
        pass


class _RowConnection(base.Connection):
    """TaskFlow's connection contract over the document: what a running engine and the
    runner call (save, update, get, destroy); the listing calls serve the one book."""

    def __init__(self, backend: OperationProgress, claimed: str | Unread | None) -> None:
        self._backend = backend
        # What the row held at the claim, until the logbook is first read.
        self._claimed: list[str | None] = [] if isinstance(claimed, Unread) else [claimed]
        # The document as last saved: {"book": …, "flows": {uuid: {"flow": …,
        # "atoms": {uuid: …}}}}.
        self._document: dict[str, Any] | None = None
        # Whether the row holds a document. Until an atom has an outcome, the document says
        # nothing a fresh start would not, so it stays here and costs no write: a new
        # flow's first write is its first task's outcome.
        self._stored = False

    @property
    def backend(self) -> OperationProgress:
        return self._backend

    def close(self) -> None:
        pass

    def upgrade(self) -> None:
        pass  # the column comes with Ottava's own migrations

    def validate(self) -> None:
        pass

    def clear_all(self) -> None:
        self.destroy_logbook(self._backend.operation_id)

    # --- writes -----------------------------------------------------------------------

    def save_logbook(self, book: tf_models.LogBook) -> tf_models.LogBook:
        self._own(book.uuid)
        document = self._document or {"flows": {}}
        document["book"] = book.to_dict(marshal_time=True)
        for flow in book:
            _put_flow(document, flow)
        self._write(document)
        return book

    def update_flow_details(self, flow_detail: tf_models.FlowDetail,
                            ignore_missing: bool = False) -> tf_models.FlowDetail:
        document = self._loaded()
        if flow_detail.uuid not in document["flows"] and not ignore_missing:
            raise tf_exceptions.NotFound(f"No flow details found with uuid {flow_detail.uuid}")
        _put_flow(document, flow_detail)
        self._write(document)
        return flow_detail

    def update_atom_details(self, atom_detail: tf_models.AtomDetail) -> tf_models.AtomDetail:
        document = self._loaded()
        for flow in document["flows"].values():
            if atom_detail.uuid in flow["atoms"]:
                flow["atoms"][atom_detail.uuid] = _atom(atom_detail)
                self._write(document)
                return atom_detail
        raise tf_exceptions.NotFound(f"No atom details found with uuid {atom_detail.uuid}")

    def destroy_logbook(self, book_uuid: str) -> None:
        self._own(book_uuid)
        self._write(None)

    # --- reads ------------------------------------------------------------------------

    def get_logbook(self, book_uuid: str, lazy: bool = False) -> tf_models.LogBook:
        self._own(book_uuid)
        document = self._read()
        if document is None:
            raise tf_exceptions.NotFound(f"No logbook found with uuid {book_uuid}")
        self._document, self._stored = document, True
        return _book(document)

    def get_logbooks(self, lazy: bool = False) -> Any:
        try:
            yield self.get_logbook(self._backend.operation_id)
        except tf_exceptions.NotFound:
            return

    def get_flows_for_book(self, book_uuid: str, lazy: bool = False) -> Any:
        yield from self.get_logbook(book_uuid)

    def get_flow_details(self, fd_uuid: str, lazy: bool = False) -> tf_models.FlowDetail:
        found = self.get_logbook(self._backend.operation_id).find(fd_uuid)
        if found is None:
            raise tf_exceptions.NotFound(f"No flow details found with uuid {fd_uuid}")
        return found

    def get_atom_details(self, ad_uuid: str) -> tf_models.AtomDetail:
        for flow in self.get_logbook(self._backend.operation_id):
            found = flow.find(ad_uuid)
            if found is not None:
                return found
        raise tf_exceptions.NotFound(f"No atom details found with uuid {ad_uuid}")

    def get_atoms_for_flow(self, fd_uuid: str) -> Any:
        yield from self.get_flow_details(fd_uuid)

    # --- the row ----------------------------------------------------------------------

    def _own(self, book_uuid: str) -> None:
        if book_uuid != self._backend.operation_id:
            raise tf_exceptions.NotFound(
                f"Operation {self._backend.operation_id} keeps no logbook {book_uuid}")

    def _loaded(self) -> dict[str, Any]:
        if self._document is None:
            raise tf_exceptions.NotFound(
                f"No logbook saved for operation {self._backend.operation_id}")
        return self._document

    def _write(self, document: dict[str, Any] | None) -> None:
        if self._stored or (document is not None and _has_outcomes(document)):
            text = None if document is None else json.dumps(document, default=repr)
            self._backend.retried(self._update)(text)
            self._stored = document is not None
        self._document = document

    def _update(self, text: str | None) -> None:
        backend = self._backend
        statement = (update(m.Operation).values(progress=text)
                     .where(m.Operation.id == backend.operation_id,
                            m.Operation.state == OperationState.RUNNING,
                            m.Operation.attempts == backend.token))
        with backend.db.writing() as conn:
            if conn.execute(statement).rowcount != 1:
                raise Fenced(backend.operation_id, backend.token)

    def _read(self) -> dict[str, Any] | None:
        def read() -> str | None:
            with self._backend.db.reader() as s:
                return s.scalar(select(m.Operation.progress).where(
                    m.Operation.id == self._backend.operation_id))

        # Nobody else writes the row while the claim holds: what the claim read is current.
        text = self._claimed.pop() if self._claimed else self._backend.retried(read)()
        return None if text is None else json.loads(text)


def _has_outcomes(document: dict[str, Any]) -> bool:
    return any(atom["state"] not in UNSTARTED
               for kept in document["flows"].values() for atom in kept["atoms"].values())


def _atom(detail: tf_models.AtomDetail) -> dict[str, Any]:
    return {"type": tf_models.atom_detail_type(detail), **detail.to_dict()}


def _put_flow(document: dict[str, Any], flow: tf_models.FlowDetail) -> None:
    kept = document["flows"].setdefault(flow.uuid, {"atoms": {}})
    kept["flow"] = flow.to_dict()
    for atom in flow:
        kept["atoms"][atom.uuid] = _atom(atom)


def _book(document: dict[str, Any]) -> tf_models.LogBook:
    book = tf_models.LogBook.from_dict(document["book"], unmarshal_time=True)
    for kept in document["flows"].values():
        flow = tf_models.FlowDetail.from_dict(kept["flow"])
        for atom in kept["atoms"].values():
            flow.add(tf_models.atom_detail_class(atom["type"]).from_dict(atom))
        book.add(flow)
    return book


def in_memory() -> Any:
    """TaskFlow's memory backend as TaskFlow's storage makes its own: without deep copies
    (the storage hands it copies already; deep-copying them again was most of its cost)."""
    return impl_memory.MemoryBackend({"deep_copy": False})


def backend(settings: WorkerSettings, db: Database, operation_id: str, token: int,
            claimed: str | Unread | None = UNREAD, memory: Any = None) -> Any:
    """Where the flow of `operation_id`, claimed under `token` (its row then holding the
    progress `claimed`), keeps its progress: that row, or (`[task_flow] persistence =
    memory`) the runner's `memory` backend."""
    if settings.taskflow_persistence == "memory":
        return memory if memory is not None else in_memory()
    return OperationProgress(db, operation_id, token, settings, claimed)
