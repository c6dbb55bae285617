"""Housekeeping with real amphorae: the spares pool (booted ahead, taken by a create, which then
skips the boot and serves), the purge of deleted rows, and the reconciler handing an
operation whose worker's lease lapsed to a living worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from ottava.db import models as m
from ottava.housekeeping import purge, spares
from ottava.housekeeping.reconciler import Reconciler
from tests import harness
from tests.e2e.backends import Backend
from tests.e2e.test_health import LB, amphorae, create_lb, delete_lb, eventually, get


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[harness.Stack, harness.Client]]:
    with harness.local_stack(health=True) as pair:
        yield pair


def ready_spares(api: harness.Client) -> list[dict[str, str]]:
    return [a for a in api.get("/v2/octavia/amphorae").json()["amphorae"]
            if a["status"] == "READY" and not a["loadbalancer_id"]]


def test_a_create_takes_a_spare(env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    backend = Backend("a")
    try:
        assert spares.top_up(stack.db, 1, stack.services.amphorae.create_spare) == 1
        assert spares.top_up(stack.db, 1, stack.services.amphorae.create_spare) == 0
        spare = eventually(lambda: ready_spares(api), 30, "a READY spare")[0]
        started = time.monotonic()
        lb = create_lb(api, backend, monitor=False)
        with_spare = time.monotonic() - started
        assert [a["id"] for a in amphorae(api, lb["id"])] == [spare["id"]]
        assert get(lb["vip_address"]) == "a"
        assert ready_spares(api) == []
        started = time.monotonic()
        other = create_lb(api, backend, monitor=False)  # the pool is empty: a boot
        without = time.monotonic() - started
        assert get(other["vip_address"]) == "a"
        print(f"create -> ACTIVE: {with_spare:.2f} s from a spare, {without:.2f} s booting")
        delete_lb(api, lb["id"])
        delete_lb(api, other["id"])
    finally:
        backend.stop()


def test_purge_removes_expired_rows_only(env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    backend = Backend("a")
    try:
        kept = create_lb(api, backend, monitor=False)
        gone = create_lb(api, backend, monitor=False)
        gone_amphorae = [a["id"] for a in amphorae(api, gone["id"])]
        delete_lb(api, gone["id"])
        # Nothing is old enough yet.
        assert purge.purge(stack.db, 3600, 3600).load_balancers == 0
        with stack.db.reader() as s:
            assert s.get(m.LoadBalancer, gone["id"]) is not None
        result = purge.purge(stack.db, 0, 0)
        assert result.load_balancers >= 1 and result.amphorae + len(gone_amphorae) >= 1
        with stack.db.reader() as s:
            assert s.get(m.LoadBalancer, gone["id"]) is None
            assert all(s.get(m.Amphora, a) is None for a in gone_amphorae)
            assert s.get(m.LoadBalancer, kept["id"]) is not None
        assert api.get(f"{LB}/{kept['id']}").status_code == 200
        assert get(kept["vip_address"]) == "a"
        delete_lb(api, kept["id"])
    finally:
        backend.stop()


def test_reconciler_hands_an_orphaned_operation_to_a_living_worker(
        env: tuple[harness.Stack, harness.Client]) -> None:
    stack, api = env
    backend = Backend("a")
    try:
        lb = create_lb(api, backend, monitor=False)
        listener = lb["listeners"][0]["id"]
        # A worker that died holding an update: the operation RUNNING, its lease lapsed, the
        # load balancer PENDING_UPDATE. (The consumer is stopped so that nothing else runs it.)
        stack.consumer.stop()
        stack.consumer.wait()
        assert api.put(f"/v2/lbaas/listeners/{listener}",
                       {"listener": {"connection_limit": 777}}).status_code == 200
        with stack.db.transaction() as s:
            op = s.scalars(select(m.Operation).where(m.Operation.state == "QUEUED")).one()
            s.execute(update(m.Operation).where(m.Operation.id == op.id).values(
                state="RUNNING", worker="dead-worker",
                lease_expires=m.utcnow().replace(year=2000)))
        assert api.get(f"{LB}/{lb['id']}").json()["loadbalancer"]["provisioning_status"] \
            == "PENDING_UPDATE"
        stack.consumer = stack.restart_consumer()
        reconciler = Reconciler(stack.db, stack.services.amphorae.deps.dispatch, lease=30)
        assert reconciler.run_once() == [op.id]
        assert reconciler.run_once() == []  # taken once only
        api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=30)
        assert api.get(f"/v2/lbaas/listeners/{listener}").json()["listener"][
            "connection_limit"] == 777
        with stack.db.reader() as s:
            assert s.get(m.Operation, op.id).state == "DONE"  # type: ignore[union-attr]
        assert get(lb["vip_address"]) == "a"
        delete_lb(api, lb["id"])
    finally:
        backend.stop()
