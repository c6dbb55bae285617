"""Listeners: create, update, delete, stats; with Octavia's protocol, port and TLS rules."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.lifecycles import Operating
from ottava.domain.operations import Entity
from ottava.service import tls
from ottava.service.base import new_child
from ottava.service.children import ChildService, Scope

TLS_REFS = ("default_tls_container_ref", "sni_container_refs", "client_ca_tls_container_ref",
            "client_crl_container_ref")


class ListenerService(ChildService):
    entity, model, title, quota = Entity.LISTENER, m.Listener, "Listener", "listener"

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.LoadBalancer:
        return repo.get(session, m.LoadBalancer, values["loadbalancer_id"], "Load Balancer")

    def new(self, session: Session, parent: m.LoadBalancer, values: dict[str, Any]
            ) -> m.Listener:
        listener = self.build(parent, values)
        self.check_port_free(session, parent.id, listener)
        # Before the INSERT: an unknown pool is the caller's mistake, not a broken key.
        if listener.default_pool_id:
            self.check_default_pool(session, parent.id, listener, listener.default_pool_id)
        return listener

    def scope(self, session: Session, obj: m.Listener) -> Scope:
        return Scope(obj.load_balancer_id)

    def check_outside(self, values: dict[str, Any], ident: str | None, token: str | None
                      ) -> None:
        if not any(values.get(name) for name in tls.LISTENER_REFERENCES):
            return
        with self.db.reader() as session:
            if ident is None:
                current = None
                project_id = session.scalar(select(m.LoadBalancer.project_id).where(
                    m.LoadBalancer.id == values.get("loadbalancer_id")))
            else:
                current = session.get(m.Listener, ident)
                project_id = current.project_id if current else None
            if project_id is None:
                return  # no such listener or load balancer: the transaction answers 404
            tls.check_references(self.deps.certificates, tls.LISTENER_REFERENCES, values,
                                 current, project_id, token)

    def build(self, lb: m.LoadBalancer, values: dict[str, Any]) -> m.Listener:
        """A new listener on `lb` from create values, checked and with defaults filled in."""
        values = dict(values)
        self.check(values, lb, creating=True)
        protocol = values["protocol"]
        for name, default in self.settings.listener_timeouts.as_fields().items():
            if values.get(name) is None:
                values[name] = default
        tls = self.settings.tls
        if protocol == "TERMINATED_HTTPS" or (
            protocol == "PROMETHEUS" and values.get("default_tls_container_ref")
        ):
            values["tls_ciphers"] = values.get("tls_ciphers") or tls.listener_ciphers
            values["tls_versions"] = values.get("tls_versions") or list(tls.listener_versions)
            values["alpn_protocols"] = values.get("alpn_protocols") or list(tls.listener_alpn)
        values["allowed_cidrs"] = values.get("allowed_cidrs") or []
        return new_child(m.Listener, values, lb, Operating.OFFLINE, load_balancer_id=lb.id)

    def check(self, values: dict[str, Any], lb: m.LoadBalancer, creating: bool,
              current: m.Listener | None = None) -> None:
        """The listener rules that need no other listener: protocol, TLS, headers, CIDRs."""
        settings = self.settings

        def merged(name: str) -> Any:
            if name in values:
                return values[name]
            return getattr(current, name) if current is not None else None

        protocol = merged("protocol")
        if protocol == "TERMINATED_HTTPS" and not settings.allow_tls_terminated_listeners:
            raise Invalid("The selected protocol is not allowed in this deployment: "
                          "TERMINATED_HTTPS")
        if protocol == "PROMETHEUS" and not settings.allow_prometheus_listeners:
            raise Invalid("The selected protocol is not allowed in this deployment: PROMETHEUS")
        has_cert = merged("default_tls_container_ref") or merged("sni_container_refs")
        if protocol == "TERMINATED_HTTPS" and not has_cert:
            raise Invalid("An SNI or default certificate container reference must be provided "
                          "for TERMINATED_HTTPS listeners.")
        if protocol not in ("TERMINATED_HTTPS", "PROMETHEUS"):
            given = [name for name in TLS_REFS if values.get(name)]
            if given:
                raise Invalid("Certificate container references are only allowed on "
                              "TERMINATED_HTTPS or PROMETHEUS protocol listeners.")
            for name in ("tls_ciphers", "tls_versions", "alpn_protocols"):
                if values.get(name):
                    raise Invalid(f"Validation failure: {name} is only valid for TLS "
                                  "terminated listeners.")
        if protocol != "TERMINATED_HTTPS":
            for name in ("hsts_max_age", "hsts_include_subdomains", "hsts_preload"):
                if values.get(name):
                    raise Invalid("Validation failure: The HSTS feature can only be used for "
                                  "listeners using the TERMINATED_HTTPS protocol.")
        if (values.get("hsts_include_subdomains") or values.get("hsts_preload")) and merged(
                "hsts_max_age") is None:
            raise Invalid("Validation failure: hsts_max_age is required to enable "
                          "hsts_include_subdomains or hsts_preload.")
        client_auth = merged("client_authentication") or "NONE"
        if client_auth != "NONE" and not merged("client_ca_tls_container_ref"):
            raise Invalid("Validation failure: Client authentication setting "
                          f"{client_auth} requires a client CA container reference.")
        if merged("client_crl_container_ref") and not merged("client_ca_tls_container_ref"):
            raise Invalid("Validation failure: A client authentication CA reference is "
                          "required to specify a client authentication revocation list.")
        if merged("client_ca_tls_container_ref") and not has_cert:
            raise Invalid("Validation failure: An SNI or default certificate container "
                          "reference must be provided with a client CA container reference.")
        rules.check_insert_headers(values.get("insert_headers") or {}, protocol)
        rules.check_ciphers(values.get("tls_ciphers"), settings.tls.prohibited_ciphers)
        rules.check_tls_versions(values.get("tls_versions"), settings.tls.minimum_version)
        rules.check_alpn(values.get("alpn_protocols"))
        if protocol == "PROMETHEUS" and values.get("default_pool_id"):
            raise Invalid("Validation failure: PROMETHEUS listeners cannot have a default "
                          "pool.")
        cidrs = values.get("allowed_cidrs")
        if cidrs:
            if lb.vip_sg_ids:
                raise Invalid("Validation failure: Allowed CIDRs are not allowed when "
                              "vip_sg_ids are set.")
            families = {ipaddress.ip_address(a).version for a in vip_addresses(lb)}
            for cidr in cidrs:
                if families and ipaddress.ip_network(cidr).version not in families:
                    raise Invalid(f"Validation failure: CIDR {cidr} IP version incompatible "
                                  "with all VIPs IP version.")

    def check_port_free(self, session: Session, lb_id: str, listener: m.Listener) -> None:
        family = rules.l4_protocol(listener.protocol)
        others = session.execute(
            select(m.Listener.protocol).where(
                m.Listener.load_balancer_id == lb_id,
                m.Listener.protocol_port == listener.protocol_port,
                m.Listener.id != listener.id,
            )
        ).scalars()
        if any(rules.l4_protocol(p) == family for p in others):
            raise Conflict(
                f"Another Listener on this Load Balancer is already using protocol "
                f"{listener.protocol} and protocol_port {listener.protocol_port}"
            )

    def check_default_pool(self, session: Session, lb_id: str, listener: m.Listener,
                           pool_id: str) -> None:
        pool = session.get(m.Pool, pool_id)
        if pool is None or pool.load_balancer_id != lb_id:
            raise Invalid(f"Pool {pool_id} not found or not on this load balancer.")
        rules.check_pool_protocol(listener.protocol, pool.protocol)

    def check_update(self, session: Session, obj: m.Listener, values: dict[str, Any]) -> None:
        lb = session.get(m.LoadBalancer, obj.load_balancer_id)
        assert lb is not None
        self.check(values, lb, creating=False, current=obj)
        if values.get("default_pool_id"):
            self.check_default_pool(session, lb.id, obj, values["default_pool_id"])
        # A field set to null goes back to its default.
        for name, default in self.settings.listener_timeouts.as_fields().items():
            if name in values and values[name] is None:
                values[name] = default
        if obj.protocol == "TERMINATED_HTTPS":
            tls = self.settings.tls
            for name, value in (("tls_ciphers", tls.listener_ciphers),
                                ("tls_versions", list(tls.listener_versions)),
                                ("alpn_protocols", list(tls.listener_alpn))):
                if name in values and values[name] is None:
                    values[name] = value
        if "allowed_cidrs" in values:
            values["allowed_cidrs"] = values["allowed_cidrs"] or []

    def stats(self, ident: str) -> dict[str, int]:
        with self.db.reader() as session:
            repo.get(session, m.Listener, ident, "Listener")
            return listener_stats(session, [ident])


def vip_addresses(lb: m.LoadBalancer) -> list[str]:
    addresses = [lb.vip_address] if lb.vip_address else []
    return addresses + [v["ip_address"] for v in lb.additional_vips if v.get("ip_address")]


STAT_NAMES = m.STAT_COLUMNS  # the counters the stats API answers, in its order


def listener_stats(session: Session, listener_ids: list[str]) -> dict[str, int]:
    """Counters summed over listeners and their amphorae."""
    if not listener_ids:
        return dict.fromkeys(STAT_NAMES, 0)
    columns = [func.coalesce(func.sum(getattr(m.ListenerStatistics, n)), 0) for n in STAT_NAMES]
    row = session.execute(
        select(*columns).where(m.ListenerStatistics.listener_id.in_(listener_ids))
    ).one()
    return {name: int(v) for name, v in zip(STAT_NAMES, row, strict=True)}
