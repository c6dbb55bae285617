"""Shared fixtures: a real stack per database back end, and a client for it."""

from __future__ import annotations

import pathlib
import shutil
from collections.abc import Iterator

import pytest

from tests import harness


@pytest.fixture(scope="session", params=harness.backends())
def stack(request: pytest.FixtureRequest) -> Iterator[harness.Stack]:
    backend = request.param
    state = harness.new_state_dir()
    if backend == "sqlite":
        url = f"sqlite:///{pathlib.Path(state) / 'ottava.db'}"
    else:
        url = harness.server_database(backend)
    s = harness.Stack(url, state)
    s.backend = backend  # type: ignore[attr-defined]
    yield s
    s.stop()
    if backend != "sqlite":
        harness.drop_server_database(backend, url)
    shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def api(stack: harness.Stack) -> harness.Client:
    stack.clear()
    return harness.Client(stack.url)


VIP_SUBNET = "c0ffee00-0000-4000-8000-000000000002"


@pytest.fixture
def lb(api: harness.Client) -> dict:
    """An ACTIVE load balancer."""
    resp = api.post("/v2/lbaas/loadbalancers",
                    {"loadbalancer": {"name": "lb1", "vip_subnet_id": VIP_SUBNET}})
    assert resp.status_code == 201, resp.text
    return api.wait(f"/v2/lbaas/loadbalancers/{resp.json()['loadbalancer']['id']}",
                    "loadbalancer")
