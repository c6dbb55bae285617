"""`[api_settings] auth_strategy`: who is calling, with Octavia's three meanings.

- `keystone`: keystonemiddleware's auth_token validates the X-Auth-Token of every request
  (configured from `[keystone_authtoken]` of Ottava's own configuration) and replaces the
  X-Project-Id, X-Roles, … headers with the token's; the caller is built from those.
  The version document (`/`, `/v2`), `/healthcheck` and the dashboard's page and assets
  (`/dashboard/`, `/dashboard/static/…`: the page asks for a token itself) need no token;
  the dashboard's data (`/dashboard/events`) does.
- `testing`: the same headers are trusted as sent, with no token: policy and quotas apply
  exactly as under keystone. For tests only.
- `noauth`: the project comes from X-Project-Id (else `default_project_id`) and every caller
  is an administrator; Octavia skips quotas in this mode.
"""

from __future__ import annotations

from typing import Any

from keystonemiddleware import auth_token
from oslo_context import context as oslo_context

from ottava.settings import ApiSettings

NOAUTH, KEYSTONE, TESTING = "noauth", "keystone", "testing"

# Paths answered without a token: version discovery, the load balancer's health check, the
# dashboard's page and its two files (`api.dashboard.ASSETS`). None of them reads who is
# calling. Exact paths only: a prefix would let `/dashboard/static/<anything>` through.
UNAUTHENTICATED = frozenset({"/", "/v2", "/v2.0", "/healthcheck", "/dashboard",
                             "/dashboard/static/app.js", "/dashboard/static/style.css"})


class SkippingAuthProtocol(auth_token.AuthProtocol):
    """auth_token, except for the paths clients call before they hold a token."""

    def process_request(self, request: Any) -> Any:
        # PATH_INFO, what Falcon routes on; not request.path, which puts SCRIPT_NAME in
        # front, and SCRIPT_NAME is the client's X-Forwarded-Prefix when oslo.middleware
        # parses proxy headers: `X-Forwarded-Prefix: /dashboard` must not open the API.
        path = request.environ.get("PATH_INFO") or "/"
        if path == "/" or path.rstrip("/") in UNAUTHENTICATED:
            return None
        return super().process_request(request)


def wrap(app: Any, settings: ApiSettings, library_conf: object) -> Any:
    """`app` behind the token check when auth_strategy is keystone; else `app` itself.

    keystonemiddleware reads [keystone_authtoken] from `library_conf` (the process's
    ConfigOpts, handed over opaque by the composition root), so one ottava.conf configures
    both, as octavia.conf does."""
    if settings.auth_strategy != KEYSTONE:
        return app
    return SkippingAuthProtocol(app, {"oslo_config_config": library_conf})


def request_context(environ: dict[str, Any], api: ApiSettings) -> oslo_context.RequestContext:
    """The oslo.context of a request, from the identity headers (set by auth_token under
    keystone, by the client under testing and noauth)."""
    ctx = oslo_context.RequestContext.from_environ(environ)
    if api.auth_strategy == NOAUTH:
        ctx.project_id = ctx.project_id or api.default_project_id
        ctx.is_admin = True
    return ctx
