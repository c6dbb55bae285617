"""The database fails under the API and the worker: PostgreSQL behind a TCP proxy the test
cuts. While it is down every request answers 503 in Octavia's fault format (never 500, never
a hang) and /healthcheck says why; once it is back the API serves again with nothing
half-written. A blip (every connection killed, new ones refused for a moment) under load is
ridden out: every create the API accepted ends ACTIVE, none in ERROR, every operation DONE.

The blip test runs housekeeping's reconciler beside the stack, as every deployment does: a
commit the database made while the connection died before it could say so is the one thing
no retry can see, and the reconciler is what finishes such an operation."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ottava.db import models as m
from ottava.housekeeping.reconciler import Reconciler
from ottava.periodic import Periodic, PeriodicRunner
from tests import faults, harness
from tests.conftest import VIP_SUBNET
from tests.harness import Client

LBS = "/v2/lbaas/loadbalancers"
ANSWER_WITHIN = 30  # seconds; a request that hangs on the dead database fails the test
# A worker retries quickly here (the defaults wait up to ten seconds between tries).
FAST_RETRY = {"db_max_retries": 40, "db_retry_interval": 0.1, "db_max_retry_interval": 0.5}
LEASE = 3.0  # seconds; the reconciler hands on what a worker stopped renewing after this
CLIENTS = 6
LOAD_SECONDS = 6.0  # each client stops creating after this long
BLIP_AT, BLIP_FOR = 2.0, 1.5  # seconds into the load; how long new connections are refused


@pytest.fixture(params=["database", "memory"])
def behind_proxy(request: pytest.FixtureRequest
                 ) -> Iterator[tuple[harness.Stack, Client, faults.TcpProxy]]:
    """A stack on PostgreSQL behind a proxy; TaskFlow's progress kept in the database (its
    writes ride out the blip too) or in memory (only the tasks' own transactions meet it)."""
    url = make_url(harness.server_database("postgresql"))
    state = harness.new_state_dir()
    with faults.proxy((url.host or "127.0.0.1", url.port or 5432)) as database:
        proxied = url.set(host="127.0.0.1", port=database.port)
        stack = harness.Stack(proxied.render_as_string(hide_password=False), state,
                              overrides={"database": FAST_RETRY,
                                         "task_flow": {"persistence": request.param},
                                         "house_keeping": {"operation_lease": LEASE}})
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


@pytest.mark.parametrize("behind_proxy", ["database"], indirect=True)
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


def test_a_database_blip_under_load_leaves_nothing_in_error(
        behind_proxy: tuple[harness.Stack, Client, faults.TcpProxy]) -> None:
    stack, _api, database = behind_proxy
    accepted: list[str] = []
    refused: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS

    def client(n: int) -> None:
        own = Client(stack.url)
        i = 0
        while time.monotonic() < stop_at:
            i += 1
            resp = own.post(LBS, {"loadbalancer": {"name": f"c{n}-{i}",
                                                   "vip_subnet_id": VIP_SUBNET}},
                            timeout=ANSWER_WITHIN)
            with lock:
                if resp.status_code == 201:
                    accepted.append(resp.json()["loadbalancer"]["id"])
                else:
                    assert is_fault(resp, 503), (resp.status_code, resp.text)
                    refused.append(resp.status_code)

    reconciler = Reconciler(stack.db, stack.dispatch, lease=LEASE)
    housekeeping = PeriodicRunner("test-housekeeping",
                                  [Periodic("reconcile", 1.0, reconciler.run_once)])
    housekeeping.start()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(BLIP_AT)
    with stack.db.reader() as s:
        in_flight = set(s.scalars(select(m.Operation.id).where(
            m.Operation.state.in_(["QUEUED", "RUNNING"]))))
    database.cut()
    time.sleep(BLIP_FOR)
    database.restore()
    try:
        for thread in threads:
            thread.join(timeout=LOAD_SECONDS + 2 * ANSWER_WITHIN)
            assert not thread.is_alive()
        began = time.monotonic()
        stack.settle(timeout=120)
        settled = time.monotonic() - began
    finally:
        housekeeping.stop()
    with stack.db.reader() as s:
        statuses = dict(s.execute(
            select(m.LoadBalancer.id, m.LoadBalancer.provisioning_status)).all())
        operations = dict(s.execute(select(m.Operation.id, m.Operation.state)).all())
    answer_lost = set(statuses) - set(accepted)
    print(f"\n{len(accepted)} creates accepted, {len(refused)} refused (503) during the blip "
          f"({len(answer_lost)} of them committed before the connection died), "
          f"{len(in_flight)} operations in flight when it began; settled {settled:.1f} s "
          f"after the load; the reconciler requeued {reconciler.requeued} and cast "
          f"{reconciler.recast} again")
    assert in_flight, "no operation was running when the database went away"
    assert refused, "the blip refused no request: it did not happen"
    # Every accepted create is there and ACTIVE. A refused one left nothing, unless its commit
    # reached the database before the connection died (then it is whole, and ACTIVE too).
    assert set(accepted) <= set(statuses)
    assert len(answer_lost) <= len(refused)
    assert set(statuses.values()) == {"ACTIVE"}, statuses
    assert set(operations.values()) == {"DONE"}, operations
