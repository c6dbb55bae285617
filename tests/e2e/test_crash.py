"""A worker killed (SIGKILL) at every step of the create, update, delete and failover flows
leaves nothing stuck: after a restart, within 60 s every object is ACTIVE or ERROR (or gone,
for a delete), and the amphorae on this host match the database.

Each case runs a real `ottava standalone` (real local amphorae) with OTTAVA_CRASH_AT set to
the flow kind and the step, so the process kills itself as that step starts, exactly as a
power cut would; the prerequisites are made by other flow kinds, which do not crash. Then
standalone starts again without it, finds the operation RUNNING and resumes it from its
TaskFlow logbook. "Match" means: every amphora row ALLOCATED has its namespace and its folder
in the state dir, and no other amphora of this database has either.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select, text

from ottava.db.models import Amphora
from ottava.domain.operations import OperationKind, Plan
from ottava.worker import flows
from ottava.worker.drivers import Job
from tests import harness
from tests.e2e.backends import GATEWAY, Backend

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
ROOT = Path(__file__).resolve().parents[2]
SETTLE = 60.0


def steps(kind: str) -> list[str]:
    """The names of the atoms of one flow kind, in order."""
    def walk(item: Any) -> Iterator[str]:
        children = list(item) if hasattr(item, "iter_links") else None
        if children is None:
            yield item.name
            return
        for child in children:
            yield from walk(child)

    plan = Plan(OperationKind(kind), None, topology="SINGLE")  # as the crash tests' own
    job = Job(None, plan, "steps")  # type: ignore[arg-type]
    return list(walk(flows.build(job)))


CASES = [(kind, step) for kind in ("loadbalancer.create", "listener.update",
                                   "loadbalancer.delete", "loadbalancer.failover")
         for step in steps(kind)]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Standalone:
    """`ottava standalone` on this state dir, started and stopped by PID."""

    def __init__(self, state: Path, crash_at: str | None = None) -> None:
        self.state = state
        self.port = free_port()
        config = state / "ottava.conf"
        if not config.exists():
            config.write_text(f"[health_manager]\nbind_port = {free_port(socket.SOCK_DGRAM)}\n"
                              "[house_keeping]\noperation_lease = 5\n")
        env = {k: v for k, v in os.environ.items() if k != "OTTAVA_CRASH_AT"}
        if crash_at:
            env["OTTAVA_CRASH_AT"] = crash_at
        exe = Path(sys.executable).with_name("ottava")
        self.log = open(state / "standalone.log", "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(exe), "standalone", "--state-dir", str(state), "--config-file", str(config),
             "--bind", f"127.0.0.1:{self.port}",
             "--network-api-bind", f"127.0.0.1:{free_port()}",
             "--key-manager-api-bind", f"127.0.0.1:{free_port()}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"standalone exited: {self.tail()}")
            try:
                if requests.get(self.url + "/", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"standalone did not start: {self.tail()}")

    def tail(self) -> str:
        return (self.state / "standalone.log").read_text(errors="replace")[-3000:]

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, self.url + path, json=body, timeout=30)

    def wait_dead(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("the crash point was never reached") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def wait_lb(ottava: Standalone, lb_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ottava.call("GET", f"{LB}/{lb_id}").json()["loadbalancer"]
        if status["provisioning_status"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise AssertionError(f"{lb_id} not ACTIVE: {ottava.tail()}")


def create_lb(ottava: Standalone, backend: Backend) -> dict[str, Any]:
    resp = ottava.call("POST", LB, {"loadbalancer": {
        "vip_subnet_id": SUBNET, "listeners": [{
            "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": GATEWAY, "protocol_port": backend.port}]}}]}})
    assert resp.status_code == 201, resp.text
    return resp.json()["loadbalancer"]  # type: ignore[no-any-return]


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10,
                         check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def check_settled(ottava: Standalone, state: Path, deleted: bool) -> None:
    """Every object ACTIVE or ERROR (or gone), and the host's amphorae match the rows."""
    deadline = time.monotonic() + SETTLE
    bad: list[str] = []
    while time.monotonic() < deadline:
        lbs = ottava.call("GET", LB).json()["loadbalancers"]
        bad = [f"{lb['id']} {lb['provisioning_status']}" for lb in lbs
               if lb["provisioning_status"] not in ("ACTIVE", "ERROR")]
        for kind in ("listeners", "pools", "members") if not bad else ():
            path = f"/v2/lbaas/{kind}" if kind != "members" else None
            if path:
                bad += [f"{kind} {o['id']} {o['provisioning_status']}"
                        for o in ottava.call("GET", path).json()[kind]
                        if o["provisioning_status"] not in ("ACTIVE", "ERROR")]
        if not bad and (not deleted or not lbs):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"still unsettled after {SETTLE} s: {bad}\n{ottava.tail()}")
    engine = create_engine(f"sqlite:///{state / 'ottava.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Amphora.id, Amphora.compute_id, Amphora.status)).all()
            running = conn.execute(text(
                "SELECT count(*) FROM operation WHERE state IN ('QUEUED', 'RUNNING')")).scalar()
    finally:
        engine.dispose()
    assert running == 0
    live = namespaces()
    folders = {p.name for p in (state / "amphorae").iterdir() if p.is_dir()} \
        if (state / "amphorae").exists() else set()
    allocated = {r.id for r in rows if r.status == "ALLOCATED"}
    assert folders == allocated, (folders, rows)
    # The host agent runs while there is an amphora to serve, and only then.
    assert (harness.host_agent_pid(state) is not None) == bool(allocated), rows
    for row in rows:
        expected = row.status == "ALLOCATED"
        assert (row.compute_id in live) == expected if row.compute_id else not expected, row


@pytest.fixture()
def state() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ottava-crash-"))
    yield path
    # Whatever a failed case left: this state dir's namespaces, by the rows that name them.
    db = path / "ottava.db"
    if db.exists():
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            ids = {r[0] for r in conn.execute(select(Amphora.compute_id)) if r[0]}
        engine.dispose()
        for name in ids & namespaces():
            harness.remove_namespace(name)
    harness.stop_host_agent(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize(("kind", "step"), CASES, ids=[f"{k}:{s.rsplit('.', 1)[-1]}"
                                                       for k, s in CASES])
def test_crash_at_every_step(kind: str, step: str, state: Path) -> None:
    backend = Backend("a")
    ottava = Standalone(state, crash_at=f"{kind}:{step}")
    try:
        if kind == "loadbalancer.create":
            lb = create_lb(ottava, backend)
        else:
            lb = create_lb(ottava, backend)
            wait_lb(ottava, lb["id"])
            if kind == "listener.update":
                listener = ottava.call("GET", f"{LB}/{lb['id']}").json()[
                    "loadbalancer"]["listeners"][0]["id"]
                resp = ottava.call("PUT", f"/v2/lbaas/listeners/{listener}",
                                   {"listener": {"connection_limit": 1000}})
            elif kind == "loadbalancer.delete":
                resp = ottava.call("DELETE", f"{LB}/{lb['id']}?cascade=true")
            else:
                resp = ottava.call("PUT", f"{LB}/{lb['id']}/failover")
            assert resp.status_code in (200, 202, 204), resp.text
        assert ottava.wait_dead() == -signal.SIGKILL, ottava.tail()
        ottava.stop()
        ottava = Standalone(state)
        check_settled(ottava, state, deleted=kind == "loadbalancer.delete")
    finally:
        ottava.stop()
        backend.stop()
