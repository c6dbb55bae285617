"""The database fails under the API: PostgreSQL behind a TCP proxy the test cuts. Every
request answers 503 in Octavia's fault format (never 500, never a hang), /healthcheck says
why, and once the database is back the API serves again with nothing half-written."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests import faults, harness
from tests.conftest import VIP_SUBNET
from tests.harness import Client

LBS = "/v2/lbaas/loadbalancers"
ANSWER_WITHIN = 30  # seconds; a request that hangs on the dead database fails the test


@pytest.fixture
def behind_proxy() -> Iterator[tuple[harness.Stack, Client, faults.TcpProxy]]:
    url = make_url(harness.server_database("postgresql"))
    state = harness.new_state_dir()
    with faults.proxy((url.host or "127.0.0.1", url.port or 5432)) as database:
        proxied = url.set(host="127.0.0.1", port=database.port)
        stack = harness.Stack(proxied.render_as_string(hide_password=False), state)
        try:
            yield stack, Client(stack.url), database
        finally:
            database.restore()
            stack.stop()
            harness.drop_server_database("postgresql", url.render_as_string(
                hide_password=False))
            shutil.rmtree(state, ignore_errors=True)


def is_fault(resp: Any, status: int) -> bool:
    body = resp.json()
    return (resp.status_code == status and set(body) == {"faultcode", "faultstring", "debuginfo"}
            and body["faultcode"] == ("Server" if status >= 500 else "Client"))


def test_a_dead_database_is_a_503_then_service_resumes(
        behind_proxy: tuple[harness.Stack, Client, faults.TcpProxy]) -> None:
    _stack, api, database = behind_proxy
    first = api.post(LBS, {"loadbalancer": {"name": "first", "vip_subnet_id": VIP_SUBNET}})
    assert first.status_code == 201, first.text
    api.wait(f"{LBS}/{first.json()['loadbalancer']['id']}", "loadbalancer")

    database.cut()
    for resp in (api.get(LBS, timeout=ANSWER_WITHIN),
                 api.get(f"{LBS}/{first.json()['loadbalancer']['id']}", timeout=ANSWER_WITHIN),
                 api.post(LBS, {"loadbalancer": {"name": "lost", "vip_subnet_id": VIP_SUBNET}},
                          timeout=ANSWER_WITHIN)):
        assert is_fault(resp, 503), (resp.status_code, resp.text)
        assert "database" in resp.json()["faultstring"]
    health = api.get("/healthcheck", timeout=ANSWER_WITHIN)
    assert health.status_code == 503
    assert "The database is not available" in health.json()["reasons"]

    database.restore()
    listed = api.get(LBS)
    assert listed.status_code == 200, listed.text
    # The create refused while the database was down left nothing behind.
    assert [lb["name"] for lb in listed.json()["loadbalancers"]] == ["first"]
    again = api.post(LBS, {"loadbalancer": {"name": "after", "vip_subnet_id": VIP_SUBNET}})
    assert again.status_code == 201, again.text
    api.wait(f"{LBS}/{again.json()['loadbalancer']['id']}", "loadbalancer")
    assert api.get("/healthcheck").status_code == 200
