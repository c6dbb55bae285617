"""Members: create, update, delete one, and the batch update that sets a pool's members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import loads
from ottava.db import models as m
from ottava.domain.errors import Conflict, Invalid, NotFound
from ottava.domain.lifecycles import Operating, Provisioning
from ottava.domain.operations import Entity, OperationKind, Plan
from ottava.domain.ports.network import NetworkCatalog
from ottava.service import quotas
from ottava.service.base import (
    apply,
    lock_load_balancer,
    mark_pending,
    new_child,
    retry_deadlocks,
    unlock_refs,
)
from ottava.service.children import ChildService, Scope
from ottava.service.pools import pool_scope


class MemberService(ChildService):
    entity, model, title, quota = Entity.MEMBER, m.Member, "Member", "member"
    parent_key = "pool_id"

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.Pool:
        assert parent_id is not None
        pool = session.scalars(
            select(m.Pool).where(m.Pool.id == parent_id).options(*loads.for_render(m.Pool))
        ).one_or_none()
        if pool is None:
            raise NotFound("Pool", parent_id)
        return pool

    def new(self, session: Session, parent: m.Pool, values: dict[str, Any]) -> m.Member:
        member = self.build(parent, values, parent.health_monitor is not None)
        self.check_unique(session, parent.id, member.address, member.protocol_port)
        return member

    def scope(self, session: Session, obj: m.Member) -> Scope:
        pool = session.get(m.Pool, obj.pool_id)
        assert pool is not None
        return pool_scope(session, pool)

    def check_update(self, session: Session, obj: m.Member, values: dict[str, Any]) -> None:
        if values.get("monitor_address") is not None:
            self.check_address(values["monitor_address"])

    def check_outside(self, values: dict[str, Any], ident: str | None, token: str | None
                      ) -> None:
        if ident is None:  # a member's subnet is set at create only
            check_subnets(self.deps.catalog, [values], token)

    def build(self, pool: m.Pool, values: dict[str, Any], monitored: bool) -> m.Member:
        """A new member of `pool`, checked; the caller checks for duplicates and, before
        the transaction, the member's subnet (`check_subnets`).

        A member of a pool with a health monitor starts OFFLINE, else NO_MONITOR."""
        values = dict(values)
        self.check_address(values["address"])
        if values.get("monitor_address") is not None:
            self.check_address(values["monitor_address"])
        if values.pop("request_sriov", False):
            raise Invalid("Validation failure: The load balancer flavor does not allow SR-IOV "
                          "member ports.")
        return new_child(m.Member, values, pool,
                         Operating.OFFLINE if monitored else Operating.NO_MONITOR, pool_id=pool.id)

    def check_address(self, address: str) -> None:
        if address in self.settings.vip.reserved_ips:
            raise Invalid(f"The requested member address {address} is reserved.")

    def check_unique(self, s: Session, pool_id: str, address: str, port: int) -> None:
        clash = s.scalar(select(m.Member.id).where(
            m.Member.pool_id == pool_id, m.Member.address == address,
            m.Member.protocol_port == port))
        if clash is not None:
            raise Conflict(f"Another member on this pool is already using ip {address} on "
                           f"protocol_port {port}")

    @retry_deadlocks
    def batch(self, pool_id: str, wanted: list[dict[str, Any]], additive_only: bool,
              token: str | None = None) -> None:
        """Make the pool's members what `wanted` says, matched on (address, protocol_port);
        their subnets looked up as the caller (`token`)."""
        keys = [(w["address"], w["protocol_port"]) for w in wanted]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            address, port = sorted(duplicates)[0]
            raise Invalid(f"Validation failure: Member {address}:{port} appears more than once "
                          "in the request.")
        check_subnets(self.deps.catalog, wanted, token)
        with self.change() as change:
            s = change.session
            pool = self.parent(s, {}, pool_id)
            existing = {(mb.address, mb.protocol_port): mb for mb in s.scalars(
                select(m.Member).where(m.Member.pool_id == pool_id))}
            creates = [w for w in wanted if (w["address"], w["protocol_port"]) not in existing]
            updates = [(existing[(w["address"], w["protocol_port"])], w) for w in wanted
                       if (w["address"], w["protocol_port"]) in existing]
            deletes = [] if additive_only else [
                mb for key, mb in existing.items() if key not in set(keys)]
            changed_updates = [(mb, w) for mb, w in updates if _differs(mb, w)]
            if not creates and not deletes and not changed_updates:
                return
            # As Octavia: the new members must fit; the ones this batch deletes still count
            # until they are gone.
            quotas.enforce(s, self.db, self.settings.quotas, pool.project_id,
                           {"member": len(creates)})
            scope = pool_scope(s, pool)
            lock_load_balancer(s, scope.load_balancer_id)
            mark_pending(s, scope.parents)
            monitored = pool.health_monitor is not None
            new_members = [self.build(pool, w, monitored) for w in creates]
            s.add_all(new_members)
            s.flush()
            mark_pending(s, [(Entity.MEMBER, mb.id) for mb, _ in changed_updates])
            for mb, w in changed_updates:
                apply(mb, {k: v for k, v in w.items() if k in UPDATABLE})
            mark_pending(s, [(Entity.MEMBER, mb.id) for mb in deletes],
                         Provisioning.PENDING_DELETE)
            plan = Plan(
                kind=OperationKind.MEMBER_BATCH,
                load_balancer_id=scope.load_balancer_id,
                activate=tuple((Entity.MEMBER, mb.id) for mb in new_members)
                + tuple((Entity.MEMBER, mb.id) for mb, _ in changed_updates),
                remove=tuple((Entity.MEMBER, mb.id) for mb in deletes),
                unlock=unlock_refs(scope.load_balancer_id, scope.parents),
            )
            change.submit(plan, pool_id)


def check_subnets(catalog: NetworkCatalog, members: list[dict[str, Any]],
                  token: str | None = None) -> None:
    """Every subnet the members name exists for the caller (`token`): asked of the network
    before any transaction, and only when a member names one."""
    named = list(dict.fromkeys(v["subnet_id"] for v in members if v.get("subnet_id")))
    if not named:
        return
    seen = catalog.as_user(token)
    for subnet_id in named:
        if seen.find_subnet(subnet_id) is None:
            raise Invalid(f"Subnet {subnet_id} not found.")


UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port",
             "tags")


def _differs(member: m.Member, wanted: dict[str, Any]) -> bool:
    return any(name in wanted and getattr(member, name) != wanted[name] for name in UPDATABLE
               if name != "tags") or ("tags" in wanted and list(member.tags) != wanted["tags"])
