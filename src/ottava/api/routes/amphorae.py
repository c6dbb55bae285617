"""/v2/octavia/amphorae: the admin view of amphorae, and their config, failover and delete.

Every action is an administrator's (Octavia's amphora rules), checked against the caller's
own project as Octavia does."""

from __future__ import annotations

import falcon

from ottava.api import fields as f
from ottava.api import listing
from ottava.api.routes.common import Routes, caller, selected_fields
from ottava.db import models as m


class AmphoraRoutes(Routes):
    resource, model, rbac = f.AMPHORA, m.Amphora, "amphora"

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "get_all", own=True)
        query, fields = listing.parse(req, self.resource, self.model, self.settings, caller(req),
                                      scoped=False)
        page = self.services.amphorae.list(query)
        self.send_page(req, resp, query, page, fields)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "get_one", own=True)
        self.send_one(resp, self.services.amphorae.get(ident), fields=selected_fields(req))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "delete", own=True)
        self.services.amphorae.delete(ident)
        resp.status = 204

    def on_get_stats(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "get_stats", own=True)
        resp.media = {"amphora_stats": self.services.amphorae.stats(ident)}

    def on_put_config(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "put_config", own=True)
        self.services.amphorae.configure(ident)
        resp.status = 202

    def on_put_failover(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "put_failover", own=True)
        self.services.amphorae.failover(ident)
        resp.status = 202

    def add_to(self, app: falcon.App) -> None:
        for prefix in ("/v2", "/v2.0"):
            base = f"{prefix}/octavia/amphorae"
            app.add_route(base, self, suffix="collection")
            app.add_route(base + "/{ident}", self)
            for action in ("stats", "config", "failover"):
                app.add_route(f"{base}/{{ident}}/{action}", self, suffix=action)
