"""The OpenAPI 3.1 document of the API, built from the live router and the field tables.

Paths and methods come from Falcon's own route table; request bodies (wrapped in Octavia's
root key), responses, path and query parameters from the same field tables and pydantic
schemas that validate and render them, so the document cannot drift from the wire. A fuzzer
(schemathesis, `tests/functional/test_openapi_fuzz.py`) drives the API from it.
"""

from __future__ import annotations

import functools
import re
from typing import Any, get_args, get_origin

import falcon
import falcon.inspect
import pydantic
from pydantic import BaseModel, ConfigDict

from ottava.api import fields as f
from ottava.api import listing, schemas

REF = "#/components/schemas/{model}"
# The operations Octavia answers 202 (accepted, carried out later) rather than 200/204.
ACCEPTED = ("/failover", "/config", "/members", "/quotas/{project_id}")
PAGING_PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer"},
    "marker": {"type": "string"},
    "page_reverse": {"type": "boolean"},
    "sort": {"type": "string"},
    "sort_key": {"type": "string"},
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
    "fields": {"type": "string"},
}
TAG_PARAMETERS = tuple(listing.TAG_PARAMS)
ANYTHING: dict[str, Any] = {}  # a body this document does not describe further


def _success(path: str, method: str) -> str:
    if method == "POST":
        return "201"
    if path.endswith(ACCEPTED) and method in ("PUT", "DELETE"):
        return "202"
    if method == "DELETE":
        return "204"
    return "200"


def _body_model(path: str, method: str, resource: f.Resource | None) -> type[BaseModel] | None:
    if resource is None or resource is f.AMPHORA:
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


def _widened(kind: Any) -> Any:
    # The lists of related objects ({"id": …}) hold whole objects in a graph create's answer.
    if get_origin(kind) is list and get_origin(get_args(kind)[0]) is dict:
        return list[dict[str, Any]]
    return kind


@functools.cache
def response_model(resource: f.Resource) -> type[BaseModel]:
    """What a rendered object of `resource` holds: every readable field, each may be null
    (and a `fields=` selection may leave any out)."""
    definitions: dict[str, Any] = {
        fld.name: (_widened(fld.type) | None, None) for fld in resource.readable()}
    return pydantic.create_model(
        f"{resource.key.title().replace('_', '')}", __config__=ConfigDict(extra="allow"),
        **definitions)


class _Document:
    """Collects the component schemas while the operations are described."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, Any]:
        if model.__name__ not in self.components:
            schema = model.model_json_schema(ref_template=REF)
            self.components.update(schema.pop("$defs", {}))
            self.components[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}

    def wrapped(self, key: str, inner: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "properties": {key: inner}, "required": [key],
                "additionalProperties": False}

    def response(self, function: str, resource: f.Resource | None) -> dict[str, Any]:
        if resource is None:
            return ANYTHING
        one = self.ref(response_model(resource))
        if function == "on_get_collection":
            return {"type": "object", "properties": {
                resource.plural: {"type": "array", "items": one},
                resource.links: {"type": "array", "items": {"type": "object"}},
            }, "required": [resource.plural]}
        if function in ("on_get", "on_put", "on_post_collection"):
            return {"type": "object", "properties": {resource.key: one},
                    "required": [resource.key]}
        return ANYTHING


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)]


def _query_parameters(resource: f.Resource) -> list[dict[str, Any]]:
    out = [{"name": name, "in": "query", "required": False, "schema": schema}
           for name, schema in PAGING_PARAMETERS.items()]
    for name in resource.filters():
        out.append({"name": name, "in": "query", "required": False,
                    "schema": {"type": "string"}})
    if any(fld.name == "tags" for fld in resource.fields):
        out += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in TAG_PARAMETERS]
    return out


# Served beside Octavia's API but not part of it (Prometheus text, the dashboard's pages).
NOT_THE_API = ("/metrics", "/dashboard")


def build(app: falcon.App) -> dict[str, Any]:
    """The document for every route of `app`."""
    info = falcon.inspect.inspect_app(app)
    document = _Document()
    paths: dict[str, Any] = {}
    resources = {type(r).__name__: getattr(r, "resource", None) for r in _responders(app)}
    for route in info.routes:
        if route.path.startswith(NOT_THE_API):
            continue
        resource = resources.get(route.class_name)
        operations: dict[str, Any] = {}
        for method in route.methods:
            if method.internal or method.method == "OPTIONS":
                continue
            status = _success(route.path, method.method)
            success: dict[str, Any] = {"description": "Success"}
            # Only a quota's update answers its 202 with a body.
            if status == "200" or status == "201" or (
                    status == "202" and method.function_name == "on_put"):
                success["content"] = {"application/json": {
                    "schema": document.response(method.function_name, resource)}}
            op: dict[str, Any] = {
                "operationId": f"{method.method.lower()}:{route.path}",
                "parameters": _path_parameters(route.path),
                "responses": {
                    status: success,
                    "default": {"description": "Octavia fault",
                                "content": {"application/json": {"schema": {
                                    "$ref": REF.format(model="Fault")}}}},
                },
            }
            if method.function_name == "on_get_collection" and resource is not None:
                op["parameters"] += _query_parameters(resource)
            model = _body_model(route.path, method.method, resource)
            if model is not None and resource is not None:
                # The batch member update's model is its whole body already.
                body = (document.ref(model) if model is schemas.BatchMembers
                        else document.wrapped(resource.key, document.ref(model)))
                op["requestBody"] = {"required": True,
                                     "content": {"application/json": {"schema": body}}}
            operations[method.method.lower()] = op
        if operations:
            paths[route.path] = operations
    document.components["Fault"] = {
        "type": "object",
        "properties": {"faultcode": {"type": "string"}, "faultstring": {"type": "string"},
                       "debuginfo": {"type": ["string", "null"]}},
        "required": ["faultcode", "faultstring", "debuginfo"],
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Ottava load-balancer API (Octavia v2 compatible)", "version": "2.30"},
        "paths": paths,
        "components": {"schemas": document.components},
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
