"""Reads shared by the provisioned resources: show one, list a page, who owns an object; and
the dashboard's recent operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.errors import NotFound
from ottava.domain.lifecycles import Provisioning
from ottava.domain.query import ListQuery, Page
from ottava.service.base import Operations


class ReadService(Operations):
    def show(self, model: Any, title: str, ident: str) -> Any:
        # Who may read it was decided by the API's policy check against the owner.
        return self.db.read(lambda conn: repo.get_record(conn, model, ident, title))

    def list(self, model: Any, query: ListQuery, where: list[Any] | None = None) -> Page:
        return self.db.read(lambda conn: repo.list_page(conn, model, query, where))

    def find_owner(self, model: Any, ident: str | None) -> tuple[bool, str | None]:
        """(whether object `ident` exists, its project) — one narrow query."""
        if not ident:
            return False, None
        columns = [model.project_id]
        has_status = hasattr(model, "provisioning_status")
        if has_status:
            columns.append(model.provisioning_status)
        with self.db.reader() as s:
            row = s.execute(select(*columns).where(model.id == ident)).first()
        if row is None or (has_status and row[1] == Provisioning.DELETED):
            return False, None
        return True, row[0]

    def owner(self, model: Any, title: str, ident: str) -> str | None:
        """The project of object `ident`; NotFound (404) if it does not exist."""
        found, project = self.find_owner(model, ident)
        if not found:
            raise NotFound(title, ident)
        return project

    def members(self, pool_id: str, query: ListQuery) -> Page:
        with self.db.reader() as s:
            repo.get(s, m.Pool, pool_id, "Pool")
            query.filters.pop("pool_id", None)
            return repo.list_page(s, m.Member, query, [m.Member.pool_id == pool_id])

    def l7rules(self, policy_id: str, query: ListQuery) -> Page:
        with self.db.reader() as s:
            repo.get(s, m.L7Policy, policy_id, "L7 Policy")
            return repo.list_page(s, m.L7Rule, query, [m.L7Rule.l7policy_id == policy_id])

    def recent_operations(self, project_id: str | None, limit: int
                          ) -> Sequence[dict[str, Any]]:
        """The newest `limit` operations, newest first, with their load balancer's name and
        project; only those on load balancers of `project_id` unless it is None (a reader of
        every project). Operations on no load balancer (spare amphorae) have no project, so
        only readers of every project see them."""
        stmt = (select(m.Operation.id, m.Operation.kind, m.Operation.state,
                       m.Operation.target_id, m.Operation.load_balancer_id,
                       m.Operation.attempts, m.Operation.error, m.Operation.created_at,
                       m.Operation.updated_at, m.LoadBalancer.name.label("load_balancer_name"),
                       m.LoadBalancer.project_id)
                .outerjoin(m.LoadBalancer, m.LoadBalancer.id == m.Operation.load_balancer_id)
                .order_by(m.Operation.created_at.desc(), m.Operation.id.desc())
                .limit(limit))
        if project_id is not None:
            stmt = stmt.where(m.LoadBalancer.project_id == project_id)
        with self.db.reader() as s:
            return [dict(row._mapping) for row in s.execute(stmt)]
