"""Health monitors: one per pool; create, update, delete."""

from __future__ import annotations

from typing import Any

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.context import Caller
from ottava.domain.errors import Conflict, Invalid
from ottava.domain.operations import Ref
from ottava.domain.states import Operating
from ottava.service import quotas
from ottava.service.base import Service, apply, new_child, reload, require_mutable
from ottava.service.pools import listeners_of_pool


class HealthMonitorService(Service):
    def build(self, pool: m.Pool, values: dict[str, Any]) -> m.HealthMonitor:
        values = self.check(values, pool.protocol)
        return new_child(m.HealthMonitor, values, pool, Operating.OFFLINE, pool_id=pool.id)

    def check(self, values: dict[str, Any], pool_protocol: str) -> dict[str, Any]:
        api = self.conf.api_settings
        if values["type"] == "PING" and not api.allow_ping_health_monitors:
            raise Invalid("The selected health monitor type is not allowed in this deployment: "
                          "PING")
        if (values["type"] == "UDP-CONNECT"
                and values["delay"] < api.udp_connect_min_interval_health_monitor):
            raise Invalid("Validation failure: The request delay value "
                          f"{values['delay']} should be larger than "
                          f"{api.udp_connect_min_interval_health_monitor} for "
                          "UDP-CONNECT health monitor type.")
        return rules.check_monitor(values, pool_protocol)

    def _parents(self, session: Any, pool: m.Pool) -> list[Ref]:
        require_mutable(pool, "Pool")
        return [("listener", i) for i in listeners_of_pool(session, pool.id)] + [
            ("pool", pool.id)]

    def create(self, caller: Caller, values: dict[str, Any]) -> m.HealthMonitor:
        with self.change() as change:
            s = change.session
            pool = repo.get(s, m.Pool, values["pool_id"], "Pool", render=True)
            if pool.health_monitor is not None:
                raise Conflict("This pool already has a health monitor")
            quotas.enforce(s, self.db, self.conf, pool.project_id, {"health_monitor": 1})
            monitor = self.build(pool, values)
            parents = self._parents(s, pool)
            s.add(monitor)
            s.flush()
            self.child_change(change, "healthmonitor.create", pool.load_balancer_id,
                              ("healthmonitor", monitor.id), parents)
            return reload(s, m.HealthMonitor, monitor.id)

    def update(self, caller: Caller, ident: str, values: dict[str, Any]) -> m.HealthMonitor:
        with self.change() as change:
            s = change.session
            monitor = repo.get(s, m.HealthMonitor, ident, "Health Monitor")
            for name in ("delay", "timeout", "max_retries"):
                if name in values and values[name] is None:
                    raise Invalid(f"Invalid input for field/attribute {name}. Value: 'None'. "
                                  "Mandatory field missing.")
            pool = repo.get(s, m.Pool, monitor.pool_id, "Pool")
            current = {c: getattr(monitor, c) for c in (
                "type", "delay", "timeout", "max_retries", "http_method", "url_path",
                "expected_codes", "http_version", "domain_name")}
            http = monitor.type in ("HTTP", "HTTPS")
            merged = {**current, **{k: v for k, v in values.items() if k in current}}
            if http:
                for name in ("http_method", "url_path", "expected_codes"):
                    if name in values and values[name] is None:
                        merged[name] = None  # back to the HTTP default
            checked = self.check(merged, pool.protocol)
            for name in ("http_method", "url_path", "expected_codes", "domain_name",
                         "http_version"):
                if name in values:
                    values[name] = checked[name]
            parents = self._parents(s, pool)
            self.child_change(change, "healthmonitor.update", pool.load_balancer_id,
                              ("healthmonitor", ident), parents)
            apply(monitor, values)
            return reload(s, m.HealthMonitor, ident)

    def delete(self, caller: Caller, ident: str) -> None:
        with self.change() as change:
            s = change.session
            monitor = repo.get(s, m.HealthMonitor, ident, "Health Monitor")
            pool = repo.get(s, m.Pool, monitor.pool_id, "Pool")
            parents = self._parents(s, pool)
            self.child_change(change, "healthmonitor.delete", pool.load_balancer_id,
                              ("healthmonitor", ident), parents)
