"""Barbican's v1 key-manager API on Falcon, over the local store: version discovery, secrets
(with payloads), containers and their read ACLs, as python-barbicanclient, openstacksdk and
castellan use them.

Who may do what follows Barbican's default policy, simplified to three questions:

- read (metadata and payload of a secret, a container): an admin; anyone in the owning project
  unless its ACL turned project access off, then only the creator; any user the ACL lists.
- manage (put a payload, delete, read or change the ACL): an admin; anyone in the owning
  project unless project access is off, then only the creator. ACL users only read.
- everything else happens in the caller's own project: creating, and listing (admins
  included, as in Barbican; `acl_only=true` lists what ACLs share with the caller's user).

What a caller may not read answers 404, as if it did not exist; what it may read but not
manage answers 403. As in Barbican, a container's ACL does not reach the secrets it refers to:
a service user given a certificate container must be given each of its secrets too (Octavia
grants both), so a client that works here works against a real Barbican.

Barbican's unauthenticated mode makes every caller without X-Roles an admin; here nobody is
an admin without the `admin` role, so projects stay apart on a shared standalone.
"""

from __future__ import annotations

import dataclasses
import datetime
import http
import json
import logging
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

import falcon

from ottava.keymanager import bodies
from ottava.keymanager import store as storage
from ottava.keymanager.bodies import BINARY, BINARY_TYPES, TEXT, fail

LOG = logging.getLogger(__name__)

AuthStrategy = Literal["noauth", "keystone"]
DEFAULT_PROJECT = "ottava"  # Ottava's API default_project_id, for callers that name none

MAX_SECRET_BYTES = 20_000  # Barbican's max_allowed_secret_in_bytes
MAX_REQUEST_BYTES = 25_000  # Barbican's max_allowed_request_size_in_bytes
DEFAULT_PAGE, MAX_PAGE = 10, 100

MEDIA_TYPE = "application/vnd.openstack.key-manager-v1+json"


# --- errors --------------------------------------------------------------------------------


def _render_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError,
                  _params: Any) -> None:
    resp.status = ex.status
    resp.content_type = falcon.MEDIA_JSON
    title = http.HTTPStatus(ex.status_code).phrase  # "Not Found", as Barbican titles it
    resp.text = json.dumps({"code": ex.status_code, "title": title,
                            "description": ex.description or title})
    if ex.headers:  # e.g. Allow of a 405
        resp.set_headers(ex.headers)


def _render_crash(req: falcon.Request, resp: falcon.Response, ex: Exception,
                  params: Any) -> None:
    LOG.exception("Key manager request %s %s failed", req.method, req.path)
    _render_error(req, resp, falcon.HTTPError(
        falcon.HTTP_500, description="The key manager failed; see its log."), params)


# --- who is calling ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str | None
    is_admin: bool

    def owns(self, project_id: str, creator_id: str | None, acl: storage.ReadAcl | None
             ) -> bool:
        """Whether the caller manages what this project (and creator) own."""
        if self.is_admin:
            return True
        if self.project_id != project_id:
            return False
        private = acl is not None and not acl.project_access
        return not private or (creator_id is not None and creator_id == self.user_id)

    def reads(self, project_id: str, creator_id: str | None, acl: storage.ReadAcl | None
              ) -> bool:
        listed = acl is not None and self.user_id is not None and self.user_id in acl.users
        return listed or self.owns(project_id, creator_id, acl)


def caller_of(req: falcon.Request, auth_strategy: AuthStrategy) -> Caller:
    """The caller from keystonemiddleware's headers ("keystone", which must have confirmed the
    token) or from the client's own ("noauth": Barbican's unauthenticated mode)."""
    if auth_strategy == "keystone":
        if req.get_header("X-Identity-Status") != "Confirmed":
            fail(401, "Authentication required.")
        project_id = req.get_header("X-Project-Id")
        if not project_id:
            fail(401, "The token is not scoped to a project.")
    else:
        project_id = req.get_header("X-Project-Id") or DEFAULT_PROJECT
    roles = {r.strip().lower() for r in (req.get_header("X-Roles") or "").split(",")}
    return Caller(project_id=project_id, user_id=req.get_header("X-User-Id") or None,
                  is_admin="admin" in roles)


