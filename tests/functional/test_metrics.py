"""Prometheus metrics of the API and the worker, read as Prometheus reads them: the text page
at /metrics parsed by prometheus_client's own parser, through the real HTTP server.

Counters are compared before and after (the stack is shared by the module's tests and other
modules), never read as absolute values.
"""

from __future__ import annotations

import pathlib
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ottava.cmd import servers
from ottava.domain.errors import Fatal
from ottava.metrics import Registry
from ottava.settings import MetricsSettings
from tests import harness
from tests.conftest import VIP_SUBNET
from tests.keystone_tokens import AUTHTOKEN, fake_keystone

LB = "/v2/lbaas/loadbalancers"


def samples(page: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a page: (name, labels) -> value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(page) for s in family.samples}


def value(page: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def scrape_until(api: harness.Client, grown: dict[tuple[str, frozenset[tuple[str, str]]], float],
                 before: dict[tuple[str, frozenset[tuple[str, str]]], float],
                 timeout: float = 10.0) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A scrape once every sample in `grown` has grown by (at least) its value since
    `before`: the worker counts an operation when it records the outcome, just after the
    statuses the test waited for."""
    deadline = time.monotonic() + timeout
    while True:
        page = scrape(api)
        if all(page.get(key, 0.0) - before.get(key, 0.0) >= by for key, by in grown.items()):
            return page
        if time.monotonic() > deadline:
            return page  # the caller's assertions say what is missing
        time.sleep(0.05)


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def scrape(api: harness.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = api.get("/metrics")
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(resp.text)


def test_requests_are_counted_by_route_template_and_status(api: harness.Client) -> None:
    before = scrape(api)
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}})
    assert resp.status_code == 201, resp.text
    lb_id = resp.json()["loadbalancer"]["id"]
    # Its operation done, so that it cannot land in another test's counts.
    scrape_until(api, {key("ottava_operations_total", kind="loadbalancer.create",
                           outcome="done"): 1}, before)
    for _ in range(3):
        assert api.get(f"{LB}/{lb_id}").status_code == 200
    assert api.get(f"{LB}/not-a-load-balancer").status_code == 404
    assert api.get("/no/such/path").status_code == 404
    # A method HTTP does not define is one series, whatever its name.
    for made_up in ("BREW", "WHEN"):
        assert requests.request(made_up, f"{api.base}/", timeout=10).status_code in (400, 405)
    after = scrape(api)

    one = "/v2/lbaas/loadbalancers/{ident}"
    counted = "ottava_api_requests_total"
    assert value(after, counted, method="POST", route=LB, status="201") - value(
        before, counted, method="POST", route=LB, status="201") == 1
    assert value(after, counted, method="GET", route=one, status="200") - value(
        before, counted, method="GET", route=one, status="200") == 3
    assert value(after, counted, method="GET", route=one, status="404") - value(
        before, counted, method="GET", route=one, status="404") == 1
    assert value(after, counted, method="GET", route="unrouted", status="404") - value(
        before, counted, method="GET", route="unrouted", status="404") == 1
    # No id and no made-up method ever becomes a label: the series stay as few as the
    # routes and methods.
    assert not any(lb_id in str(labels) for _, labels in after)
    assert not any(made_up in str(labels) for _, labels in after for made_up in ("BREW",
                                                                                  "WHEN"))
    assert value(after, counted, method="other", route="/", status="400") + value(
        after, counted, method="other", route="/", status="405") - value(
        before, counted, method="other", route="/", status="400") - value(
        before, counted, method="other", route="/", status="405") == 2
    timed = "ottava_api_request_duration_seconds_count"
    assert value(after, timed, method="GET", route=one) - value(
        before, timed, method="GET", route=one) == 4


def test_operations_and_their_tasks_are_counted_and_timed(api: harness.Client) -> None:
    before = scrape(api)
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}})
    assert resp.status_code == 201, resp.text
    lb_id = resp.json()["loadbalancer"]["id"]
    api.wait(f"{LB}/{lb_id}", "loadbalancer")
    assert api.delete(f"{LB}/{lb_id}").status_code == 204
    api.wait_gone(f"{LB}/{lb_id}")
    after = scrape_until(api, {key("ottava_operations_total", kind=kind, outcome="done"): 1
                               for kind in ("loadbalancer.create", "loadbalancer.delete")},
                         before)

    for kind in ("loadbalancer.create", "loadbalancer.delete"):
        done = dict(kind=kind, outcome="done")
        assert value(after, "ottava_operations_total", **done) - value(
            before, "ottava_operations_total", **done) == 1, kind
        assert value(after, "ottava_operation_duration_seconds_count", **done) - value(
            before, "ottava_operation_duration_seconds_count", **done) == 1, kind
    timed = [labels for name, labels in after
             if name == "ottava_flow_task_duration_seconds_count"
             and dict(labels)["flow"] == "loadbalancer.create"
             and after[name, labels] > before.get((name, labels), 0.0)]
    assert timed, "no task of this create's flow was timed"
    assert all(dict(labels)["outcome"] == "success" for labels in timed)


def test_a_failed_operation_is_counted_as_failed(api: harness.Client,
                                                 stack: harness.Stack) -> None:
    before = scrape(api)

    def refuse(amphora: Any, spec: dict[str, Any]) -> None:
        raise Fatal("amphora refused the configuration")

    stack.drivers.amphora.apply = refuse
    try:
        resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}})
        assert resp.status_code == 201, resp.text
        api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer", status="ERROR")
    finally:
        del stack.drivers.amphora.apply
    failed = dict(kind="loadbalancer.create", outcome="failed")
    after = scrape_until(api, {key("ottava_operations_total", **failed): 1}, before)
    assert value(after, "ottava_operations_total", **failed) - value(
        before, "ottava_operations_total", **failed) == 1


def test_under_keystone_only_an_administrator_reads_the_metrics() -> None:
    state = harness.new_state_dir()
    with fake_keystone() as tokens:
        stack = harness.Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, {
            "api_settings": {"auth_strategy": "keystone"}},
            auth_overrides={"keystone_authtoken": AUTHTOKEN})
        try:
            assert requests.get(f"{stack.url}/metrics", timeout=10).status_code == 401
            member = harness.Client(stack.url, {"X-Auth-Token": tokens.mint("p1", ["member"])})
            resp = member.get("/metrics")
            assert resp.status_code == 403 and "faultstring" in resp.json()
            admin = harness.Client(stack.url, {"X-Auth-Token": tokens.mint("p1", ["admin"])})
            assert "ottava_api_requests_total" in admin.get("/metrics").text
        finally:
            stack.stop()
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def metrics_server() -> Iterator[tuple[Registry, str]]:
    registry = Registry()
    server = servers.serve_metrics(registry, MetricsSettings(host="127.0.0.1"), 0, "worker")
    assert server is not None
    try:
        yield registry, f"http://127.0.0.1:{server.bind_addr[1]}/metrics"
    finally:
        servers.stop_servers(server)


def test_a_process_without_an_api_serves_its_metrics_on_its_own_port(
        metrics_server: tuple[Registry, str]) -> None:
    registry, url = metrics_server
    registry.operations.labels("amphora.failover", "done").inc()
    page = samples(requests.get(url, timeout=10).text)
    assert value(page, "ottava_operations_total", kind="amphora.failover",
                 outcome="done") == 1
