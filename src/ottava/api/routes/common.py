"""What every collection route shares: body parsing, the caller and its policy checks, list
and show, writes.

Every handler asks the policy before it acts, as Octavia's controllers do: the rule
`os_load-balancer_api:<rbac>:<action>` against the project that owns the object (for a
create, the project it will belong to). An object that does not exist is a 404 before any
check; one of another project is refused with Octavia's 403.
"""

from __future__ import annotations

import json
from typing import Any

import falcon
from cheroot import errors as cheroot_errors

from ottava.api import fields as f
from ottava.api import listing, schemas, views
from ottava.api.policy import PREFIX, Policy
from ottava.domain.context import Caller
from ottava.domain.errors import Forbidden, Invalid
from ottava.settings import ApiSettings

PREFIXES = ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas")
DENIED = "Policy does not allow this request to be performed."


# Octavia's deepest body (a load balancer created with its whole tree) nests about a dozen
# levels; anything far deeper is an attack on the parser, not a request.
MAX_BODY_DEPTH = 32
# A chunked body's bytes with their size lines, to its content: at most 4 (1-byte chunks).
CHUNK_FRAMING_ROOM = 4


def read_body(req: falcon.Request, max_size: int) -> Any:
    """The request's JSON body, or a 400/413 in the fault format: too large, not JSON, nested
    too deep, or holding a NUL character. A chunked body is read as any other."""
    if req.content_length is not None and req.content_length > max_size:
        raise falcon.HTTPContentTooLarge(description=too_large(max_size))
    chunked = "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
    if chunked and getattr(req.stream, "maxlen", None) == 0:
        # cheroot's chunked reader takes in a whole declared chunk before handing any of it
        # over (a chunk declaring 2**64 bytes overflowed, one of 200 MiB was buffered whole):
        # given a bound, it refuses a chunk that would pass it. Its count includes the chunks'
        # size lines, hence the room.
        req.stream.maxlen = CHUNK_FRAMING_ROOM * max_size + 64  # type: ignore[attr-defined]
    try:
        raw = req.stream.read(max_size + 1) if chunked else req.bounded_stream.read()
    except (ValueError, OverflowError):  # a chunk whose size or framing is wrong
        raise Invalid("Invalid chunked request body") from None
    except (OSError, cheroot_errors.MaxSizeExceeded):  # a chunk beyond the reader's bound
        raise falcon.HTTPContentTooLarge(description=too_large(max_size)) from None
    if len(raw) > max_size:
        raise falcon.HTTPContentTooLarge(description=too_large(max_size))
    if not raw:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Invalid("Invalid JSON in request body") from None
    check_nesting_and_nul(body)
    return body


def too_large(max_size: int) -> str:
    return f"Request is too large. The body may hold at most {max_size} bytes."


