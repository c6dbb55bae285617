"""What happens when the data plane fails or a worker dies: nothing stays PENDING_*.

A failing driver call makes the flow revert: the object it was changing goes to ERROR and the
load balancer it locked is ACTIVE again (or ERROR, when the load balancer itself was the
target). Operations left QUEUED or RUNNING by a dead worker are re-driven on start.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from ottava.db import models as m
from ottava.domain.errors import Fatal
from tests.conftest import VIP_SUBNET
from tests.harness import Client, Stack

LB = "/v2/lbaas/loadbalancers"


@pytest.fixture
def failing_apply(stack: Stack) -> Iterator[list[Any]]:
    """Make the amphora driver refuse every desired state while the test says so."""
    driver = stack.drivers.amphora
    original = driver.apply
    calls: list[Any] = []

    def apply(amphora: Any, spec: dict[str, Any]) -> None:
        calls.append(spec)
        raise Fatal("amphora refused the configuration")

    driver.apply = apply
    yield calls
    driver.apply = original


def test_failed_child_change_leaves_child_error_and_lb_active(
        api: Client, lb: dict, failing_apply: list[Any]) -> None:
    resp = api.post("/v2/lbaas/listeners", {"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert resp.status_code == 201
    listener = api.wait(f"/v2/lbaas/listeners/{resp.json()['listener']['id']}", "listener",
                        "ERROR")
    assert listener["provisioning_status"] == "ERROR"
    assert api.wait(f"{LB}/{lb['id']}", "loadbalancer")["provisioning_status"] == "ACTIVE"
    assert failing_apply, "the flow never reached the amphora driver"


def test_failed_load_balancer_update_leaves_it_error_and_deletable(
        api: Client, lb: dict, failing_apply: list[Any]) -> None:
    assert api.put(f"{LB}/{lb['id']}", {"loadbalancer": {"name": "x"}}).status_code == 200
    api.wait(f"{LB}/{lb['id']}", "loadbalancer", "ERROR")
    # ERROR load balancers cannot change, but can be deleted (or failed over).
    assert api.put(f"{LB}/{lb['id']}", {"loadbalancer": {"name": "y"}}).status_code == 409
    assert api.delete(f"{LB}/{lb['id']}").status_code == 204
    api.wait_gone(f"{LB}/{lb['id']}")


def test_failed_create_reverts_amphorae(api: Client, stack: Stack,
                                        failing_apply: list[Any]) -> None:
    resp = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}})
    lb = api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer", "ERROR")
    with stack.db.reader() as s:
        amphorae = s.execute(select(m.Amphora.status, m.Amphora.compute_id).where(
            m.Amphora.load_balancer_id == lb["id"])).all()
    assert [status for status, _ in amphorae] == ["DELETED"]
    [(_, compute_id)] = amphorae
    assert compute_id and not stack.drivers.compute.is_running(compute_id)


def test_operations_left_by_a_dead_worker_are_driven_on_start(api: Client,
                                                               stack: Stack) -> None:
    stack.consumer.stop()
    stack.consumer.wait()
    try:
        first = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}).json()
        second = api.post(LB, {"loadbalancer": {"vip_subnet_id": VIP_SUBNET}}).json()
        # One operation was claimed by a worker that then died; one was never delivered.
        with stack.db.transaction() as s:
            s.execute(update(m.Operation)
                      .where(m.Operation.target_id == first["loadbalancer"]["id"])
                      .values(state="RUNNING"))
        for body in (first, second):
            got = api.get(f"{LB}/{body['loadbalancer']['id']}").json()["loadbalancer"]
            assert got["provisioning_status"] == "PENDING_CREATE"
        resumed = stack.runner.resume_unfinished()
        assert len(resumed) == 2
        for body in (first, second):
            api.wait(f"{LB}/{body['loadbalancer']['id']}", "loadbalancer")
        with stack.db.reader() as s:
            assert set(s.scalars(select(m.Operation.state))) == {"DONE"}
    finally:
        stack.consumer = stack.restart_consumer()
