"""What every collection route shares: body parsing, the caller, list and show, writes."""

from __future__ import annotations

import json
from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import listing, schemas, views
from ottava.domain.context import Caller
from ottava.domain.errors import Invalid

PREFIXES = ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas")


def read_body(req: falcon.Request) -> Any:
    raw = req.bounded_stream.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("Invalid JSON in request body") from None


def caller(req: falcon.Request) -> Caller:
    caller_: Caller = req.context.caller
    return caller_


def selected_fields(req: falcon.Request) -> list[str] | None:
    return req.get_param_as_list("fields") or None


class Routes:
    """A collection's routes over its services; subclasses say which resource and how."""

    resource: f.Resource
    model: Any

    def __init__(self, services: Any, conf: Any) -> None:
        self.services = services
        self.conf = conf

    def render(self, obj: Any, fields: list[str] | None = None) -> dict[str, Any]:
        return views.render(self.resource, obj, fields)

    def send_one(self, resp: falcon.Response, obj: Any, status: int = 200,
                 fields: list[str] | None = None) -> None:
        resp.status = status
        resp.media = {self.resource.key: self.render(obj, fields)}

    def send_page(self, req: falcon.Request, resp: falcon.Response, query: Any, page: Any,
                  fields: list[str] | None) -> None:
        resp.media = {
            self.resource.plural: [self.render(obj, fields) for obj in page.items],
            self.resource.links: listing.links(req, self.conf, query, page,
                                               self.resource.id_field),
        }

    def create_values(self, req: falcon.Request) -> dict[str, Any]:
        body = schemas.body_root(read_body(req), self.resource.key)
        parsed = schemas.validate(schemas.create_model(self.resource), body, self.resource.key)
        return schemas.for_create(self.resource, schemas.provided(parsed))

    def update_values(self, req: falcon.Request) -> dict[str, Any]:
        body = schemas.body_root(read_body(req), self.resource.key)
        parsed = schemas.validate(schemas.put_model(self.resource), body, self.resource.key)
        return schemas.for_update(self.resource, schemas.provided(parsed))


class StandardRoutes(Routes):
    """A top-level provisioned collection: list, create, show, update, delete."""

    title: str

    def service(self) -> Any:
        raise NotImplementedError

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        query, fields = listing.parse(req, self.resource, self.model, self.conf, caller(req))
        page = self.services.reads.list(self.model, query)
        self.send_page(req, resp, query, page, fields)

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        obj = self.service().create(caller(req), self.create_values(req))
        self.send_one(resp, obj, 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        obj = self.services.reads.show(caller(req), self.model, self.title, ident)
        self.send_one(resp, obj, fields=selected_fields(req))

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        obj = self.service().update(caller(req), ident, self.update_values(req))
        self.send_one(resp, obj)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.service().delete(caller(req), ident)
        resp.status = 204

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            base = f"{prefix}/{self.resource.plural}"
            app.add_route(base, self, suffix="collection")
            app.add_route(base + "/{ident}", self)
