"""/pools/{pool_id}/members (with the batch update) and /l7policies/{policy_id}/rules."""

from __future__ import annotations

from typing import Any

import falcon

from ottava.api import fields as f
from ottava.api import listing, schemas
from ottava.api.routes.common import PREFIXES, Routes, caller, selected_fields
from ottava.db import models as m


class NestedRoutes(Routes):
    """A collection that lives under a parent object: /<parents>/{ident}/<children>."""

    parents: str  # path segment of the parent collection
    children: str  # path segment of this collection
    service_name: str
    parent_model: Any
    parent_title: str

    def service(self) -> Any:
        return getattr(self.services, self.service_name)

    def check_parent(self, req: falcon.Request, action: str, ident: str) -> None:
        """The policy check of every request here: against the parent's project (404 if the
        parent does not exist), as Octavia checks members against their pool."""
        self.authorize(req, action, self.owner(self.parent_model, self.parent_title, ident))

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response,
                          ident: str) -> None:
        query, fields = listing.parse(req, self.resource, self.model, self.settings, caller(req),
                                      scoped=False)
        self.check_parent(req, "get_all", ident)
        page = getattr(self.services.reads, self.service_name)(ident, query)
        self.send_page(req, resp, query, page, fields)

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response,
                           ident: str) -> None:
        values = self.create_values(req)
        self.check_parent(req, "post", ident)
        obj = self.service().create(values, parent_id=ident, token=caller(req).token)
        self.send_one(resp, obj, 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str,
               child: str) -> None:
        self.check_parent(req, "get_one", ident)
        obj = self.service().get(ident, child)
        self.send_one(resp, obj, fields=selected_fields(req))

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str,
               child: str) -> None:
        values = self.update_values(req)
        self.check_parent(req, "put", ident)
        obj = self.service().update(child, values, parent_id=ident)
        self.send_one(resp, obj)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str,
                  child: str) -> None:
        self.check_parent(req, "delete", ident)
        self.service().delete(child, parent_id=ident)
        resp.status = 204

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            # Falcon needs one field name per path level: the parent is {ident} as in
            # /pools/{ident}, the child {child}.
            base = f"{prefix}/{self.parents}/{{ident}}/{self.children}"
            app.add_route(base, self, suffix="collection")
            app.add_route(base + "/{child}", self)


class MemberRoutes(NestedRoutes):
    resource, model, rbac = f.MEMBER, m.Member, "member"
    parent_model, parent_title = m.Pool, "Pool"
    parents, children, service_name = "pools", "members", "members"

    def on_put_collection(self, req: falcon.Request, resp: falcon.Response,
                          ident: str) -> None:
        """The batch update: the request lists the pool's members as they should be."""
        body = self.body(req)
        if not isinstance(body, dict) or set(body) != {"members"}:
            schemas.body_root(body, "members")
        parsed = schemas.validate(schemas.BatchMembers, body, "members")
        wanted = [schemas.for_create(f.MEMBER, schemas.provided(mb))
                  for mb in parsed.members]  # type: ignore[attr-defined]
        additive = (req.get_param("additive_only") or "").lower() == "true"
        self.check_parent(req, "put", ident)
        self.service().batch(ident, wanted, additive, token=caller(req).token)
        resp.status = 202


class L7RuleRoutes(NestedRoutes):
    resource, model, rbac = f.L7RULE, m.L7Rule, "l7rule"
    parent_model, parent_title = m.L7Policy, "L7 Policy"
    parents, children, service_name = "l7policies", "rules", "l7rules"
