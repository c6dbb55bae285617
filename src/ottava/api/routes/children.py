"""/listeners, /pools, /healthmonitors, /l7policies: the plain provisioned collections."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import schemas
from ottava.api.routes.common import PREFIXES, StandardRoutes, caller
from ottava.db import models as m


class ListenerRoutes(StandardRoutes):
    resource, model, title = f.LISTENER, m.Listener, "Listener"

    def service(self) -> Any:
        return self.services.listeners

    def on_get_stats(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        resp.media = {"stats": self.service().stats(caller(req), ident)}

    def add_to(self, app: falcon.App) -> None:
        super().add_to(app)
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/listeners/{{ident}}/stats", self, suffix="stats")


class PoolRoutes(StandardRoutes):
    resource, model, title = f.POOL, m.Pool, "Pool"

    def service(self) -> Any:
        return self.services.pools


class HealthMonitorRoutes(StandardRoutes):
    resource, model, title = f.HEALTHMONITOR, m.HealthMonitor, "Health Monitor"

    def service(self) -> Any:
        return self.services.healthmonitors


class L7PolicyRoutes(StandardRoutes):
    resource, model, title = f.L7POLICY, m.L7Policy, "L7 Policy"

    def service(self) -> Any:
        return self.services.l7policies

    def create_values(self, req: falcon.Request) -> dict[str, Any]:
        values = super().create_values(req)
        values["rules"] = [schemas.for_create(f.L7RULE, r) for r in values.get("rules") or []]
        return values