def check_nesting_and_nul(body: Any) -> None:
    """Walks the parsed body without recursion: 400 if it nests deeper than MAX_BODY_DEPTH
    or any key or string holds NUL (which PostgreSQL cannot store)."""
    pending: list[tuple[Any, int]] = [(body, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_BODY_DEPTH:
            raise Invalid("Invalid JSON in request body: nested too deeply")
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise Invalid("NUL characters are not allowed in the request body")
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            raise Invalid("NUL characters are not allowed in the request body")


def caller(req: falcon.Request) -> Caller:
    caller_: Caller = req.context.caller
    return caller_


def selected_fields(req: falcon.Request) -> list[str] | None:
    return req.get_param_as_list("fields") or None


class Routes:
    """A collection's routes over its services; subclasses say which resource and how."""

    resource: f.Resource
    model: Any
    rbac: str  # the object in the policy rule names: loadbalancer, member, flavor-profile, …

    def __init__(self, services: Any, settings: ApiSettings, policy: Policy) -> None:
        self.services = services
        self.settings = settings
        self.policy = policy

    def body(self, req: falcon.Request) -> Any:
        """The request's JSON body (see `read_body`)."""
        return read_body(req, self.settings.max_request_body_size)

    def allowed(self, req: falcon.Request, action: str, project_id: str | None) -> bool:
        return self.policy.allows(f"{PREFIX}:{self.rbac}:{action}", project_id,
                                  req.context.creds)

    def authorize(self, req: falcon.Request, action: str, project_id: str | None = None,
                  own: bool = False) -> None:
        """403 unless the policy allows `action` on an object of `project_id` (`own`: of the
        caller's project, for objects that belong to no project)."""
        if own:
            project_id = caller(req).project_id
        if not self.allowed(req, action, project_id):
            raise Forbidden(DENIED)

    def list_scope(self, req: falcon.Request, query: Any, global_action: str = "get_all-global",
                   action: str = "get_all") -> None:
        """Limit a list to the caller's project unless the policy lets it read every project.

        A `project_id` filter naming another project is allowed only to global readers."""
        requested = query.filters.pop("project_id", None)
        if self.allowed(req, global_action, requested):
            query.project_id = requested
            return
        project = requested or caller(req).project_id
        if project is None:
            raise Forbidden(DENIED)
        self.authorize(req, action, project)
        query.project_id = project

    def owner(self, model: Any, title: str, ident: str) -> str | None:
        """The project of object `ident` (404 if there is none)."""
        project: str | None = self.services.reads.owner(model, title, ident)
        return project

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
            self.resource.links: listing.links(req, self.settings, query, page,
                                               self.resource.id_field),
        }

    def create_values(self, req: falcon.Request) -> dict[str, Any]:
        body = schemas.body_root(self.body(req), self.resource.key)
        parsed = schemas.validate(schemas.create_model(self.resource), body, self.resource.key)
        return schemas.for_create(self.resource, schemas.provided(parsed))

    def update_values(self, req: falcon.Request) -> dict[str, Any]:
        body = schemas.body_root(self.body(req), self.resource.key)
        parsed = schemas.validate(schemas.put_model(self.resource), body, self.resource.key)
        return schemas.for_update(self.resource, schemas.provided(parsed))


class StandardRoutes(Routes):
    """A top-level provisioned collection: list, create, show, update, delete."""

    title: str

    def service(self) -> Any:
        raise NotImplementedError

    def create_owner(self, values: dict[str, Any]) -> str | None:
        """The project a new object will belong to: its parent's (given in the body)."""
        raise NotImplementedError

    def write_options(self, req: falcon.Request) -> dict[str, Any]:
        """What the service's create and update take beyond the values (see the listener
        and pool routes: the caller's token, for the certificates they name)."""
        return {}

    def parent_owner(self, model: Any, ident: str | None) -> str | None:
        """The project of a parent named in a create body; None if there is no such parent
        (the service then answers as Octavia does, before anything is written)."""
        project: str | None = self.services.reads.find_owner(model, ident)[1]
        return project

    def check_owner(self, req: falcon.Request, action: str, ident: str) -> None:
        self.authorize(req, action, self.owner(self.model, self.title, ident))

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        query, fields = listing.parse(req, self.resource, self.model, self.settings, caller(req),
                                      scoped=False)
        self.list_scope(req, query)
        page = self.services.reads.list(self.model, query)
        self.send_page(req, resp, query, page, fields)

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        values = self.create_values(req)
        project = self.create_owner(values)
        if project is not None:
            self.authorize(req, "post", project)
        # With no parent found the service answers Octavia's 400/404 before writing anything.
        obj = self.service().create(values, **self.write_options(req))
        self.send_one(resp, obj, 201)

    def on_get(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        # One read: the object (404 if none) carries its project, which the policy checks.
        obj = self.services.reads.show(self.model, self.title, ident)
        self.authorize(req, "get_one", obj.project_id)
        self.send_one(resp, obj, fields=selected_fields(req))

    def on_put(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        values = self.update_values(req)
        self.check_owner(req, "put", ident)
        obj = self.service().update(ident, values, **self.write_options(req))
        self.send_one(resp, obj)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, ident: str) -> None:
        self.check_owner(req, "delete", ident)
        self.service().delete(ident)
        resp.status = 204

    def add_to(self, app: falcon.App) -> None:
        for prefix in PREFIXES:
            base = f"{prefix}/{self.resource.plural}"
            app.add_route(base, self, suffix="collection")
            app.add_route(base + "/{ident}", self)
