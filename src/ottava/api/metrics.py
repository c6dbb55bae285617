"""The API's Prometheus metrics: a middleware that counts and times every request by its
route template (`/v2/lbaas/loadbalancers/{ident}`, never the ids themselves, so the series
stay few), and `GET /metrics`, the page of the process's registry.

Under Keystone the page is for operators only: the same policy rule as the amphora admin
API's list (`os_load-balancer_api:amphora:get_all`), since it names every project's load
balancers. Under noauth everyone may read it, as everything else.
"""

from __future__ import annotations

import time
from typing import Any

import falcon

from ottava.api.routes.common import Routes
from ottava.metrics import CONTENT_TYPE, Registry

UNROUTED = "unrouted"  # a path no route matches: one series for all of them
OTHER_METHOD = "other"  # a method HTTP does not define: one series for all of them


class RequestMetrics:
    """Falcon middleware: first in the chain, so it times what the others do too."""

    def __init__(self, metrics: Registry) -> None:
        self.requests = metrics.api_requests
        self.seconds = metrics.api_seconds

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any,
                         req_succeeded: bool) -> None:
        started = req.context.get("started")
        if started is None:
            return
        route = req.uri_template or UNROUTED
        # Any token is a method to the HTTP server: only the known ones become labels, or
        # anyone could grow the page without bound.
        method = req.method if req.method in falcon.COMBINED_METHODS else OTHER_METHOD
        self.seconds.labels(method, route).observe(time.perf_counter() - started)
        self.requests.labels(method, route, str(resp.status_code)).inc()


class MetricsRoute(Routes):
    rbac = "amphora"

    def __init__(self, metrics: Registry, settings: Any, policy: Any) -> None:
        super().__init__(None, settings, policy)
        self.metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.authorize(req, "get_all", own=True)
        resp.content_type = CONTENT_TYPE
        resp.data = self.metrics.exposition()
