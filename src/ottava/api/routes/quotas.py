"""/quotas: list custom quotas, show effective ones, set, reset, defaults.

Checked with Octavia's quota rules against the project named in the path (the list: the
caller's project unless it may read every project's quotas)."""

from __future__ import annotations

import falcon

from ottava.api import fields as f
from ottava.api import schemas, views
from ottava.api.context import check_project_id
from ottava.api.routes.common import DENIED, PREFIXES, Routes, caller
from ottava.domain.errors import Forbidden


class QuotaRoutes(Routes):
    resource, rbac = f.QUOTA, "quota"

    def _show(self, project_id: str, fill: bool = True) -> dict[str, object]:
        service = self.services.quotas
        return views.render_quota(service.get(project_id), project_id, service.defaults(), fill)

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        requested = req.get_param("project_id") or req.get_param("tenant_id")
        if self.allowed(req, "get_all-global", requested):
            project = requested
        else:
            project = requested or caller(req).project_id
            if project is None:
                raise Forbidden(DENIED)
            self.authorize(req, "get_all", project)
        service = self.services.quotas
        quotas = [views.render_quota(q, q.project_id, service.defaults(), False)
                  for q in service.list(project)]
        resp.media = {"quotas": quotas, "quotas_links": []}

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        if project_id == "defaults":
            self.on_get_defaults(req, resp, project_id)
            return
        check_project_id(project_id)  # the same rule as the caller's X-Project-Id
        self.authorize(req, "get_one", project_id)
        resp.media = {"quota": self._show(project_id)}

    def on_get_defaults(self, req: falcon.Request, resp: falcon.Response,
                        project_id: str = "") -> None:
        if project_id in ("", "defaults"):
            self.authorize(req, "get_defaults", own=True)
        else:
            self.authorize(req, "get_defaults", project_id)
        defaults = self.services.quotas.defaults()
        resp.media = {"quota": {name: defaults[column] for api_name, column in f.QUOTA_NAMES
                                for name in (api_name, column)}}

    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        check_project_id(project_id)  # the same rule as the caller's X-Project-Id
        body = schemas.body_root(self.body(req), "quota")
        parsed = schemas.validate(schemas.put_model(f.QUOTA), body, "quota")
        self.authorize(req, "put", project_id)
        values = {}
        for name, value in schemas.provided(parsed).items():
            values[f.QUOTA.field(name).attr] = value
        self.services.quotas.update(project_id, values)
        resp.status = 202
        resp.media = {"quota": self._show(project_id)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        check_project_id(project_id)  # the same rule as the caller's X-Project-Id
        self.authorize(req, "delete", project_id)
        self.services.quotas.reset(project_id)
        resp.status = 202

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/quotas", self, suffix="collection")
            app.add_route(f"{prefix}/quotas/{{project_id}}", self)
            app.add_route(f"{prefix}/quotas/{{project_id}}/default", self, suffix="defaults")
