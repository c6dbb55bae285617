"""/v2/octavia/amphorae: the admin view of amphorae, and their config, failover and delete."""

from __future__ import annotations

import falcon

from ottava.api import fields as f
from ottava.api import listing
from ottava.api.routes.common import Routes, caller, selected_fields
from ottava.db import models as m
from ottava.domain.errors import Forbidden


class AmphoraRoutes(Routes):
    resource, model = f.AMPHORA, m.Amphora

    def _admin(self, req: falcon.Request) -> None:
        if not caller(req).is_admin:
            raise Forbidden("Policy does not allow this request to be performed.")

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._admin(req)
        query, fields = listing.parse(req, self.resource, self.model, self.conf, caller(req),
                                      scoped=False)
        page = self.services.amphorae.list(query)
        self.send_page(req, resp, query, page, fields)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self._admin(req)
        self.send_one(resp, self.services.amphorae.get(ident), fields=selected_fields(req))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self._admin(req)
        self.services.amphorae.delete(ident)
        resp.status = 204

    def on_get_stats(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self._admin(req)
        resp.media = {"amphora_stats": self.services.amphorae.stats(ident)}

    def on_put_config(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self._admin(req)
        self.services.amphorae.configure(ident)
        resp.status = 202

    def on_put_failover(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self._admin(req)
        self.services.amphorae.failover(ident)
        resp.status = 202

    def add_to(self, app: falcon.App) -> None:
        for prefix in ("/v2", "/v2.0"):
            base = f"{prefix}/octavia/amphorae"
            app.add_route(base, self, suffix="collection")
            app.add_route(base + "/{ident}", self)
            for action in ("stats", "config", "failover"):
                app.add_route(f"{base}/{{ident}}/{action}", self, suffix=action)
