"""/loadbalancers: CRUD with the fully populated create, cascade delete, stats, status, failover."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import graph, schemas, views
from ottava.api.routes.common import PREFIXES, StandardRoutes, caller
from ottava.db import models as m
from ottava.domain.errors import Invalid

MISSING_PROJECT = ("Missing project ID in request where one is required. An administrator "
                   "should check the keystone settings in the Ottava configuration.")


class LoadBalancerRoutes(StandardRoutes):
    resource, model, title = f.LOADBALANCER, m.LoadBalancer, "Load Balancer"
    rbac = "loadbalancer"

    def service(self) -> Any:
        return self.services.loadbalancers

    def write_options(self, req: falcon.Request) -> dict[str, Any]:
        return {"token": caller(req).token}  # the VIP's guards are looked up as the caller

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = schemas.body_root(self.body(req), "loadbalancer")
        parsed = schemas.validate(schemas.LoadBalancerGraph, body, "loadbalancer")
        values = graph.normalize(schemas.provided(parsed))
        is_graph = bool(values["listeners"] or values["pools"])
        # As Octavia: the body's project_id (or tenant_id), else the caller's; the policy
        # check against that project is what lets only administrators create for others.
        project = values.get("project_id") or values.get("tenant_id") or caller(req).project_id
        if not project:
            raise Invalid(MISSING_PROJECT)
        self.authorize(req, "post", project)
        values["project_id"] = project
        lb = self.service().create(values, token=caller(req).token)
        resp.status = 201
        resp.media = {"loadbalancer": render_graph(lb) if is_graph else self.render(lb)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        cascade = (req.get_param("cascade") or "").lower() == "true"
        self.check_owner(req, "delete", ident)
        self.service().delete(ident, cascade)
        resp.status = 204

    def on_get_stats(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.check_owner(req, "get_stats", ident)
        resp.media = {"stats": self.service().stats(ident)}

    def on_get_status(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.check_owner(req, "get_status", ident)
        lb = self.service().status_tree(ident)
        resp.media = {"statuses": views.status_tree(lb)}

    def on_put_failover(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.check_owner(req, "put_failover", ident)
        self.service().failover(ident)
        resp.status = 202

    def add_to(self, app: falcon.App) -> None:
        super().add_to(app)
        for prefix in PREFIXES:
            base = f"{prefix}/loadbalancers/{{ident}}"
            app.add_route(base + "/stats", self, suffix="stats")
            app.add_route(base + "/status", self, suffix="status")
            app.add_route(base + "/statuses", self, suffix="status")
            app.add_route(base + "/failover", self, suffix="failover")


def render_graph(lb: m.LoadBalancer) -> dict[str, Any]:
    """The create response of a fully populated load balancer: every object in full."""

    def pool(p: m.Pool) -> dict[str, Any]:
        out = views.render(f.POOL, p)
        out["members"] = [views.render(f.MEMBER, mb) for mb in p.members]
        out["healthmonitor"] = (views.render(f.HEALTHMONITOR, p.health_monitor)
                                if p.health_monitor else None)
        return out

    out = views.render(f.LOADBALANCER, lb)
    out["listeners"] = []
    for listener in lb.listeners:
        rendered = views.render(f.LISTENER, listener)
        rendered["l7policies"] = []
        for policy in listener.l7policies:
            p = views.render(f.L7POLICY, policy)
            p["rules"] = [views.render(f.L7RULE, r) for r in policy.rules]
            rendered["l7policies"].append(p)
        rendered["default_pool"] = pool(listener.default_pool) if listener.default_pool else None
        out["listeners"].append(rendered)
    out["pools"] = [pool(p) for p in lb.pools]
    return out
