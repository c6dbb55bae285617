"""Health monitors: one per pool; create, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.lifecycles import Operating
from ottava.domain.operations import Entity
from ottava.service.base import new_child
from ottava.service.children import ChildService, Scope
from ottava.service.pools import pool_scope


class HealthMonitorService(ChildService):
    entity, model, title = Entity.HEALTHMONITOR, m.HealthMonitor, "Health Monitor"
    quota = "health_monitor"

    def parent(self, session: Session, values: dict[str, Any], parent_id: str | None
               ) -> m.Pool:
        pool = repo.get(session, m.Pool, values["pool_id"], "Pool", render=True)
        if pool.health_monitor is not None:
            raise Conflict("This pool already has a health monitor")
        return pool

    def new(self, session: Session, parent: m.Pool, values: dict[str, Any]) -> m.HealthMonitor:
        return self.build(parent, values)

    def scope(self, session: Session, obj: m.HealthMonitor) -> Scope:
        pool = repo.get(session, m.Pool, obj.pool_id, "Pool")
        return pool_scope(session, pool)

    def build(self, pool: m.Pool, values: dict[str, Any]) -> m.HealthMonitor:
        values = self.check(values, pool.protocol)
        return new_child(m.HealthMonitor, values, pool, Operating.OFFLINE, pool_id=pool.id)

    def check(self, values: dict[str, Any], pool_protocol: str) -> dict[str, Any]:
        settings = self.settings
        if values["type"] == "PING" and not settings.allow_ping_health_monitors:
            raise Invalid("The selected health monitor type is not allowed in this deployment: "
                          "PING")
        if (values["type"] == "UDP-CONNECT"
                and values["delay"] < settings.udp_connect_min_interval):
            raise Invalid("Validation failure: The request delay value "
                          f"{values['delay']} should be larger than "
                          f"{settings.udp_connect_min_interval} for "
                          "UDP-CONNECT health monitor type.")
        return rules.check_monitor(values, pool_protocol)

    def check_update(self, session: Session, obj: m.HealthMonitor, values: dict[str, Any]
                     ) -> None:
        for name in ("delay", "timeout", "max_retries"):
            if name in values and values[name] is None:
                raise Invalid(f"Invalid input for field/attribute {name}. Value: 'None'. "
                              "Mandatory field missing.")
        pool = repo.get(session, m.Pool, obj.pool_id, "Pool")
        current = {c: getattr(obj, c) for c in (
            "type", "delay", "timeout", "max_retries", "http_method", "url_path",
            "expected_codes", "http_version", "domain_name")}
        merged = {**current, **{k: v for k, v in values.items() if k in current}}
        if obj.type in ("HTTP", "HTTPS"):
            for name in ("http_method", "url_path", "expected_codes"):
                if name in values and values[name] is None:
                    merged[name] = None  # back to the HTTP default
        checked = self.check(merged, pool.protocol)
        for name in ("http_method", "url_path", "expected_codes", "domain_name",
                     "http_version"):
            if name in values:
                values[name] = checked[name]
