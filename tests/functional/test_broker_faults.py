"""The broker fails under the API: casts go over a real RabbitMQ through a TCP proxy the
test cuts. The API must keep answering (reads, writes, /healthcheck naming the broker), the
write it accepted must wait QUEUED, and once the broker is back the reconciler's cast must
carry it out: nothing accepted is lost, nothing stays PENDING_*."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from ottava.db import models as m
from ottava.housekeeping.reconciler import Reconciler
from tests import faults, harness
from tests.conftest import VIP_SUBNET
from tests.harness import Client

RABBIT = ("127.0.0.1", 5672)
LBS = "/v2/lbaas/loadbalancers"
# Any request that waits on the broker fails the test by timing out.
ANSWER_WITHIN = 15


def rabbit_is_up() -> bool:
    try:
        socket.create_connection(RABBIT, timeout=2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def split(tmp_path: Any) -> Iterator[tuple[harness.Stack, Client, faults.TcpProxy]]:
    if not rabbit_is_up():
        pytest.fail("RabbitMQ is not running on 127.0.0.1:5672 (.ci/run starts it)")
    state = harness.new_state_dir()
    with faults.proxy(RABBIT) as broker:
        stack = harness.Stack(f"sqlite:///{state}/ottava.db", state,
                              transport_url=f"rabbit://guest:guest@127.0.0.1:{broker.port}/")
        try:
            yield stack, Client(stack.url), broker
        finally:
            broker.restore()
            stack.stop()
            shutil.rmtree(state, ignore_errors=True)


def operation_states(stack: harness.Stack) -> list[str]:
    with stack.db.reader() as s:
        return list(s.scalars(select(m.Operation.state)))


def test_the_api_answers_while_the_broker_is_down_and_nothing_is_lost(
        split: tuple[harness.Stack, Client, faults.TcpProxy]) -> None:
    stack, api, broker = split
    before = api.post(LBS, {"loadbalancer": {"name": "before", "vip_subnet_id": VIP_SUBNET}})
    assert before.status_code == 201, before.text
    api.wait(f"{LBS}/{before.json()['loadbalancer']['id']}", "loadbalancer")

    broker.cut()
    health = api.get("/healthcheck", timeout=ANSWER_WITHIN)
    assert health.status_code == 503
    assert "The message broker is not reachable" in health.json()["reasons"]
    created = api.post(LBS, {"loadbalancer": {"name": "during", "vip_subnet_id": VIP_SUBNET}},
                       timeout=ANSWER_WITHIN)
    assert created.status_code == 201, created.text
    lb_path = f"{LBS}/{created.json()['loadbalancer']['id']}"
    listed = api.get(LBS, timeout=ANSWER_WITHIN)
    assert listed.status_code == 200 and len(listed.json()["loadbalancers"]) == 2
    assert api.get(lb_path).json()["loadbalancer"]["provisioning_status"] == "PENDING_CREATE"
    assert "QUEUED" in operation_states(stack)

    broker.restore()
    assert api.get("/healthcheck").status_code == 200
    # The reconciler casts what was never delivered (every QUEUED operation, lease 0).
    recast = Reconciler(stack.db, stack.dispatch, lease=0).run_once()
    assert recast, "the undelivered operation was not found"
    api.wait(lb_path, "loadbalancer", timeout=60)
    stack.settle(timeout=60)
    assert set(operation_states(stack)) == {"DONE"}
