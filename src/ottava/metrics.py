"""Prometheus metrics of the control plane: the instruments the processes record into, and
the text exposition of `/metrics`.

A `Registry` is made once per process by its composition root (`ottava.bootstrap`) and
handed to the parts the process runs (API, worker, health manager, housekeeping); standalone
runs them all in one process, so its API's `/metrics` shows everything. What a part already
counts for its own work (heartbeats received and dropped, flushes, reconciler re-drives, the
amphorae and listeners in the database) is read at scrape time by a collector the part
registers (`Registry.register`), so no hot path carries metric code of its own.

Names follow Prometheus' conventions: the `ottava_` prefix, counters ending in `_total`,
durations in seconds as histograms, ids as labels (`project_id`, `loadbalancer_id`, …).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import prometheus_client as prom
from prometheus_client import exposition

# The text format every Prometheus (and Grafana Agent, VictoriaMetrics, …) reads.
CONTENT_TYPE = exposition.CONTENT_TYPE_PLAIN_0_0_4
# An API request takes about a millisecond to a few hundred; an operation a few
# milliseconds (noop drivers) to minutes (a Nova amphora that boots slowly).
API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
OPERATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                     120.0, 300.0)


class Collector(Protocol):
    def collect(self) -> Iterable[Any]:
        """Metric families (prometheus_client.core.*MetricFamily) read at scrape time."""
        ...


class Registry:
    """The instruments of one process, and what it serves at /metrics."""

    def __init__(self) -> None:
        r = self.collectors = prom.CollectorRegistry()
        self.api_requests = prom.Counter(
            "ottava_api_requests", "API requests answered, by route template and status.",
            ["method", "route", "status"], registry=r)
        self.api_seconds = prom.Histogram(
            "ottava_api_request_duration_seconds", "Time to answer an API request.",
            ["method", "route"], buckets=API_BUCKETS, registry=r)
        self.operations = prom.Counter(
            "ottava_operations", "Operations a worker finished, by kind and outcome.",
            ["kind", "outcome"], registry=r)
        self.operation_seconds = prom.Histogram(
            "ottava_operation_duration_seconds",
            "From a worker's claim of an operation to its recorded outcome.",
            ["kind", "outcome"], buckets=OPERATION_BUCKETS, registry=r)
        self.task_seconds = prom.Histogram(
            "ottava_flow_task_duration_seconds", "Time a flow's task ran (each run).",
            ["flow", "task", "outcome"], buckets=OPERATION_BUCKETS, registry=r)
        self.failovers = prom.Counter(
            "ottava_failovers", "Amphora and load balancer failovers a worker finished.",
            ["kind", "outcome"], registry=r)
        self.failover_seconds = prom.Histogram(
            "ottava_failover_duration_seconds", "Time a failover took in the worker.",
            ["kind"], buckets=OPERATION_BUCKETS, registry=r)

    def register(self, collector: Collector) -> None:
        """Read `collector` at every scrape (see the module's docstring)."""
        self.collectors.register(collector)

    def exposition(self) -> bytes:
        """The Prometheus text page of everything registered."""
        page: bytes = prom.generate_latest(self.collectors)
        return page

    def wsgi_app(self) -> Any:
        """A WSGI application serving the page at any path (the processes without an API
        serve it on their own `[metrics]` port)."""
        return prom.make_wsgi_app(self.collectors)
