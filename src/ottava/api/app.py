"""The WSGI application factory of the Octavia-compatible API."""

from __future__ import annotations

from typing import Any

import falcon
from oslo_config import cfg
from oslo_middleware import http_proxy_to_wsgi, request_id, sizelimit

from ottava.api import auth, faults, openapi
from ottava.api.context import RequestContext
from ottava.api.policy import Policy
from ottava.api.root import Healthcheck, Root, VersionRoot
from ottava.api.routes.amphorae import AmphoraRoutes
from ottava.api.routes.catalog import (
    AvailabilityZoneProfileRoutes,
    AvailabilityZoneRoutes,
    FlavorProfileRoutes,
    FlavorRoutes,
)
from ottava.api.routes.children import (
    HealthMonitorRoutes,
    L7PolicyRoutes,
    ListenerRoutes,
    PoolRoutes,
)
from ottava.api.routes.loadbalancers import LoadBalancerRoutes
from ottava.api.routes.nested import L7RuleRoutes, MemberRoutes
from ottava.api.routes.providers import ProviderRoutes
from ottava.api.routes.quotas import QuotaRoutes
from ottava.service.container import Services

ROUTES = (
    LoadBalancerRoutes, ListenerRoutes, PoolRoutes, MemberRoutes, HealthMonitorRoutes,
    L7PolicyRoutes, L7RuleRoutes, QuotaRoutes, ProviderRoutes, FlavorRoutes,
    FlavorProfileRoutes, AvailabilityZoneRoutes, AvailabilityZoneProfileRoutes, AmphoraRoutes,
)


def create_app(services: Services, conf: cfg.ConfigOpts) -> Any:
    """The WSGI application: the Falcon app behind the token check of the auth_strategy,
    inside oslo.middleware's standard wrappers (request id, X-Forwarded-* for links behind
    a proxy, request body size limit)."""
    app: Any = falcon_app(services, conf)
    app = auth.wrap(app, conf)
    app = sizelimit.RequestBodySizeLimiter(app, conf)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    return request_id.RequestId(app)


def falcon_app(services: Services, conf: cfg.ConfigOpts) -> falcon.App:
    policy = Policy(conf)
    app = falcon.App(middleware=[RequestContext(conf, policy)])
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.default_media_type = falcon.MEDIA_JSON
    faults.install(app)
    app.add_route("/", Root(conf.api_settings.api_base_uri))
    for prefix in ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas"):
        app.add_route(prefix, VersionRoot())
    if conf.api_settings.healthcheck_enabled:
        app.add_route("/healthcheck", Healthcheck(services.deps.db))
    app.add_route("/v2/openapi.json", openapi.OpenAPIDocument(app))
    for routes in ROUTES:
        routes(services, conf, policy).add_to(app)
    return app
