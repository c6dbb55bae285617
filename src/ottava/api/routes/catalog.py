"""/flavors, /flavorprofiles, /availabilityzones, /availabilityzoneprofiles."""

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
        query, fields = listing.parse(req, self.resource, self.model, self.conf, caller(req),
                                      scoped=False)
        self.send_page(req, resp, query, self.service().list(query), fields)

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.send_one(resp, self.service().create(self.create_values(req)), 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.send_one(resp, self.service().get(ident), fields=selected_fields(req))

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.send_one(resp, self.service().update(ident, self.update_values(req)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.service().delete(ident)
        resp.status = 204

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            app.add_route(f"{prefix}/{self.path}", self, suffix="collection")
            app.add_route(f"{prefix}/{self.path}/{{ident}}", self)


class FlavorRoutes(CatalogRoutes):
    resource, model, path, service_name = f.FLAVOR, m.Flavor, "flavors", "flavors"


class FlavorProfileRoutes(CatalogRoutes):
    resource, model = f.FLAVORPROFILE, m.FlavorProfile
    path, service_name = "flavorprofiles", "flavorprofiles"


class AvailabilityZoneRoutes(CatalogRoutes):
    resource, model = f.AVAILABILITY_ZONE, m.AvailabilityZone
    path, service_name = "availabilityzones", "availability_zones"


class AvailabilityZoneProfileRoutes(CatalogRoutes):
    resource, model = f.AZPROFILE, m.AvailabilityZoneProfile
    path, service_name = "availabilityzoneprofiles", "availability_zone_profiles"
