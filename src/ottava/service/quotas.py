"""Per-project quotas: show (with defaults), list, set, reset; and their enforcement.

`enforce` runs first in the transaction that will write the new objects, before it writes
or locks anything else: it takes the project's quota row FOR UPDATE (creating it first, as
Octavia does, so there is always a row to lock), counts the project's objects of each kind
and raises QuotaExceeded if adding the new ones passes a limit. The whole request is counted
at once, so a fully populated create or a batch update either fits entirely or writes
nothing; the lock makes a second create of the same project wait for the first to commit,
so both cannot pass on the same count; taking it before any other row keeps the lock order
the same in every path (no deadlocks with the load balancer's compare-and-set).
`precheck` counts the same way without the lock or a write, before a load balancer create
asks the network for a VIP.

As in Octavia, objects count until they are removed (PENDING_DELETE included), `-1` is
unlimited, and nothing is enforced under auth_strategy = noauth, where every caller is an
administrator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exc, func, insert, select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.errors import Invalid, NotFound, QuotaExceeded
from ottava.domain.lifecycles import Provisioning
from ottava.service.base import Operations, retry_deadlocks
from ottava.settings import QuotaSettings

COLUMNS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy",
           "l7rule")
# Octavia's resource names in "Quota has been met for resources: <Name>".
TITLES = {"load_balancer": "Load Balancer", "listener": "Listener", "pool": "Pool",
          "health_monitor": "Health Monitor", "member": "Member", "l7policy": "L7 Policy",
          "l7rule": "L7 Rule"}
MODELS: dict[str, Any] = {
    "load_balancer": m.LoadBalancer, "listener": m.Listener, "pool": m.Pool,
    "health_monitor": m.HealthMonitor, "member": m.Member, "l7policy": m.L7Policy,
    "l7rule": m.L7Rule}


def enforce(session: Session, db: Database, settings: QuotaSettings, project_id: str | None,
            adding: Mapping[str, int]) -> None:
    """Raise QuotaExceeded if adding `adding` (count by quota column) objects to what the
    project has passes one of its limits. The first column over its limit, in COLUMNS
    order, is named."""
    wanted = _counted(settings, project_id, adding)
    if wanted:
        _check(db, settings.defaults, _locked_row(session, str(project_id)), str(project_id),
               adding, wanted)


def precheck(db: Database, settings: QuotaSettings, project_id: str | None,
             adding: Mapping[str, int]) -> None:
    """`enforce` without its lock or its write, before a create asks the network for
    anything: a project over its quota gets no VIP. The count under the lock, in the
    transaction that writes, is the one that holds."""
    wanted = _counted(settings, project_id, adding)
    if wanted:
        with db.reader() as s:
            quota = s.get(m.Quota, project_id)
        _check(db, settings.defaults, quota, str(project_id), adding, wanted)


def _counted(settings: QuotaSettings, project_id: str | None, adding: Mapping[str, int]
             ) -> list[str]:
    """The quota columns `adding` counts against (none when quotas are not enforced)."""
    if not settings.enforced:
        return []
    wanted = [c for c in COLUMNS if adding.get(c)]
    if wanted and not project_id:
        raise Invalid("Missing project ID in request where one is required.")
    return wanted


def _check(db: Database, defaults: Mapping[str, int], quota: m.Quota | None, project_id: str,
           adding: Mapping[str, int], wanted: list[str]) -> None:
    # Counted on a fresh connection, begun after the lock was granted: it sees every create
    # committed by the lock's previous holders, which this transaction's own snapshot may
    # not (MariaDB's REPEATABLE READ fixes it at the transaction's first read).
    with db.reader() as fresh:
        for column in wanted:
            limit = None if quota is None else getattr(quota, column)
            limit = defaults[column] if limit is None else limit
            if limit == -1:
                continue
            model = MODELS[column]
            used = fresh.scalar(select(func.count()).select_from(model).where(
                model.project_id == project_id,
                model.provisioning_status != Provisioning.DELETED))
            if (used or 0) + adding[column] > limit:
                raise QuotaExceeded(TITLES[column])


def _locked_row(session: Session, project_id: str) -> m.Quota:
    """The project's quota row, locked to the end of the transaction; created if missing."""
    if session.get(m.Quota, project_id) is None:
        try:
            with session.begin_nested():
                session.execute(insert(m.Quota).values(project_id=project_id))
        except exc.IntegrityError:
            pass  # a concurrent create made it first; lock theirs
    quota = session.scalars(select(m.Quota).where(m.Quota.project_id == project_id)
                            .with_for_update().execution_options(populate_existing=True)).one()
    return quota


class QuotaService(Operations):
    def defaults(self) -> dict[str, int]:
        return dict(self.settings.quotas.defaults)

    def get(self, project_id: str) -> m.Quota | None:
        with self.db.reader() as s:
            return s.get(m.Quota, project_id)

    def list(self, project_id: str | None) -> list[m.Quota]:
        with self.db.reader() as s:
            stmt = select(m.Quota).order_by(m.Quota.project_id)
            if project_id is not None:
                stmt = stmt.where(m.Quota.project_id == project_id)
            return list(s.scalars(stmt))

    @retry_deadlocks
    def update(self, project_id: str, values: dict[str, Any]) -> m.Quota:
        with self.db.transaction() as s:
            quota = s.get(m.Quota, project_id, with_for_update=True)
            if quota is None:
                quota = m.Quota(project_id=project_id)
                s.add(quota)
            for name, value in values.items():
                setattr(quota, name, value)
            return quota

    @retry_deadlocks
    def reset(self, project_id: str) -> None:
        with self.db.transaction() as s:
            # Locked: of concurrent resets one deletes it, the others then find none (404).
            quota = s.get(m.Quota, project_id, with_for_update=True)
            if quota is None:
                raise NotFound("Quota", project_id)
            s.delete(quota)
