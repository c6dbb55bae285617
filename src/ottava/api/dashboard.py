"""The read-only web dashboard at `/dashboard/` (issue 15): the page and its two assets, shipped
in the package (`api/static/dashboard/`), and `GET /dashboard/events`, the recent operations.

Everything else the page shows it reads from the v2 API itself, with the caller's token, so
it sees exactly what that token may see. The page and its assets need no token (see
`api.auth.UNAUTHENTICATED`): under Keystone the page asks for one and sends it on every call.
The events endpoint is an API call like any other: it needs a token under Keystone and is
scoped by the load balancer list's policy (every project for a global reader, else the
caller's own; a failure's message only for the former).

Only the three files named in `ASSETS` are ever served, read once when the app is built: no
path from a request reaches the file system.
"""

from __future__ import annotations

import html
import importlib.resources
from typing import Any

import falcon

from ottava.api.policy import PREFIX, Policy
from ottava.api.routes.common import Routes, caller
from ottava.domain.query import ListQuery
from ottava.service.container import Services
from ottava.settings import ApiSettings

# name under /dashboard/static/ -> content type
ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
PAGE = "index.html"
# The page's one server-side value: the auth strategy, so it asks for a token only under
# Keystone, before calling anything (a call refused with 401 would be a console error).
AUTH_PLACEHOLDER = "{{auth_strategy}}"

# The page runs only its own script and style and talks only to this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files, re-validated on each load, so an upgrade is seen at once.
    "Cache-Control": "no-cache",
}

EVENTS_DEFAULT, EVENTS_MAX = 30, 200


def read_asset(name: str) -> bytes:
    return (importlib.resources.files("ottava.api") / "static" / "dashboard" / name).read_bytes()


class Page:
    """`/dashboard/`: the page, with the auth strategy filled in."""

    def __init__(self, settings: ApiSettings) -> None:
        text = read_asset(PAGE).decode()
        self.body = text.replace(AUTH_PLACEHOLDER, html.escape(settings.auth_strategy)).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The app strips a trailing slash before routing, so `/dashboard` lands here too;
        # its relative links (static/app.js) need the slash, so send the browser there. A
        # relative Location keeps any prefix a proxy put in front of the API.
        if not req.env.get("PATH_INFO", "").endswith("/"):
            raise falcon.HTTPFound("dashboard/")
        resp.content_type = "text/html; charset=utf-8"
        resp.set_headers(SECURITY_HEADERS)
        resp.data = self.body


class Assets:
    """`/dashboard/static/{name}`: the script and the style sheet, nothing else."""

    def __init__(self) -> None:
        self.files = {name: (read_asset(name), kind) for name, kind in ASSETS.items()}

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in self.files:
            raise falcon.HTTPNotFound()
        data, kind = self.files[name]
        resp.content_type = kind
        resp.set_headers(SECURITY_HEADERS)
        resp.data = data


class Events(Routes):
    """`GET /dashboard/events?limit=N`: the newest operations, newest first, as the load
    balancer list scopes them; and what the caller may read, so the page asks only for what
    it will get."""

    rbac = "loadbalancer"

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = req.get_param_as_int("limit", min_value=1, max_value=EVENTS_MAX,
                                     default=EVENTS_DEFAULT)
        query = ListQuery()
        self.list_scope(req, query)  # query.project_id: None for a reader of every project
        events = self.services.reads.recent_operations(query.project_id, limit)
        # A failure's text is the worker's exception (driver messages, amphora addresses):
        # the controller's inside, for those who read every project. Others see the state.
        everyone = query.project_id is None
        resp.media = {
            "events": [render_event(event, with_error=everyone) for event in events],
            "scope": {
                "project_id": query.project_id,
                # The amphora list is an administrator's (Octavia's rule, checked against the
                # caller's own project as the amphora routes check it).
                "amphorae": self.policy.allows(f"{PREFIX}:amphora:get_all",
                                               caller(req).project_id, req.context.creds),
            },
        }


def render_event(event: dict[str, Any], with_error: bool) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        # Stored as naive UTC; said so, or a browser would read it as its local time.
        return value.isoformat(timespec="seconds") + "Z" if value is not None else None

    return {
        "id": event["id"], "kind": event["kind"], "state": event["state"],
        "target_id": event["target_id"],
        "loadbalancer_id": event["load_balancer_id"] or None,
        "loadbalancer_name": event["load_balancer_name"],
        "project_id": event["project_id"],
        "attempts": event["attempts"], "error": event["error"] if with_error else None,
        "created_at": when(event["created_at"]), "updated_at": when(event["updated_at"]),
    }


def add_to(app: falcon.App, services: Services, settings: ApiSettings, policy: Policy
           ) -> None:
    """Register the dashboard's routes on the API's app."""
    app.add_route("/dashboard", Page(settings))
    app.add_route("/dashboard/static/{name}", Assets())
    app.add_route("/dashboard/events", Events(services, settings, policy))