# --- request bodies ------------------------------------------------------------------------


# --- views ---------------------------------------------------------------------------------


def _time(value: datetime.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def secret_ref(base: str, secret_id: str) -> str:
    return f"{base}/v1/secrets/{secret_id}"


def container_ref(base: str, container_id: str) -> str:
    return f"{base}/v1/containers/{container_id}"


def secret_view(base: str, secret: storage.Secret) -> dict[str, Any]:
    view: dict[str, Any] = {
        "secret_ref": secret_ref(base, secret.id), "name": secret.name,
        "secret_type": secret.secret_type, "expiration": _time(secret.expiration),
        "algorithm": secret.algorithm, "bit_length": secret.bit_length, "mode": secret.mode,
        "creator_id": secret.creator_id, "status": "ACTIVE", "created": _time(secret.created),
        "updated": _time(secret.updated)}
    if secret.content_type:
        view["content_types"] = {"default": secret.content_type}
    return view


def container_view(base: str, container: storage.Container) -> dict[str, Any]:
    return {
        "container_ref": container_ref(base, container.id), "name": container.name,
        "type": container.type, "status": "ACTIVE", "creator_id": container.creator_id,
        "created": _time(container.created), "updated": _time(container.updated),
        "secret_refs": [{"name": name, "secret_ref": secret_ref(base, secret_id)}
                        for name, secret_id in container.secret_refs],
        "consumers": []}


def acl_view(acl: storage.ReadAcl | None) -> dict[str, Any]:
    if acl is None:  # every entity has the implicit ACL: its project reads it
        return {"read": {"project-access": True}}
    return {"read": {"project-access": acl.project_access, "users": list(acl.users),
                     "created": _time(acl.created), "updated": _time(acl.updated)}}


def page(req: falcon.Request, base: str, collection: str, items: Sequence[dict[str, Any]]
         ) -> dict[str, Any]:
    """One page of `items` under `limit` and `offset`, with Barbican's total and links."""
    offset = _paging_number(req.get_param("offset"), 0)
    limit = min(_paging_number(req.get_param("limit"), DEFAULT_PAGE) or DEFAULT_PAGE, MAX_PAGE)
    shown = list(items[offset:offset + limit])
    body: dict[str, Any] = {collection: shown, "total": len(items)}
    if not shown:
        return body
    others = [(k, v) for k, v in req.params.items() if k not in ("limit", "offset")]
    query = urllib.parse.urlencode(others, doseq=True)

    def link(start: int) -> str:
        return (f"{base}/v1/{collection}?limit={limit}&offset={start}"
                + (f"&{query}" if query else ""))

    if offset > 0:
        body["previous"] = link(max(0, offset - limit))
    if len(items) > offset + limit:
        body["next"] = link(offset + limit)
    return body


def _paging_number(raw: str | None, default: int) -> int:
    # Like Barbican: what does not parse as a non-negative number is the default.
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 0 else default


# --- version discovery ---------------------------------------------------------------------


def _asks_microversions(req: falcon.Request) -> bool:
    """Whether the client negotiates microversions (asks for more than key-manager 1.0)."""
    header = req.get_header("OpenStack-API-Version") or ""
    for part in header.split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "key-manager" and version.strip() not in ("", "1.0"):
            return True
    return False


def version_info(req: falcon.Request) -> dict[str, Any]:
    links = [{"rel": "self", "href": f"{req.prefix}/v1/"},
             {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}]
    if _asks_microversions(req):
        # Only 1.0: no secret consumers (1.1), no forced deletes (1.2). Clients that ask for
        # more settle on 1.0 rather than guess.
        return {"id": "v1", "status": "CURRENT", "min_version": "1.0", "max_version": "1.0",
                "links": links}
    return {"id": "v1", "status": "stable", "links": links,
            "media-types": [{"base": falcon.MEDIA_JSON, "type": MEDIA_TYPE}]}


class Versions:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_300  # Barbican lists its versions as multiple choices
        info = version_info(req)
        resp.media = ({"versions": [info]} if "min_version" in info
                      else {"versions": {"values": [info]}})


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": version_info(req)}


# --- secrets -------------------------------------------------------------------------------


class _Owned(Protocol):
    """A secret or a container, as far as who may read or change it goes."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def creator_id(self) -> str | None: ...


Owned = TypeVar("Owned", bound=_Owned)


class Resources:
    """What every resource shares: the store, who is calling, the limits, lookups with the
    caller's rights."""

    def __init__(self, store: storage.Store, auth_strategy: AuthStrategy,
                 max_secret_bytes: int, max_request_bytes: int) -> None:
        self.store = store
        self.auth_strategy = auth_strategy
        self.max_secret_bytes = max_secret_bytes
        self.max_request_bytes = max_request_bytes

    def caller(self, req: falcon.Request) -> Caller:
        return caller_of(req, self.auth_strategy)

    def readable_secret(self, caller: Caller, secret_id: str,
                        manage: bool = False) -> storage.Secret:
        secret = self.store.get_secret(secret_id) if _is_uuid(secret_id) else None
        if secret is not None and secret.expired(storage.utcnow()):
            secret = None
        return self._allowed(caller, "secret", secret, manage)

    def managed_secret(self, caller: Caller, secret_id: str) -> storage.Secret:
        return self.readable_secret(caller, secret_id, manage=True)

    def readable_container(self, caller: Caller, container_id: str,
                           manage: bool = False) -> storage.Container:
        container = self.store.get_container(container_id) if _is_uuid(container_id) else None
        return self._allowed(caller, "container", container, manage)

    def managed_container(self, caller: Caller, container_id: str) -> storage.Container:
        return self.readable_container(caller, container_id, manage=True)

    def _allowed(self, caller: Caller, kind: storage.EntityKind, entity: Owned | None,
                 manage: bool) -> Owned:
        """`entity` when the caller may read it (else 404, as if it did not exist) and, with
        `manage`, change it (else 403); its ACL is read once for both."""
        acl = self.store.get_acl(kind, entity.id) if entity is not None else None
        if entity is None or not caller.reads(entity.project_id, entity.creator_id, acl):
            fail(404, f"{kind.capitalize()} not found.")
        if manage and not caller.owns(entity.project_id, entity.creator_id, acl):
            fail(403, f"Only the {kind}'s project (or its creator, when private) may change "
                      "it.")
        return entity


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _wants_metadata(req: falcon.Request) -> bool:
    accept = (req.get_header("Accept") or "").strip()
    return not accept or accept == "*/*" or accept.split(";")[0].strip() == falcon.MEDIA_JSON


class Secrets(Resources):
    """/v1/secrets, /v1/secrets/{id} and /v1/secrets/{id}/payload."""

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        new = bodies.parse_new_secret(bodies.read_json_object(req, self.max_request_bytes),
                               self.max_secret_bytes)
        secret = self.store.create_secret(
            project_id=caller.project_id, creator_id=caller.user_id, name=new.name,
            secret_type=new.secret_type, algorithm=new.algorithm, bit_length=new.bit_length,
            mode=new.mode, expiration=new.expiration, content_type=new.content_type,
            payload=new.payload)
        ref = secret_ref(req.prefix, secret.id)
        resp.status, resp.location = falcon.HTTP_201, ref
        resp.media = {"secret_ref": ref}

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        if req.get_param_as_bool("acl_only", default=False):
            shared = self.store.ids_shared_with("secret", caller.user_id) if caller.user_id else []
            candidates = self.store.secrets_by_id(shared)
        else:
            candidates = self.store.list_secrets(caller.project_id)
        wanted = {"name": req.get_param("name"), "algorithm": req.get_param("alg"),
                  "mode": req.get_param("mode"), "secret_type": req.get_param("secret_type")}
        bits = _paging_number(req.get_param("bits"), 0)
        now = storage.utcnow()
        found = [s for s in candidates
                 if not s.expired(now)
                 and all(v is None or getattr(s, k) == v for k, v in wanted.items())
                 and (not bits or s.bit_length == bits)
                 and caller.reads(s.project_id, s.creator_id, self.store.get_acl("secret", s.id))]
        resp.media = page(req, req.prefix, "secrets", [secret_view(req.prefix, s) for s in found])

    def on_get(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        secret = self.readable_secret(self.caller(req), secret_id)
        if _wants_metadata(req):
            resp.media = secret_view(req.prefix, secret)
        else:  # Barbican's older way to read a payload: the secret itself, in another type
            self._send_payload(req, resp, secret)

    def on_get_payload(self, req: falcon.Request, resp: falcon.Response, secret_id: str
                       ) -> None:
        self._send_payload(req, resp, self.readable_secret(self.caller(req), secret_id))

    def _send_payload(self, req: falcon.Request, resp: falcon.Response,
                      secret: storage.Secret) -> None:
        payload = self.store.read_payload(secret.id)
        if payload is None or secret.content_type is None:
            fail(404, "This secret has no payload yet.")
        wanted = _accepted_type(req.get_header("Accept"), secret.content_type)
        if wanted == TEXT:
            try:
                payload.decode()
            except UnicodeDecodeError:
                fail(406, f"Secret payload cannot be returned as {TEXT}: it is binary.")
        resp.content_type = wanted
        resp.data = payload

    def on_put(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        secret = self.managed_secret(self.caller(req), secret_id)
        content_type = bodies.normalize_content_type(req.content_type or "")
        if content_type is None:
            fail(415, f"A payload is sent as {TEXT} or {BINARY}, not {req.content_type!r}.")
        payload = bodies.read_body(req, self.max_secret_bytes)
        if not payload:
            fail(400, "The request carries no payload.")
        encoding = (req.get_header("Content-Encoding") or "").strip().lower()
        if encoding == "base64" and content_type in BINARY_TYPES:
            payload = bodies.decode_base64(payload.strip(),
                                           "The payload is not valid base64.")
        if content_type == TEXT:
            try:
                payload.decode()
            except UnicodeDecodeError:
                fail(400, f"A {TEXT} payload must be UTF-8.")
        try:
            self.store.set_payload(secret.id, content_type, payload)
        except storage.PayloadAlreadySet:
            fail(409, "This secret already has a payload; a payload is set once.")
        resp.status = falcon.HTTP_204

    def on_delete(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        secret = self.managed_secret(self.caller(req), secret_id)
        self.store.delete_secret(secret.id)
        resp.status = falcon.HTTP_204


def _accepted_type(accept: str | None, stored: str) -> str:
    """The payload's type in the response: what the client accepts, as Barbican decides it
    (no header: binary; `*/*`: the type it was stored as); 406 for what it cannot give."""
    if not accept or not accept.strip():
        return BINARY
    for media_range in accept.split(","):
        media = media_range.split(";")[0].strip().lower()
        if media == "*/*":
            return stored
        normalized = bodies.normalize_content_type(media_range)
        if normalized is not None:
            return normalized
    fail(406, f"The payload cannot be given as {accept!r}.")


# --- containers ----------------------------------------------------------------------------


class Containers(Resources):
    """/v1/containers and /v1/containers/{id}."""

    def on_post_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        body = bodies.read_json_object(req, self.max_request_bytes)
        kind, name, refs = bodies.parse_new_container(body)
        now = storage.utcnow()
        present = {s.id for s in self.store.secrets_by_id([i for _, i in refs if _is_uuid(i)])
                   if s.project_id == caller.project_id and not s.expired(now)}
        for ref_name, secret_id in refs:
            if secret_id not in present:  # a secret of another project is not there either
                fail(404, f"No secret of this project for {ref_name!r}.")
        container = self.store.create_container(
            project_id=caller.project_id, creator_id=caller.user_id, name=name, type=kind,
            secret_refs=refs)
        ref = container_ref(req.prefix, container.id)
        resp.status, resp.location = falcon.HTTP_201, ref
        resp.media = {"container_ref": ref}

    def on_get_collection(self, req: falcon.Request, resp: falcon.Response) -> None:
        caller = self.caller(req)
        name, kind = req.get_param("name"), req.get_param("type")
        found = [c for c in self.store.list_containers(caller.project_id)
                 if (name is None or c.name == name) and (kind is None or c.type == kind)
                 and caller.reads(c.project_id, c.creator_id,
                                  self.store.get_acl("container", c.id))]
        resp.media = page(req, req.prefix, "containers",
                          [container_view(req.prefix, c) for c in found])

    def on_get(self, req: falcon.Request, resp: falcon.Response, container_id: str) -> None:
        resp.media = container_view(req.prefix,
                                    self.readable_container(self.caller(req), container_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, container_id: str) -> None:
        container = self.managed_container(self.caller(req), container_id)
        self.store.delete_container(container.id)
        resp.status = falcon.HTTP_204


# --- ACLs ----------------------------------------------------------------------------------


class Acls:
    """/v1/secrets/{id}/acl and /v1/containers/{id}/acl: PUT replaces, PATCH merges, DELETE
    goes back to the implicit ACL (the project reads)."""

    def __init__(self, resources: Resources, kind: storage.EntityKind,
                 managed: Callable[[Caller, str], Any],
                 ref: Callable[[str, str], str]) -> None:
        self.resources = resources
        self.kind = kind
        self.managed = managed
        self.ref = ref

    def _entity_id(self, req: falcon.Request, ids: dict[str, str]) -> str:
        # The route names its one field secret_id or container_id, as the entity's own routes.
        [entity_id] = ids.values()
        return str(self.managed(self.resources.caller(req), entity_id).id)

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        resp.media = acl_view(self.resources.store.get_acl(self.kind, self._entity_id(req, ids)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        found = self._entity_id(req, ids)
        read = bodies.parse_acl(bodies.read_json_object(req, self.resources.max_request_bytes))
        if read is None:
            self.resources.store.delete_acl(self.kind, found)
        else:
            self.resources.store.put_acl(
                self.kind, found, project_access=read.get("project-access", True),
                users=read.get("users") or [])
        resp.media = {"acl_ref": f"{self.ref(req.prefix, found)}/acl"}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        found = self._entity_id(req, ids)
        read = bodies.parse_acl(bodies.read_json_object(req, self.resources.max_request_bytes))
        if read is not None:
            current = self.resources.store.get_acl(self.kind, found)
            access = read.get("project-access")
            users = read.get("users")
            self.resources.store.put_acl(
                self.kind, found,
                project_access=access if access is not None else (
                    current.project_access if current else True),
                users=users if users is not None else (current.users if current else ()))
        resp.media = {"acl_ref": f"{self.ref(req.prefix, found)}/acl"}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        self.resources.store.delete_acl(self.kind, self._entity_id(req, ids))


# --- the application -----------------------------------------------------------------------


def create_app(store: storage.Store, *, auth_strategy: AuthStrategy = "noauth",
               max_secret_bytes: int = MAX_SECRET_BYTES,
               max_request_bytes: int = MAX_REQUEST_BYTES) -> falcon.App:
    """Barbican's v1 API over `store`. "noauth": the caller names its project in X-Project-Id
    (default "ottava") and its user in X-User-Id; "keystone": behind keystonemiddleware."""
    if auth_strategy not in ("noauth", "keystone"):
        raise ValueError(f"unknown auth_strategy {auth_strategy!r}")
    app = falcon.App()
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(Exception, _render_crash)
    app.add_error_handler(falcon.HTTPError, _render_error)
    app.add_route("/", Versions())
    app.add_route("/v1", Version())
    limits = (auth_strategy, max_secret_bytes, max_request_bytes)
    secrets = Secrets(store, *limits)
    containers = Containers(store, *limits)
    app.add_route("/v1/secrets", secrets, suffix="collection")
    app.add_route("/v1/secrets/{secret_id}", secrets)
    app.add_route("/v1/secrets/{secret_id}/payload", secrets, suffix="payload")
    app.add_route("/v1/secrets/{secret_id}/acl",
                  Acls(secrets, "secret", secrets.managed_secret, secret_ref))
    app.add_route("/v1/containers", containers, suffix="collection")
    app.add_route("/v1/containers/{container_id}", containers)
    app.add_route("/v1/containers/{container_id}/acl",
                  Acls(containers, "container", containers.managed_container, container_ref))
    return app
