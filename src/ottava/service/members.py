"""Members: create, update, delete one, and the batch update that sets a pool's members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.context import Caller
from ottava.domain.errors import Conflict, Invalid, NotFound
from ottava.domain.operations import Plan, Ref
from ottava.domain.states import Operating, Provisioning
from ottava.service import quotas
from ottava.service.base import (
    Change,
    Service,
    apply,
    lock_load_balancer,
    mark_pending,
    new_child,
    reload,
    require_mutable,
)
from ottava.service.pools import listeners_of_pool


class MemberService(Service):
    def pool(self, session: Session, caller: Caller, pool_id: str) -> m.Pool:
        return repo.get(session, m.Pool, pool_id, "Pool")

    def get(self, caller: Caller, pool_id: str, ident: str) -> repo.Record:
        with self.db.reader() as s:
            self.pool(s, caller, pool_id)
            member = repo.get_record(s, m.Member, ident, "Member", parent=("pool_id", pool_id))
            return member

    def build(self, pool: m.Pool, values: dict[str, Any], monitored: bool) -> m.Member:
        """A new member of `pool`, checked; the caller checks for duplicates.

        A member of a pool with a health monitor starts OFFLINE, else NO_MONITOR."""
        values = dict(values)
        self.check_address(values["address"])
        if values.get("monitor_address") is not None:
            self.check_address(values["monitor_address"])
        if values.pop("request_sriov", False):
            raise Invalid("Validation failure: The load balancer flavor does not allow SR-IOV "
                          "member ports.")
        if values.get("subnet_id") and self.deps.network.find_subnet(values["subnet_id"]) is None:
            raise Invalid(f"Subnet {values['subnet_id']} not found.")
        return new_child(m.Member, values, pool,
                         Operating.OFFLINE if monitored else Operating.NO_MONITOR, pool_id=pool.id)

    def check_address(self, address: str) -> None:
        if address in self.conf.networking.reserved_ips:
            raise Invalid(f"The requested member address {address} is reserved.")

    def _parents(self, change: Change, pool: m.Pool) -> list[Ref]:
        """The pool and its listeners, to lock with the load balancer; 409 unless pool ACTIVE."""
        require_mutable(pool, "Pool")
        return [("listener", i) for i in listeners_of_pool(change.session, pool.id)] + [
            ("pool", pool.id)]

    def create(self, caller: Caller, pool_id: str, values: dict[str, Any]) -> m.Member:
        with self.change() as change:
            s = change.session
            pool = self._pool_with_monitor(s, caller, pool_id)
            quotas.enforce(s, self.db, self.conf, pool.project_id, {"member": 1})
            member = self.build(pool, values, pool.health_monitor is not None)
            self._check_unique(s, pool_id, member.address, member.protocol_port)
            parents = self._parents(change, pool)
            s.add(member)
            s.flush()
            self.child_change(change, "member.create", pool.load_balancer_id,
                              ("member", member.id), parents)
            return reload(s, m.Member, member.id)

    def _pool_with_monitor(self, s: Session, caller: Caller, pool_id: str) -> m.Pool:
        pool = s.scalars(
            select(m.Pool).where(m.Pool.id == pool_id)
            .options(*repo.loads.for_render(m.Pool))
        ).one_or_none()
        if pool is None:
            raise NotFound("Pool", pool_id)
        return pool

    def _check_unique(self, s: Session, pool_id: str, address: str, port: int) -> None:
        clash = s.scalar(select(m.Member.id).where(
            m.Member.pool_id == pool_id, m.Member.address == address,
            m.Member.protocol_port == port))
        if clash is not None:
            raise Conflict(f"Another member on this pool is already using ip {address} on "
                           f"protocol_port {port}")

    def update(self, caller: Caller, pool_id: str, ident: str, values: dict[str, Any]
               ) -> m.Member:
        with self.change() as change:
            s = change.session
            pool = self.pool(s, caller, pool_id)
            member = repo.get(s, m.Member, ident, "Member",
                              parent=("pool_id", pool_id))
            if values.get("monitor_address") is not None:
                self.check_address(values["monitor_address"])
            parents = self._parents(change, pool)
            self.child_change(change, "member.update", pool.load_balancer_id,
                              ("member", ident), parents)
            apply(member, values)
            return reload(s, m.Member, ident)

    def delete(self, caller: Caller, pool_id: str, ident: str) -> None:
        with self.change() as change:
            s = change.session
            pool = self.pool(s, caller, pool_id)
            repo.get(s, m.Member, ident, "Member",
                              parent=("pool_id", pool_id))
            parents = self._parents(change, pool)
            self.child_change(change, "member.delete", pool.load_balancer_id,
                              ("member", ident), parents)

    def batch(self, caller: Caller, pool_id: str, wanted: list[dict[str, Any]],
              additive_only: bool) -> None:
        """Make the pool's members what `wanted` says, matched on (address, protocol_port)."""
        keys = [(w["address"], w["protocol_port"]) for w in wanted]
        duplicates = {k for k in keys if keys.count(k) > 1}
        if duplicates:
            address, port = sorted(duplicates)[0]
            raise Invalid(f"Validation failure: Member {address}:{port} appears more than once "
                          "in the request.")
        with self.change() as change:
            s = change.session
            pool = self._pool_with_monitor(s, caller, pool_id)
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
            quotas.enforce(s, self.db, self.conf, pool.project_id, {"member": len(creates)})
            parents = self._parents(change, pool)
            lock_load_balancer(s, pool.load_balancer_id)
            mark_pending(s, parents)
            monitored = pool.health_monitor is not None
            new_members = [self.build(pool, w, monitored) for w in creates]
            s.add_all(new_members)
            s.flush()
            mark_pending(s, [("member", mb.id) for mb, _ in changed_updates])
            for mb, w in changed_updates:
                apply(mb, {k: v for k, v in w.items() if k in UPDATABLE})
            mark_pending(s, [("member", mb.id) for mb in deletes], Provisioning.PENDING_DELETE)
            plan = Plan(
                kind="member.batch",
                load_balancer_id=pool.load_balancer_id,
                activate=[("member", mb.id) for mb in new_members]
                + [("member", mb.id) for mb, _ in changed_updates],
                remove=[("member", mb.id) for mb in deletes],
                unlock=[("loadbalancer", pool.load_balancer_id), *parents],
            )
            change.submit(plan, pool_id)


UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port",
             "tags")


def _differs(member: m.Member, wanted: dict[str, Any]) -> bool:
    return any(name in wanted and getattr(member, name) != wanted[name] for name in UPDATABLE
               if name != "tags") or ("tags" in wanted and list(member.tags) != wanted["tags"])
