"""The reconciler: operations whose worker died are handed to a living one.

A RUNNING operation whose lease lapsed (its worker stopped renewing it: killed, frozen, cut
off from the database) is put back to QUEUED — a compare-and-set on the lease it had, so two
reconcilers never both take it — and cast again; the worker that claims it resumes the flow
from TaskFlow's logbook, or reverts it, so its objects end ACTIVE or ERROR, never PENDING_*.
A QUEUED operation older than a lease was never delivered (the cast was lost) and is cast
again; a duplicate cast is harmless, the claim lets only one worker run it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from oslo_log import log as logging
from sqlalchemy import func, select

from ottava.db import health
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.transitions import compare_and_set
from ottava.domain.lifecycles import OPERATION, OperationState

LOG = logging.getLogger(__name__)


class Reconciler:
    def __init__(self, db: Database, dispatch: Callable[[str], None], lease: float) -> None:
        self.db = db
        self.dispatch = dispatch
        self.lease = lease
        self.requeued = 0
        self.recast = 0

    def run_once(self) -> list[str]:
        """Requeue and cast what is orphaned; returns the operation ids cast."""
        now = health.now()
        with self.db.reader() as s:
            orphans = s.execute(select(m.Operation.id, m.Operation.lease_expires).where(
                m.Operation.state == OperationState.RUNNING,
                m.Operation.lease_expires < now)).all()
            undelivered = list(s.scalars(select(m.Operation.id).where(
                m.Operation.state == OperationState.QUEUED,
                func.coalesce(m.Operation.updated_at, m.Operation.created_at)
                < now - datetime.timedelta(seconds=self.lease))))
        cast = []
        for ident, lease in orphans:
            with self.db.transaction() as s:
                taken = compare_and_set(
                    s, OPERATION, m.Operation, ident, OperationState.QUEUED,
                    [OperationState.RUNNING], where=[m.Operation.lease_expires == lease],
                    worker=None, lease_expires=None)
            if taken:
                LOG.warning("Operation %s lost its worker (lease expired %s): running it "
                            "again", ident, lease)
                self.requeued += 1
                cast.append(ident)
        for ident in undelivered:
            with self.db.transaction() as s:
                # Touched (a compare-and-set), so it is cast again once per lease at most.
                touched = compare_and_set(s, OPERATION, m.Operation, ident,
                                          OperationState.QUEUED, [OperationState.QUEUED],
                                          updated_at=now)
            if not touched:
                continue
            LOG.info("Operation %s was queued over %.0f s ago: casting it again", ident,
                     self.lease)
            self.recast += 1
            cast.append(ident)
        for ident in cast:
            self.dispatch(ident)
        return cast
