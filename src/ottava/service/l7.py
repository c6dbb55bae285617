"""L7 policies (ordered by position within a listener) and their rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.errors import Conflict, Invalid, NotImplementedByProvider
from ottava.domain.lifecycles import Operating
from ottava.domain.operations import Entity, Ref
from ottava.service.base import new_child, require_mutable
from ottava.service.children import ChildService, Scope

MAX_RULES_PER_POLICY = 50


def renumber(session: Session, listener_id: str, moved: m.L7Policy | None = None,
             position: int | None = None, dropped: str | None = None) -> None:
    """Positions 1..N without gaps, with `moved` placed at `position` (shifting the rest)."""
    policies = [p for p in session.scalars(
        select(m.L7Policy).where(m.L7Policy.listener_id == listener_id)
        .order_by(m.L7Policy.position, m.L7Policy.created_at)
    ) if p.id != dropped and (moved is None or p.id != moved.id)]
    if moved is not None:
        index = len(policies) if position is None else min(position - 1, len(policies))
        policies.insert(index, moved)
    for number, policy in enumerate(policies, start=1):
        if policy.position != number:
            policy.position = number


class L7PolicyService(ChildService):
    entity, model, title, quota = Entity.L7POLICY, m.L7Policy, "L7 Policy", "l7policy"
    not_columns = ("position",)  # placed by renumber(), not copied

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.Listener:
        return repo.get(session, m.Listener, values["listener_id"], "Listener")

    def quota_use(self, values: dict[str, Any]) -> dict[str, int]:
        return {"l7policy": 1, "l7rule": len(values.get("rules") or [])}

    def create(self, values: dict[str, Any], parent_id: str | None = None,
               token: str | None = None) -> m.L7Policy:
        """A policy, with the rules given inline (if any) created and activated with it."""
        if len(values.get("rules") or []) > MAX_RULES_PER_POLICY:
            raise Conflict("Too many rules on the L7 policy")
        return super().create(values, parent_id, token)

    def new(self, session: Session, parent: m.Listener, values: dict[str, Any]) -> m.L7Policy:
        values = {k: v for k, v in values.items() if k not in ("rules", "position")}
        policy = self.build(parent, values)
        if policy.redirect_pool_id:
            self.check_redirect_pool(session, parent, policy.redirect_pool_id)
        policy.position = 0  # placed by renumber() once inserted
        return policy

    def after_insert(self, session: Session, obj: m.L7Policy, parent: m.Listener,
                     values: dict[str, Any]) -> list[Ref]:
        rules_ = [L7RuleService(self.deps).build(obj, r) for r in values.get("rules") or []]
        session.add_all(rules_)
        session.flush()
        renumber(session, parent.id, obj, values.get("position"))
        return [(Entity.L7RULE, r.id) for r in rules_]

    def scope(self, session: Session, obj: m.L7Policy) -> Scope:
        listener = repo.get(session, m.Listener, obj.listener_id, "Listener")
        return Scope(listener.load_balancer_id, ((Entity.LISTENER, listener.id),))

    def build(self, listener: m.Listener, values: dict[str, Any]) -> m.L7Policy:
        self.check_listener(listener)
        values = rules.sanitize_l7policy(values)
        return new_child(m.L7Policy, values, listener, Operating.OFFLINE,
                         listener_id=listener.id)

    @staticmethod
    def check_listener(listener: m.Listener) -> None:
        if listener.protocol == "PROMETHEUS":
            raise Invalid("Validation failure: L7 policies are not supported on PROMETHEUS "
                          "listeners.")
        if listener.protocol not in ("HTTP", "TERMINATED_HTTPS"):
            raise NotImplementedByProvider(
                "Provider 'amphora' does not support a requested option: L7 policies are "
                f"only supported on HTTP and TERMINATED_HTTPS listeners, not {listener.protocol}."
            )

    def check_redirect_pool(self, session: Session, listener: m.Listener, pool_id: str) -> None:
        pool = session.get(m.Pool, pool_id)
        if pool is None or pool.load_balancer_id != listener.load_balancer_id:
            raise Invalid(f"Pool {pool_id} not found or not on this load balancer.")
        rules.check_pool_protocol(listener.protocol, pool.protocol)

    def check_update(self, session: Session, obj: m.L7Policy, values: dict[str, Any]) -> None:
        listener = repo.get(session, m.Listener, obj.listener_id, "Listener")
        current = {n: getattr(obj, n) for n in (
            "action", "redirect_pool_id", "redirect_url", "redirect_prefix",
            "redirect_http_code")}
        merged = rules.sanitize_l7policy(
            {k: v for k, v in values.items() if k in current and k != "position"}, current)
        if merged.get("redirect_pool_id") and merged["redirect_pool_id"] != \
                current["redirect_pool_id"]:
            self.check_redirect_pool(session, listener, merged["redirect_pool_id"])
        values.update(merged)

    def after_update(self, session: Session, obj: m.L7Policy, values: dict[str, Any]) -> None:
        if values.get("position") is not None:
            renumber(session, obj.listener_id, obj, values["position"])


class L7RuleService(ChildService):
    entity, model, title, quota = Entity.L7RULE, m.L7Rule, "L7 Rule", "l7rule"
    parent_key = "l7policy_id"

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.L7Policy:
        assert parent_id is not None
        return repo.get(session, m.L7Policy, parent_id, "L7 Policy")

    def new(self, session: Session, parent: m.L7Policy, values: dict[str, Any]) -> m.L7Rule:
        count = session.scalar(select(func.count()).where(m.L7Rule.l7policy_id == parent.id))
        if (count or 0) >= MAX_RULES_PER_POLICY:
            raise Conflict(f"Too many rules on L7 policy {parent.id}")
        return self.build(parent, values)

    def build(self, policy: m.L7Policy, values: dict[str, Any]) -> m.L7Rule:
        values = rules.check_l7rule(values)
        return new_child(m.L7Rule, values, policy, Operating.OFFLINE, l7policy_id=policy.id)

    def scope(self, session: Session, obj: m.L7Rule) -> Scope:
        policy = repo.get(session, m.L7Policy, obj.l7policy_id, "L7 Policy")
        require_mutable(policy, "L7 Policy")
        listener = repo.get(session, m.Listener, policy.listener_id, "Listener")
        return Scope(listener.load_balancer_id,
                     ((Entity.LISTENER, listener.id), (Entity.L7POLICY, policy.id)))

    def check_update(self, session: Session, obj: m.L7Rule, values: dict[str, Any]) -> None:
        current = {n: getattr(obj, n) for n in ("type", "compare_type", "key", "value")}
        checked = rules.check_l7rule({**current, **{k: v for k, v in values.items()
                                                     if k in current}})
        values.update({k: checked[k] for k in current if k in values or k == "key"})
