"""The Falcon application of the Octavia-compatible API: its routes and request context."""

from __future__ import annotations

import functools
from typing import Any

import falcon
import orjson

from ottava.api import dashboard, faults, openapi
from ottava.api.context import RequestContext
from ottava.api.metrics import MetricsRoute, RequestMetrics
from ottava.api.policy import Policy
from ottava.api.root import Root, VersionRoot
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
from ottava.metrics import Registry
from ottava.service.container import Services
from ottava.settings import ApiSettings

ROUTES = (
    LoadBalancerRoutes, ListenerRoutes, PoolRoutes, MemberRoutes, HealthMonitorRoutes,
    L7PolicyRoutes, L7RuleRoutes, QuotaRoutes, ProviderRoutes, FlavorRoutes,
    FlavorProfileRoutes, AvailabilityZoneRoutes, AvailabilityZoneProfileRoutes, AmphoraRoutes,
)


def create_app(services: Services, settings: ApiSettings, policy: Policy,
               metrics: Registry | None = None) -> falcon.App:
    """The Falcon application of the v2 API. The composition root puts it behind the token
    check and oslo.middleware's wrappers (see `ottava.bootstrap.api_application`). With
    `metrics`, requests are counted into it and `/metrics` serves it."""
    middleware: list[Any] = [RequestContext(settings, policy)]
    if metrics is not None:
        middleware.insert(0, RequestMetrics(metrics))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.default_media_type = falcon.MEDIA_JSON
    # Responses are encoded by orjson: a list of a thousand load balancers spent about a sixth
    # of its time in the standard library's encoder. Request bodies are still decoded by
    # the standard library, whose errors the API's fault handling is written (and fuzzed)
    # against.
    # (Keys that are not strings are written as strings, as the standard library does.)
    responses = falcon.media.JSONHandler(
        dumps=functools.partial(orjson.dumps, option=orjson.OPT_NON_STR_KEYS))
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = responses
    faults.install(app)
    app.add_route("/", Root(settings.base_uri))
    for prefix in ("/v2", "/v2.0", "/v2/lbaas", "/v2.0/lbaas"):
        app.add_route(prefix, VersionRoot())
    app.add_route("/v2/openapi.json", openapi.OpenAPIDocument(app))
    for routes in ROUTES:
        routes(services, settings, policy).add_to(app)
    if metrics is not None:
        app.add_route("/metrics", MetricsRoute(metrics, settings, policy))
    dashboard.add_to(app, services, settings, policy)
    return app
