"""Pools: create (on a load balancer or as a listener's default), update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.lifecycles import Operating
from ottava.domain.operations import Entity, Ref
from ottava.service import tls
from ottava.service.base import new_child, require_mutable
from ottava.service.children import ChildService, Scope


def listeners_of_pool(session: Session, pool_id: str) -> list[str]:
    """Listeners sending traffic to the pool: as default pool or through an L7 policy."""
    ids = list(session.scalars(select(m.Listener.id).where(m.Listener.default_pool_id == pool_id)))
    ids += [
        i for i in session.scalars(
            select(m.L7Policy.listener_id).where(m.L7Policy.redirect_pool_id == pool_id)
        ) if i not in ids
    ]
    return ids


def pool_scope(session: Session, pool: m.Pool) -> Scope:
    """What a change under `pool` locks: the pool and its listeners (409 unless the pool is
    ACTIVE)."""
    require_mutable(pool, "Pool")
    return Scope(pool.load_balancer_id, (
        *((Entity.LISTENER, i) for i in listeners_of_pool(session, pool.id)),
        (Entity.POOL, pool.id)))


class PoolService(ChildService):
    entity, model, title, quota = Entity.POOL, m.Pool, "Pool", "pool"

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.LoadBalancer:
        """The pool's load balancer: given, or the one of the listener it will serve."""
        if values.get("listener_id"):
            listener = repo.get(session, m.Listener, values["listener_id"], "Listener")
            lb_id = listener.load_balancer_id
            if values.get("loadbalancer_id") and values["loadbalancer_id"] != lb_id:
                raise Invalid("Validation failure: The listener is not on the given load "
                              "balancer.")
        elif values.get("loadbalancer_id"):
            lb_id = values["loadbalancer_id"]
        else:
            raise Invalid("Validation failure: Either loadbalancer_id or listener_id must "
                          "be specified.")
        return repo.get(session, m.LoadBalancer, lb_id, "Load Balancer")

    def new(self, session: Session, parent: m.LoadBalancer, values: dict[str, Any]) -> m.Pool:
        listener = session.get(m.Listener, values["listener_id"]) if values.get(
            "listener_id") else None
        return self.build(parent, values, listener.protocol if listener else None)

    def after_insert(self, session: Session, obj: m.Pool, parent: m.LoadBalancer,
                     values: dict[str, Any]) -> list[Ref]:
        """A pool created with a listener becomes its default pool."""
        if values.get("listener_id"):
            listener = session.get(m.Listener, values["listener_id"])
            assert listener is not None
            if listener.default_pool_id:
                raise Conflict(f"Listener {listener.id} already has a default pool "
                               f"{listener.default_pool_id}.")
            listener.default_pool_id = obj.id
        return []

    def check_outside(self, values: dict[str, Any], ident: str | None, token: str | None
                      ) -> None:
        if not any(values.get(name) for name in tls.POOL_REFERENCES):
            return
        with self.db.reader() as session:
            current = None
            if ident is not None:
                current = session.get(m.Pool, ident)
                if current is None:
                    return  # the transaction answers the 404
                project_id = current.project_id
            elif values.get("listener_id"):
                project_id = session.scalar(select(m.Listener.project_id).where(
                    m.Listener.id == values["listener_id"]))
            else:
                project_id = session.scalar(select(m.LoadBalancer.project_id).where(
                    m.LoadBalancer.id == values.get("loadbalancer_id")))
            if project_id is None:
                return  # no such listener or load balancer: the transaction answers 404
            tls.check_references(self.deps.certificates, tls.POOL_REFERENCES, values,
                                 current, project_id, token)

    def scope(self, session: Session, obj: m.Pool) -> Scope:
        return Scope(obj.load_balancer_id, tuple(
            (Entity.LISTENER, i) for i in listeners_of_pool(session, obj.id)))

    def build(self, lb: m.LoadBalancer, values: dict[str, Any],
              listener_protocol: str | None) -> m.Pool:
        values = dict(values)
        if listener_protocol is not None:
            rules.check_pool_protocol(listener_protocol, values["protocol"])
        self.check(values, values["protocol"])
        if values.get("tls_enabled"):
            self.tls_defaults(values)
        return new_child(m.Pool, values, lb, Operating.OFFLINE, load_balancer_id=lb.id)

    def tls_defaults(self, values: dict[str, Any]) -> None:
        tls = self.settings.tls
        values["tls_ciphers"] = values.get("tls_ciphers") or tls.pool_ciphers
        values["tls_versions"] = values.get("tls_versions") or list(tls.pool_versions)
        values["alpn_protocols"] = values.get("alpn_protocols") or list(tls.pool_alpn)

    def check(self, values: dict[str, Any], protocol: str) -> None:
        tls = self.settings.tls
        rules.check_datagram_algorithm(values.get("lb_algorithm"), protocol,
                                       self.settings.datagram_algorithms)
        rules.check_session_persistence(values.get("session_persistence"), protocol)
        rules.check_ciphers(values.get("tls_ciphers"), tls.prohibited_ciphers)
        rules.check_tls_versions(values.get("tls_versions"), tls.minimum_version)
        rules.check_alpn(values.get("alpn_protocols"))
        if values.get("crl_container_ref") and not values.get("ca_tls_container_ref"):
            raise Invalid("Validation failure: A CA reference is required to specify a "
                          "certificate revocation list.")

    def check_update(self, session: Session, obj: m.Pool, values: dict[str, Any]) -> None:
        pool = obj
        sp = values.get("session_persistence")
        if sp and "type" not in sp and pool.session_persistence:
            # A persistence update without a type keeps the stored type.
            values["session_persistence"] = {"type": pool.session_persistence["type"], **sp}
        self.check(values, pool.protocol)
        if values.get("crl_container_ref") is None and "ca_tls_container_ref" in values \
                and values["ca_tls_container_ref"] is None and pool.crl_container_ref:
            raise Invalid("Validation failure: The CA reference cannot be removed while a "
                          "certificate revocation list is set.")
        if values.get("tls_enabled") or (pool.tls_enabled and values.get("tls_enabled") is
                                         not False):
            for name in ("tls_ciphers", "tls_versions", "alpn_protocols"):
                if name in values and values[name] is None:
                    values.pop(name)
                    setattr(pool, name, None)
            merged = {n: getattr(pool, n) for n in ("tls_ciphers", "tls_versions",
                                                    "alpn_protocols")}
            merged.update({k: v for k, v in values.items() if k in merged})
            self.tls_defaults(merged)
            values.update(merged)

    def check_delete(self, session: Session, obj: m.Pool) -> None:
        policy = session.scalar(
            select(m.L7Policy.id).where(m.L7Policy.redirect_pool_id == obj.id))
        if policy is not None:
            raise Conflict(f"Pool {obj.id} is in use by L7 policy {policy}")
