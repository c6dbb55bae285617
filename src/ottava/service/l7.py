"""L7 policies (ordered by position within a listener) and their rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.context import Caller
from ottava.domain.errors import Conflict, Invalid, NotImplementedByProvider
from ottava.domain.states import Operating
from ottava.service import quotas
from ottava.service.base import Service, apply, new_child, reload, require_mutable

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


class L7PolicyService(Service):
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

    def create(self, caller: Caller, values: dict[str, Any]) -> m.L7Policy:
        """A policy, with the rules given inline (if any) created and activated with it."""
        rules_in = values.pop("rules", None) or []
        if len(rules_in) > MAX_RULES_PER_POLICY:
            raise Conflict("Too many rules on the L7 policy")
        with self.change() as change:
            s = change.session
            listener = repo.get(s, m.Listener, values["listener_id"], "Listener")
            quotas.enforce(s, self.db, self.conf, listener.project_id,
                           {"l7policy": 1, "l7rule": len(rules_in)})
            position = values.pop("position", None)
            policy = self.build(listener, values)
            if policy.redirect_pool_id:
                self.check_redirect_pool(s, listener, policy.redirect_pool_id)
            policy.position = 0
            s.add(policy)
            s.flush()
            rules = [L7RuleService(self.deps).build(policy, r) for r in rules_in]
            s.add_all(rules)
            s.flush()
            renumber(s, listener.id, policy, position)
            self.child_change(change, "l7policy.create", listener.load_balancer_id,
                              ("l7policy", policy.id), [("listener", listener.id)],
                              also_created=[("l7rule", r.id) for r in rules])
            return reload(s, m.L7Policy, policy.id)

    def update(self, caller: Caller, ident: str, values: dict[str, Any]) -> m.L7Policy:
        with self.change() as change:
            s = change.session
            policy = repo.get(s, m.L7Policy, ident, "L7 Policy")
            listener = repo.get(s, m.Listener, policy.listener_id, "Listener")
            current = {n: getattr(policy, n) for n in (
                "action", "redirect_pool_id", "redirect_url", "redirect_prefix",
                "redirect_http_code")}
            position = values.pop("position", None)
            merged = rules.sanitize_l7policy(
                {k: v for k, v in values.items() if k in current}, current)
            if merged.get("redirect_pool_id") and merged["redirect_pool_id"] != \
                    current["redirect_pool_id"]:
                self.check_redirect_pool(s, listener, merged["redirect_pool_id"])
            self.child_change(change, "l7policy.update", listener.load_balancer_id,
                              ("l7policy", ident), [("listener", listener.id)])
            apply(policy, {**values, **merged})
            if position is not None:
                renumber(s, listener.id, policy, position)
            return reload(s, m.L7Policy, ident)

    def delete(self, caller: Caller, ident: str) -> None:
        with self.change() as change:
            s = change.session
            policy = repo.get(s, m.L7Policy, ident, "L7 Policy")
            self.child_change(change, "l7policy.delete",
                              repo.get(s, m.Listener, policy.listener_id, "Listener")
                              .load_balancer_id,
                              ("l7policy", ident), [("listener", policy.listener_id)])


class L7RuleService(Service):
    def policy(self, session: Session, caller: Caller, policy_id: str) -> m.L7Policy:
        return repo.get(session, m.L7Policy, policy_id, "L7 Policy")

    def build(self, policy: m.L7Policy, values: dict[str, Any]) -> m.L7Rule:
        values = rules.check_l7rule(values)
        return new_child(m.L7Rule, values, policy, Operating.OFFLINE, l7policy_id=policy.id)

    def get(self, caller: Caller, policy_id: str, ident: str) -> repo.Record:
        with self.db.reader() as s:
            self.policy(s, caller, policy_id)
            return repo.get_record(s, m.L7Rule, ident, "L7 Rule",
                                   parent=("l7policy_id", policy_id))

    def _lock(self, change: Any, policy: m.L7Policy, kind: str, rule_id: str) -> None:
        require_mutable(policy, "L7 Policy")
        listener = change.session.get(m.Listener, policy.listener_id)
        self.child_change(change, kind, listener.load_balancer_id, ("l7rule", rule_id),
                          [("listener", listener.id), ("l7policy", policy.id)])

    def create(self, caller: Caller, policy_id: str, values: dict[str, Any]) -> m.L7Rule:
        with self.change() as change:
            s = change.session
            policy = self.policy(s, caller, policy_id)
            count = s.scalar(select(func.count()).where(m.L7Rule.l7policy_id == policy_id))
            if (count or 0) >= MAX_RULES_PER_POLICY:
                raise Conflict(f"Too many rules on L7 policy {policy_id}")
            quotas.enforce(s, self.db, self.conf, policy.project_id, {"l7rule": 1})
            rule = self.build(policy, values)
            s.add(rule)
            s.flush()
            self._lock(change, policy, "l7rule.create", rule.id)
            return reload(s, m.L7Rule, rule.id)

    def update(self, caller: Caller, policy_id: str, ident: str, values: dict[str, Any]
               ) -> m.L7Rule:
        with self.change() as change:
            s = change.session
            policy = self.policy(s, caller, policy_id)
            rule = repo.get(s, m.L7Rule, ident, "L7 Rule",
                              parent=("l7policy_id", policy_id))
            current = {n: getattr(rule, n) for n in ("type", "compare_type", "key", "value")}
            checked = rules.check_l7rule({**current, **{k: v for k, v in values.items()
                                                         if k in current}})
            values.update({k: checked[k] for k in current if k in values or k == "key"})
            self._lock(change, policy, "l7rule.update", ident)
            apply(rule, values)
            return reload(s, m.L7Rule, ident)

    def delete(self, caller: Caller, policy_id: str, ident: str) -> None:
        with self.change() as change:
            s = change.session
            policy = self.policy(s, caller, policy_id)
            repo.get(s, m.L7Rule, ident, "L7 Rule",
                              parent=("l7policy_id", policy_id))
            self._lock(change, policy, "l7rule.delete", ident)
