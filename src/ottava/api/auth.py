"""`[api_settings] auth_strategy`: who is calling, with Octavia's three meanings.

- `keystone`: keystonemiddleware's auth_token validates the X-Auth-Token of every request
  (configured from `[keystone_authtoken]` of Ottava's own configuration) and replaces the
  X-Project-Id, X-Roles, … headers with the token's; the caller is built from those.
  The version document (`/`, `/v2`) and `/healthcheck` need no token.
- `testing`: the same headers are trusted as sent, with no token: policy and quotas apply
  exactly as under keystone. For tests only.
- `noauth`: the project comes from X-Project-Id (else `default_project_id`) and every caller
  is an administrator; Octavia skips quotas in this mode.
"""

from __future__ import annotations

from typing import Any

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_policy import opts as policy_opts

NOAUTH, KEYSTONE, TESTING = "noauth", "keystone", "testing"

# Paths answered without a token: version discovery and the load balancer's health check.
UNAUTHENTICATED = frozenset({"/", "/v2", "/v2.0", "/healthcheck"})


class SkippingAuthProtocol(auth_token.AuthProtocol):
    """auth_token, except for the paths clients call before they hold a token."""

    def process_request(self, request: Any) -> Any:
        if request.path.rstrip("/") in UNAUTHENTICATED or request.path == "/":
            return None
        return super().process_request(request)


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register [keystone_authtoken] and [oslo_policy] on `conf` ahead of the middleware and
    the enforcer (which register them themselves), so they can be overridden before."""
    for group, options in [*auth_token.list_opts(), *policy_opts.list_opts()]:
        conf.register_opts(options, group=group)


def wrap(app: Any, conf: cfg.ConfigOpts) -> Any:
    """`app` behind the token check when auth_strategy is keystone; else `app` itself."""
    if conf.api_settings.auth_strategy != KEYSTONE:
        return app
    # keystonemiddleware reads (and registers) [keystone_authtoken] on our ConfigOpts, so one
    # ottava.conf configures both, as octavia.conf does.
    return SkippingAuthProtocol(app, {"oslo_config_config": conf})


def request_context(environ: dict[str, Any], conf: cfg.ConfigOpts) -> oslo_context.RequestContext:
    """The oslo.context of a request, from the identity headers (set by auth_token under
    keystone, by the client under testing and noauth)."""
    api = conf.api_settings
    ctx = oslo_context.RequestContext.from_environ(environ)
    if api.auth_strategy == NOAUTH:
        ctx.project_id = ctx.project_id or api.default_project_id
        ctx.is_admin = True
    return ctx
