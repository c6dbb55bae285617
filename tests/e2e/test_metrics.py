"""Metrics end to end: a real amphora carries real HTTP traffic, its heartbeats carry the
counters to the health manager, and one scrape of /metrics (the API's, as standalone serves
it) shows the traffic, the member's health and the heartbeats themselves, labelled with the
project and the ids; when the backend dies, the member's status metric turns ERROR. The
sample Grafana dashboard (etc/grafana) draws only metrics such a scrape serves.

Traffic goes only to 198.18.0.1 (the backend) and to the VIP in our namespace; every wait is
bounded.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ottava import bootstrap
from ottava.metrics import Registry
from tests import harness
from tests.e2e.backends import Backend
from tests.e2e.test_health import create_lb, eventually, get
from tests.functional.test_metrics import scrape, value

REQUESTS = 40
DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "etc/grafana/ottava-dashboard.json"
SUFFIXES = r"_(total|bucket|count|sum)$"  # a sample's suffix; the family is named without


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack(health=True) as pair:
        yield pair


def test_one_scrape_shows_real_traffic_member_health_and_heartbeats(
        env: tuple[harness.Stack, harness.Client]) -> None:
    _, api = env
    backend = Backend("metrics")
    try:
        lb = create_lb(api, backend)
        listener = lb["listeners"][0]["id"]
        pool = api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"]["default_pool_id"]
        [member] = api.get(f"/v2/lbaas/pools/{pool}/members").json()["members"]
        ids = {"project_id": lb["project_id"], "loadbalancer_id": lb["id"]}
        online = dict(ids, pool_id=pool, member_id=member["id"], status="ONLINE")
        eventually(lambda: value(scrape(api), "ottava_member_status", **online) == 1, 30,
                   "the member ONLINE in the metrics")
        before = scrape(api)
        served = sum(get(lb["vip_address"]) == "metrics" for _ in range(REQUESTS))
        assert served == REQUESTS

        labels = dict(ids, listener_id=listener)
        connections = "ottava_listener_connections_total"

        def counted() -> dict | None:
            page = scrape(api)
            grown = value(page, connections, **labels) - value(before, connections, **labels)
            return page if grown >= REQUESTS else None

        after = eventually(counted, 30, f"{REQUESTS} more connections in the listener's "
                           "metrics")
        for name in ("ottava_listener_bytes_in_total", "ottava_listener_bytes_out_total"):
            assert value(after, name, **labels) > value(before, name, **labels), name
        assert value(after, "ottava_heartbeats_received_total") > value(
            before, "ottava_heartbeats_received_total")
        assert value(after, "ottava_amphorae", status="ALLOCATED") >= 1
        assert value(after, "ottava_loadbalancer_provisioning_status", **ids,
                     status="ACTIVE") == 1
        assert value(after, "ottava_pool_status", **ids, pool_id=pool, status="ONLINE") == 1
        assert value(after, "ottava_operations_total", kind="loadbalancer.create",
                     outcome="done") >= 1
    finally:
        backend.stop()
    error = dict(online, status="ERROR")
    eventually(lambda: value(scrape(api), "ottava_member_status", **error) == 1, 30,
               "the dead backend's member ERROR in the metrics")


def test_every_metric_the_grafana_dashboard_draws_is_served(
        env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    # The stack runs no housekeeping; a housekeeping process's registry (built, not run)
    # serves the rest, as an operator's Prometheus scrapes every process.
    housekeeping = Registry()
    bootstrap.build_housekeeping(stack.settings.housekeeping_process(), stack.db,
                                 stack.dispatch, None, housekeeping)
    pages = (api.get("/metrics").text, housekeeping.exposition().decode())
    served = {family.name for page in pages
              for family in text_string_to_metric_families(page)}
    drawn = set(re.findall(r"\bottava_[a-z_]+", DASHBOARD.read_text()))
    assert drawn, "the dashboard draws no Ottava metric"
    missing = {name for name in drawn if re.sub(SUFFIXES, "", name) not in served}
    assert not missing, f"the Grafana dashboard draws metrics nobody serves: {missing}"
