"""Per-project quotas: show (with defaults), list, set, reset; and the check used at create."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.domain.errors import NotFound, QuotaExceeded
from ottava.service.base import Service

COLUMNS = ("load_balancer", "listener", "pool", "health_monitor", "member", "l7policy",
           "l7rule")
# Octavia's resource names in "Quota has been met for resources: <Name>".
TITLES = {"load_balancer": "Load Balancer", "listener": "Listener", "pool": "Pool",
          "health_monitor": "Health Monitor", "member": "Member", "l7policy": "L7 Policy",
          "l7rule": "L7 Rule"}


class QuotaService(Service):
    def defaults(self) -> dict[str, int]:
        q = self.conf.quotas
        return {c: getattr(q, f"default_{c}_quota") for c in COLUMNS}

    def get(self, project_id: str) -> m.Quota | None:
        with self.db.reader() as s:
            return s.get(m.Quota, project_id)

    def list(self, project_id: str | None) -> list[m.Quota]:
        with self.db.reader() as s:
            stmt = select(m.Quota).order_by(m.Quota.project_id)
            if project_id is not None:
                stmt = stmt.where(m.Quota.project_id == project_id)
            return list(s.scalars(stmt))

    def update(self, project_id: str, values: dict[str, Any]) -> m.Quota:
        with self.db.transaction() as s:
            quota = s.get(m.Quota, project_id, with_for_update=True)
            if quota is None:
                quota = m.Quota(project_id=project_id)
                s.add(quota)
            for name, value in values.items():
                setattr(quota, name, value)
            return quota

    def reset(self, project_id: str) -> None:
        with self.db.transaction() as s:
            quota = s.get(m.Quota, project_id)
            if quota is None:
                raise NotFound("Quota", project_id)
            s.delete(quota)

    def check(self, session: Session, project_id: str, wanted: dict[str, int],
              in_use: dict[str, int]) -> None:
        """Raise QuotaExceeded if adding `wanted` objects passes a limit."""
        quota = session.get(m.Quota, project_id)
        defaults = self.defaults()
        for column, count in wanted.items():
            if not count:
                continue
            limit = getattr(quota, column) if quota is not None else None
            limit = defaults[column] if limit is None else limit
            if limit != -1 and in_use.get(column, 0) + count > limit:
                raise QuotaExceeded(TITLES[column])
