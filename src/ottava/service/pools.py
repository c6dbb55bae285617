"""Pools: create (on a load balancer or as a listener's default), update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.context import Caller
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.states import Operating
from ottava.service import quotas
from ottava.service.base import Service, apply, new_child, reload


def listeners_of_pool(session: Session, pool_id: str) -> list[str]:
    """Listeners sending traffic to the pool: as default pool or through an L7 policy."""
    ids = list(session.scalars(select(m.Listener.id).where(m.Listener.default_pool_id == pool_id)))
    ids += [
        i for i in session.scalars(
            select(m.L7Policy.listener_id).where(m.L7Policy.redirect_pool_id == pool_id)
        ) if i not in ids
    ]
    return ids


class PoolService(Service):
    def create(self, caller: Caller, values: dict[str, Any]) -> m.Pool:
        with self.change() as change:
            s = change.session
            listener = None
            if values.get("listener_id"):
                listener = repo.get(s, m.Listener, values["listener_id"], "Listener")
                lb_id = listener.load_balancer_id
                if values.get("loadbalancer_id") and values["loadbalancer_id"] != lb_id:
                    raise Invalid("Validation failure: The listener is not on the given load "
                                  "balancer.")
            elif values.get("loadbalancer_id"):
                lb_id = values["loadbalancer_id"]
            else:
                raise Invalid("Validation failure: Either loadbalancer_id or listener_id must "
                              "be specified.")
            lb = repo.get(s, m.LoadBalancer, lb_id, "Load Balancer")
            quotas.enforce(s, self.db, self.conf, lb.project_id, {"pool": 1})
            pool = self.build(lb, values, listener.protocol if listener else None)
            s.add(pool)
            s.flush()
            parents = []
            if listener is not None:
                if listener.default_pool_id:
                    raise Conflict(f"Listener {listener.id} already has a default pool "
                                   f"{listener.default_pool_id}.")
                listener.default_pool_id = pool.id
                parents.append(("listener", listener.id))
            self.child_change(change, "pool.create", lb.id, ("pool", pool.id), parents)
            return reload(s, m.Pool, pool.id)

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
        api = self.conf.api_settings
        values["tls_ciphers"] = values.get("tls_ciphers") or api.default_pool_ciphers
        values["tls_versions"] = values.get("tls_versions") or list(api.default_pool_tls_versions)
        values["alpn_protocols"] = values.get("alpn_protocols") or list(
            api.default_pool_alpn_protocols)

    def check(self, values: dict[str, Any], protocol: str) -> None:
        api = self.conf.api_settings
        rules.check_session_persistence(values.get("session_persistence"), protocol)
        rules.check_ciphers(values.get("tls_ciphers"), api.tls_cipher_prohibit_list)
        rules.check_tls_versions(values.get("tls_versions"), api.minimum_tls_version)
        rules.check_alpn(values.get("alpn_protocols"))
        if values.get("crl_container_ref") and not values.get("ca_tls_container_ref"):
            raise Invalid("Validation failure: A CA reference is required to specify a "
                          "certificate revocation list.")

    def update(self, caller: Caller, ident: str, values: dict[str, Any]) -> m.Pool:
        with self.change() as change:
            s = change.session
            pool = repo.get(s, m.Pool, ident, "Pool")
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
            parents = [("listener", i) for i in listeners_of_pool(s, ident)]
            self.child_change(change, "pool.update", pool.load_balancer_id, ("pool", ident),
                              parents)
            apply(pool, values)
            return reload(s, m.Pool, ident)

    def delete(self, caller: Caller, ident: str) -> None:
        with self.change() as change:
            s = change.session
            pool = repo.get(s, m.Pool, ident, "Pool")
            policy = s.scalar(select(m.L7Policy.id).where(m.L7Policy.redirect_pool_id == ident))
            if policy is not None:
                raise Conflict(f"Pool {ident} is in use by L7 policy {policy}")
            parents = [("listener", i) for i in listeners_of_pool(s, ident)]
            self.child_change(change, "pool.delete", pool.load_balancer_id, ("pool", ident),
                              parents)
