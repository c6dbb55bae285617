"""The OpenAPI 3 document of the API, built from the live router and the request schemas.

Paths and methods come from Falcon's own route table, request bodies from the pydantic
schemas that validate them, so the document cannot drift from what is served.
"""

from __future__ import annotations

from typing import Any

import falcon
import falcon.inspect
from pydantic import BaseModel

from ottava.api import schemas

SUCCESS = {"GET": "200", "POST": "201", "PUT": "200", "DELETE": "204"}
ACCEPTED = ("/failover", "/config", "/members", "/quotas/{project_id}")


def _body_model(path: str, method: str, resource: Any) -> type[BaseModel] | None:
    if resource is None:
        return None
    if method == "POST":
        if resource.key == "loadbalancer":
            return schemas.LoadBalancerGraph
        return schemas.create_model(resource)
    if method == "PUT" and path.endswith("/members"):
        return schemas.BatchMembers
    if method == "PUT" and path.endswith("}"):
        return schemas.put_model(resource)
    return None


def build(app: falcon.App) -> dict[str, Any]:
    """The document for every route of `app`."""
    info = falcon.inspect.inspect_app(app)
    components: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    resources = {type(r).__name__: getattr(r, "resource", None) for r in _responders(app)}
    for route in info.routes:
        operations: dict[str, Any] = {}
        for method in route.methods:
            if method.internal or method.method in ("OPTIONS",):
                continue
            status = SUCCESS.get(method.method, "200")
            if method.method == "PUT" and route.path.endswith(ACCEPTED):
                status = "202"
            op: dict[str, Any] = {
                "operationId": f"{method.method.lower()}:{route.path}",
                "responses": {
                    status: {"description": "Success"},
                    "default": {"description": "Octavia fault",
                                "content": {"application/json": {"schema": {
                                    "$ref": "#/components/schemas/Fault"}}}},
                },
            }
            model = _body_model(route.path, method.method, resources.get(route.class_name))
            if model is not None:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(schema.pop("$defs", {}))
                components[model.__name__] = schema
                op["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}
            operations[method.method.lower()] = op
        if operations:
            paths[route.path] = operations
    components["Fault"] = {
        "type": "object",
        "properties": {"faultcode": {"type": "string"}, "faultstring": {"type": "string"},
                       "debuginfo": {"type": ["string", "null"]}},
        "required": ["faultcode", "faultstring", "debuginfo"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ottava load-balancer API (Octavia v2 compatible)", "version": "2.30"},
        "paths": paths,
        "components": {"schemas": components},
    }


def _responders(app: falcon.App) -> list[Any]:
    found: list[Any] = []

    def walk(nodes: list[Any]) -> None:
        for node in nodes:
            if node.resource is not None and node.resource not in found:
                found.append(node.resource)
            walk(node.children)

    walk(app._router._roots)
    return found


class OpenAPIDocument:
    def __init__(self, app: falcon.App) -> None:
        self.app = app
        self._document: dict[str, Any] | None = None

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._document is None:
            self._document = build(self.app)
        resp.media = self._document
