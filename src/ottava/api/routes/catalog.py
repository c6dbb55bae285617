"""/flavors, /flavorprofiles, /availabilityzones, /availabilityzoneprofiles.

These belong to no project; Octavia checks them against the caller's own project (flavors and
zones are readable by every load-balancer user, profiles and all writes are for admins)."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import listing
from ottava.api.routes.common import PREFIXES, Routes, caller, selected_fields
from ottava.db import models as m


class CatalogRoutes(Routes):
    path: str
    service_name: str

    def service(self) -> Any:
        return getattr(self.services, self.service_name)

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "get_all", own=True)
        query, fields = listing.parse(req, self.resource, self.model, self.settings, caller(req),
                                      scoped=False)
        self.send_page(req, resp, query, self.service().list(query), fields)

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = self.create_values(req)
        self.authorize(req, "post", own=True)
        self.send_one(resp, self.service().create(values), 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "get_one", own=True)
        self.send_one(resp, self.service().get(ident), fields=selected_fields(req))

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        values = self.update_values(req)
        self.authorize(req, "put", own=True)
        self.send_one(resp, self.service().update(ident, values))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.authorize(req, "delete", own=True)
        self.service().delete(ident)
        resp.status = 204

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/{self.path}", self, suffix="collection")
            app.add_route(f"{prefix}/{self.path}/{{ident}}", self)


class FlavorRoutes(CatalogRoutes):
    resource, model, path, service_name = f.FLAVOR, m.Flavor, "flavors", "flavors"
    rbac = "flavor"


class FlavorProfileRoutes(CatalogRoutes):
    resource, model = f.FLAVORPROFILE, m.FlavorProfile
    path, service_name, rbac = "flavorprofiles", "flavorprofiles", "flavor-profile"


class AvailabilityZoneRoutes(CatalogRoutes):
    resource, model = f.AVAILABILITY_ZONE, m.AvailabilityZone
    path, service_name, rbac = "availabilityzones", "availability_zones", "availability-zone"


class AvailabilityZoneProfileRoutes(CatalogRoutes):
    resource, model = f.AZPROFILE, m.AvailabilityZoneProfile
    path, service_name = "availabilityzoneprofiles", "availability_zone_profiles"
    rbac = "availability-zone-profile"
