"""Reads shared by the provisioned resources: show one, list a page."""

from __future__ import annotations

from typing import Any

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.context import Caller
from ottava.domain.query import ListQuery, Page
from ottava.service.base import Service


class ReadService(Service):
    def show(self, caller: Caller, model: Any, title: str, ident: str) -> Any:
        with self.db.reader() as s:
            return repo.get_record(s, model, ident, title, project_id=caller.project_scope())

    def list(self, model: Any, query: ListQuery, where: list[Any] | None = None) -> Page:
        with self.db.reader() as s:
            return repo.list_page(s, model, query, where)

    def members(self, caller: Caller, pool_id: str, query: ListQuery) -> Page:
        with self.db.reader() as s:
            repo.get(s, m.Pool, pool_id, "Pool", project_id=caller.project_scope())
            query.filters.pop("pool_id", None)
            return repo.list_page(s, m.Member, query, [m.Member.pool_id == pool_id])

    def l7rules(self, caller: Caller, policy_id: str, query: ListQuery) -> Page:
        with self.db.reader() as s:
            repo.get(s, m.L7Policy, policy_id, "L7 Policy", project_id=caller.project_scope())
            return repo.list_page(s, m.L7Rule, query, [m.L7Rule.l7policy_id == policy_id])
