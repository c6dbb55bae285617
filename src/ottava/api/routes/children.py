"""/listeners, /pools, /healthmonitors, /l7policies: the plain provisioned collections."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import schemas
from ottava.api.routes.common import PREFIXES, StandardRoutes, caller
from ottava.db import models as m


class ListenerRoutes(StandardRoutes):
    resource, model, title, rbac = f.LISTENER, m.Listener, "Listener", "listener"

    def service(self) -> Any:
        return self.services.listeners

    def write_options(self, req: falcon.Request) -> dict[str, Any]:
        return {"token": caller(req).token}  # TLS references are granted to Ottava with it

    def create_owner(self, values: dict[str, Any]) -> str | None:
        return self.parent_owner(m.LoadBalancer, values.get("loadbalancer_id"))

    def on_get_stats(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.check_owner(req, "get_stats", ident)
        resp.media = {"stats": self.service().stats(ident)}

    def add_to(self, app: falcon.App) -> None:
        super().add_to(app)
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/listeners/{{ident}}/stats", self, suffix="stats")


class PoolRoutes(StandardRoutes):
    resource, model, title, rbac = f.POOL, m.Pool, "Pool", "pool"

    def service(self) -> Any:
        return self.services.pools

    def write_options(self, req: falcon.Request) -> dict[str, Any]:
        return {"token": caller(req).token}  # TLS references are granted to Ottava with it

    def create_owner(self, values: dict[str, Any]) -> str | None:
        if values.get("listener_id"):
            return self.parent_owner(m.Listener, values["listener_id"])
        return self.parent_owner(m.LoadBalancer, values.get("loadbalancer_id"))


class HealthMonitorRoutes(StandardRoutes):
    resource, model, title = f.HEALTHMONITOR, m.HealthMonitor, "Health Monitor"
    rbac = "healthmonitor"

    def service(self) -> Any:
        return self.services.healthmonitors

    def create_owner(self, values: dict[str, Any]) -> str | None:
        return self.parent_owner(m.Pool, values.get("pool_id"))


class L7PolicyRoutes(StandardRoutes):
    resource, model, title, rbac = f.L7POLICY, m.L7Policy, "L7 Policy", "l7policy"

    def service(self) -> Any:
        return self.services.l7policies

    def create_owner(self, values: dict[str, Any]) -> str | None:
        return self.parent_owner(m.Listener, values.get("listener_id"))

    def create_values(self, req: falcon.Request) -> dict[str, Any]:
        values = super().create_values(req)
        values["rules"] = [schemas.for_create(f.L7RULE, r) for r in values.get("rules") or []]
        return values
