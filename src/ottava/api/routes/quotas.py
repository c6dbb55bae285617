"""/quotas: list custom quotas, show effective ones, set, reset, defaults."""

from __future__ import annotations

import falcon

from ottava.api import fields as f
from ottava.api import schemas, views
from ottava.api.routes.common import PREFIXES, Routes, caller, read_body
from ottava.domain.errors import Forbidden


class QuotaRoutes(Routes):
    resource = f.QUOTA

    def _show(self, project_id: str, fill: bool = True) -> dict[str, object]:
        service = self.services.quotas
        return views.render_quota(service.get(project_id), project_id, service.defaults(), fill)

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        who = caller(req)
        project = req.get_param("project_id")
        scope = who.project_scope()
        if scope is not None:
            if project is not None and project != scope:
                raise Forbidden("Policy does not allow this request to be performed.")
            project = scope
        service = self.services.quotas
        quotas = [views.render_quota(q, q.project_id, service.defaults(), False)
                  for q in service.list(project)]
        resp.media = {"quotas": quotas, "quotas_links": []}

    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        if project_id == "defaults":
            self.on_get_defaults(req, resp, project_id)
            return
        resp.media = {"quota": self._show(project_id)}

    def on_get_defaults(self, req: falcon.Request, resp: falcon.Response,
                        project_id: str = "") -> None:
        defaults = self.services.quotas.defaults()
        resp.media = {"quota": {name: defaults[column] for api_name, column in f.QUOTA_NAMES
                                for name in (api_name, column)}}

    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        body = schemas.body_root(read_body(req), "quota")
        parsed = schemas.validate(schemas.put_model(f.QUOTA), body, "quota")
        values = {}
        for name, value in schemas.provided(parsed).items():
            values[f.QUOTA.field(name).attr] = value
        self.services.quotas.update(project_id, values)
        resp.status = 202
        resp.media = {"quota": self._show(project_id)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        self.services.quotas.reset(project_id)
        resp.status = 202

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/quotas", self, suffix="collection")
            app.add_route(f"{prefix}/quotas/{{project_id}}", self)
            app.add_route(f"{prefix}/quotas/{{project_id}}/default", self, suffix="defaults")
