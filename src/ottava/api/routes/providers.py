"""/providers and their flavor and availability-zone capabilities (the capabilities are for
administrators, as in Octavia)."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api.policy import PREFIX
from ottava.api.routes.common import DENIED, PREFIXES, Routes, caller
from ottava.domain.errors import Forbidden, Invalid
from ottava.service.providers import capabilities


def _filtered(req: falcon.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for key in ("name", "description"):
        wanted = req.get_param(key)
        if wanted is not None:
            items = [i for i in items if i[key] == wanted]
    fields = req.get_param_as_list("fields")
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]
    return items


class ProviderRoutes(Routes):
    rbac = "provider"

    def enabled(self) -> dict[str, str]:
        return dict(self.settings.providers.enabled)

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "get_all", own=True)
        items = [{"name": n, "description": d} for n, d in self.enabled().items()]
        resp.media = {"providers": _filtered(req, items)}

    def _capabilities(self, req: falcon.Request, resp: falcon.Response, provider: str,
                      kind: str) -> None:
        rule = "provider-flavor" if kind == "flavor" else "provider-availability-zone"
        if not self.policy.allows(f"{PREFIX}:{rule}:get_all", caller(req).project_id,
                                  req.context.creds):
            raise Forbidden(DENIED)
        if provider not in self.enabled():
            raise Invalid(f"Provider '{provider}' is not enabled.")
        items = [{"name": n, "description": d} for n, (d, _) in capabilities(kind).items()]
        resp.media = {f"{kind}_capabilities": _filtered(req, items)}

    def on_get_flavor(self, req: falcon.Request, resp: falcon.Response, provider: str) -> None:
        self._capabilities(req, resp, provider, "flavor")

    def on_get_zone(self, req: falcon.Request, resp: falcon.Response, provider: str) -> None:
        self._capabilities(req, resp, provider, "availability_zone")

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/providers", self, suffix="collection")
            app.add_route(f"{prefix}/providers/{{provider}}/flavor_capabilities", self,
                          suffix="flavor")
            app.add_route(f"{prefix}/providers/{{provider}}/availability_zone_capabilities",
                          self, suffix="zone")
