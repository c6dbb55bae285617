"""Several of every process: three APIs, three workers, two health managers and two
housekeepers (each its own `ottava <command>` process) against one PostgreSQL database and
one RabbitMQ, with noop amphorae whose heartbeats this test sends, signed as each amphora
would, to both health managers.

Clients spread their creates over the three APIs while a chaos loop kills a random process
(SIGKILL) every few seconds and starts it again, as systemd would. Then a few amphorae fall
silent. At the end, checked against the database:

- lost (0): every load balancer an API accepted (and any it wrote before dying unanswered)
  is ACTIVE, every operation DONE; the reconciler re-drove what killed workers left;
- duplicates (0): every load balancer has exactly one live amphora (a flow run twice would
  have booted two), and each silent amphora was failed over exactly once although two health
  managers watched it.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select

from ottava.db import models as m
from ottava.domain.lifecycles import AmphoraStatus
from ottava.domain.operations import OperationKind
from ottava.wire import heartbeat as wire
from tests import harness, procs
from tests.conftest import VIP_SUBNET
from tests.procs import OTTAVA, RABBIT, TRANSPORT_URL, Deployment, Proc

LBS = "/v2/lbaas/loadbalancers"
HEARTBEAT_KEY = "scale-out-test-heartbeat-key"
HEARTBEAT_TIMEOUT = 4.0  # seconds of silence before a health manager fails an amphora over
OPERATION_LEASE = 5.0  # seconds before the reconciler hands a dead worker's operation on
CLIENTS = 4
LOAD_SECONDS = 25.0  # clients stop creating after this long
KILLS = 6  # processes killed (and started again) during the load, one every KILL_EVERY s
KILL_EVERY = 3.5
SILENT = 3  # amphorae whose heartbeats stop once the load is over
SETTLE_TIMEOUT = 180.0
# Ten Python processes starting at once on two cores take a while to import.
START_TIMEOUT = 240.0


class Heartbeats:
    """Sends a heartbeat for every live amphora to every health manager twice a second, as
    the amphorae themselves would; amphorae in `silent` get none."""

    def __init__(self, database_url: str, targets: list[tuple[str, int]]) -> None:
        self.engine = create_engine(database_url, pool_pre_ping=True)
        self.targets = targets
        self.silent: set[str] = set()
        self.seq = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)

    def live_amphorae(self) -> list[tuple[str, str | None]]:
        with self.engine.connect() as conn:
            return [(a, h) for a, h in conn.execute(
                select(m.Amphora.id, m.LoadBalancer.spec_hash)
                .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
                .where(m.Amphora.status == AmphoraStatus.ALLOCATED))]

    def _run(self) -> None:
        key = HEARTBEAT_KEY.encode()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self.stopping.wait(0.5):
                try:
                    amphorae = self.live_amphorae()
                except Exception:  # the database is busy: the next round tries again
                    continue
                self.seq += 1
                for ident, spec_hash in amphorae:
                    if ident in self.silent:
                        continue
                    datagram = wire.encode(
                        {"id": ident, "seq": self.seq, "hash": spec_hash, "listeners": {},
                         "pools": {}}, wire.amphora_key(key, ident))
                    for target in self.targets:
                        sock.sendto(datagram, target)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.engine.dispose()


@pytest.fixture
def cluster() -> Iterator[tuple[Deployment, str, list[Proc]]]:
    assert OTTAVA.exists(), f"{OTTAVA} is missing: run `make install`"
    assert procs.reachable(RABBIT), "RabbitMQ is not listening on 127.0.0.1:5672"
    database_url = harness.server_database("postgresql")
    state = pathlib.Path(tempfile.mkdtemp(prefix="ottava-scale-out-"))
    topic = f"ottava_test_{uuid.uuid4().hex[:12]}"
    config = state / "ottava.conf"
    config.write_text(
        "[DEFAULT]\n"
        f"transport_url = {TRANSPORT_URL}\n"
        f"\n[database]\nconnection = {database_url}\n"
        f"\n[oslo_messaging]\ntopic = {topic}\n"
        "\n[controller_worker]\n"
        "compute_driver = noop\nnetwork_driver = noop\namphora_driver = noop\nworkers = 4\n"
        "\n[health_manager]\n"
        f"heartbeat_key = {HEARTBEAT_KEY}\nheartbeat_timeout = {HEARTBEAT_TIMEOUT}\n"
        "health_check_interval = 0.5\nreceiver_processes = 0\n"
        "\n[house_keeping]\n"
        f"operation_lease = {OPERATION_LEASE}\nreconcile_interval = 1\n"
        # Several of each process on one host: each serves its metrics on a free port.
        "\n[metrics]\nworker_port = 0\nhealth_manager_port = 0\nhousekeeping_port = 0\n")
    env = {**os.environ, "XDG_DATA_HOME": str(state), "PYTHONUNBUFFERED": "1"}
    dep = Deployment(state, config, topic, env, [])
    try:
        upgrade = subprocess.run(
            [str(OTTAVA), "db", "upgrade", "--config-file", str(config),
             "--state-dir", str(state)],
            capture_output=True, text=True, timeout=120, env=env, cwd=state)
        assert upgrade.returncode == 0, upgrade.stderr
        started: list[Proc] = []
        for n in range(3):
            started.append(dep.start(f"worker-{n}", "worker"))
        for n in range(3):
            started.append(dep.start(f"api-{n}", "api", "--bind",
                                     f"127.0.0.1:{procs.free_port()}"))
        for n in range(2):
            own = state / f"health-manager-{n}.conf"
            own.write_text(f"[health_manager]\nbind_port = {procs.free_port_udp()}\n")
            started.append(dep.start(f"health-manager-{n}", "health-manager",
                                     "--config-file", str(own)))
        for n in range(2):
            started.append(dep.start(f"housekeeping-{n}", "housekeeping"))
        for proc in started:
            procs.wait_for_output(proc, READY[proc.name.rsplit("-", 1)[0]], START_TIMEOUT)
        yield dep, database_url, started
    finally:
        for proc in dep.procs:
            procs.kill(proc)
        procs.delete_queues([topic, *(f"{topic}.{socket.gethostname()}-{p.popen.pid}"
                                      for p in dep.procs)])
        harness.drop_server_database("postgresql", database_url)
        shutil.rmtree(state, ignore_errors=True)


READY = {"worker": "ottava worker: consuming operations", "api": "ottava api: http://",
         "health-manager": "ottava health-manager: heartbeats on",
         "housekeeping": "ottava housekeeping: running"}


def api_url(proc: Proc) -> str:
    return f"http://{proc.args[proc.args.index('--bind') + 1]}"


def heartbeat_target(proc: Proc) -> tuple[str, int]:
    own = pathlib.Path(proc.args[proc.args.index("--config-file") + 1])
    return "127.0.0.1", int(own.read_text().split("bind_port = ")[1].split()[0])


@pytest.mark.timeout(900)
def test_several_of_every_process_lose_nothing_and_do_nothing_twice(
        cluster: tuple[Deployment, str, list[Proc]]) -> None:
    dep, database_url, started = cluster
    running = {p.name: p for p in started}
    lock = threading.Lock()
    accepted: list[str] = []
    refused = Counter[str]()
    stop_at = time.monotonic() + LOAD_SECONDS
    heartbeats = Heartbeats(database_url, [heartbeat_target(p) for p in started
                                           if p.name.startswith("health-manager")])
    heartbeats.start()

    def client(n: int) -> None:
        """Creates load balancers one after another, each once the last is ACTIVE (as
        Terraform does), spread over the APIs; one whose API dies goes to the next."""
        session = requests.Session()
        i = 0

        def call(method: str, path: str, **kw: Any) -> requests.Response | None:
            nonlocal i
            i += 1
            with lock:
                url = api_url(running[f"api-{i % 3}"])
            try:
                return session.request(method, f"{url}{path}", timeout=30, **kw)
            except requests.RequestException as error:  # its API was killed: the next one
                with lock:
                    refused[type(error).__name__] += 1
                time.sleep(0.2)
                return None

        while time.monotonic() < stop_at:
            resp = call("POST", LBS, json={"loadbalancer": {
                "name": f"c{n}-{i}", "vip_subnet_id": VIP_SUBNET}})
            if resp is None:
                continue
            if resp.status_code != 201:
                with lock:
                    refused[str(resp.status_code)] += 1
                assert resp.status_code in (409, 503), resp.text
                continue
            ident = resp.json()["loadbalancer"]["id"]
            with lock:
                accepted.append(ident)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                shown = call("GET", f"{LBS}/{ident}")
                if shown is not None and shown.status_code == 200 and \
                        shown.json()["loadbalancer"]["provisioning_status"] == "ACTIVE":
                    break
                time.sleep(0.2)

    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in clients:
        thread.start()
    chaos = random.Random(os.environ.get("OTTAVA_CHAOS_SEED", str(time.time_ns())))
    killed: list[str] = []
    try:
        for _ in range(KILLS):
            time.sleep(KILL_EVERY)
            victim = running[chaos.choice(sorted(running))]
            killed.append(victim.name)
            with lock:
                running[victim.name] = dep.restart(victim)
        for thread in clients:
            thread.join(timeout=LOAD_SECONDS + 180)
            assert not thread.is_alive()
        for proc in running.values():
            procs.wait_for_output(proc, READY[proc.name.rsplit("-", 1)[0]], START_TIMEOUT)

        # Everything accepted completes, including what killed workers and APIs left.
        settled = wait_settled(database_url, SETTLE_TIMEOUT)
        assert settled, f"operations still unfinished after {SETTLE_TIMEOUT}s:\n" + logs(dep)

        # A few amphorae fall silent: each must be failed over once, by one health manager.
        live = heartbeats.live_amphorae()
        silent = {ident for ident, _ in random.Random(1).sample(live, SILENT)}
        heartbeats.silent |= silent
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline and failovers(database_url, silent) != dict.fromkeys(
                silent, 1):
            time.sleep(0.5)
        # Long enough for a second health manager's second failover to show, were there one.
        time.sleep(3 * HEARTBEAT_TIMEOUT)
        assert wait_settled(database_url, SETTLE_TIMEOUT), logs(dep)
        done_failovers = failovers(database_url, silent)
    finally:
        heartbeats.stop()

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            lbs = dict(conn.execute(
                select(m.LoadBalancer.id, m.LoadBalancer.provisioning_status)).all())
            operations = Counter(state for (state,) in conn.execute(select(m.Operation.state)))
            taken_over = conn.execute(select(m.Operation.id).where(
                m.Operation.attempts > 1)).all()
            amphorae = Counter(lb for (lb,) in conn.execute(
                select(m.Amphora.load_balancer_id).where(
                    m.Amphora.status == AmphoraStatus.ALLOCATED)))
    finally:
        engine.dispose()
    lost = [lb for lb in accepted if lbs.get(lb) != "ACTIVE"]
    lost_operations = sum(n for state, n in operations.items() if state != "DONE")
    doubled = {lb: n for lb, n in amphorae.items() if n != 1}
    failed_over_twice = {a: n for a, n in done_failovers.items() if n > 1}
    print(f"\nscale-out: {len(accepted)} creates accepted over 3 APIs "
          f"({sum(refused.values())} refused or cut: {dict(refused)}); killed {killed}; "
          f"operations done {operations['DONE']} ({len(taken_over)} claimed more than once), "
          f"lost {len(lost) + lost_operations}, "
          f"duplicates {len(doubled) + len(failed_over_twice)}; "
          f"failovers of the {SILENT} silent amphorae: {sorted(done_failovers.values())}")
    assert accepted, "no create was accepted"
    assert not lost and not lost_operations, (lost, operations, logs(dep))
    assert set(lbs.values()) == {"ACTIVE"}, lbs
    assert not doubled, doubled
    assert done_failovers == dict.fromkeys(silent, 1), (done_failovers, logs(dep))


def wait_settled(database_url: str, timeout: float) -> bool:
    """Whether every operation is finished within `timeout` seconds."""
    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                busy = conn.execute(select(m.Operation.id).where(
                    m.Operation.state.in_(["QUEUED", "RUNNING"]))).first()
            if busy is None:
                return True
            time.sleep(0.5)
        return False
    finally:
        engine.dispose()


def failovers(database_url: str, amphorae: set[str]) -> dict[str, int]:
    """How many failover operations each of `amphorae` has had."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            targets = conn.execute(select(m.Operation.target_id).where(
                m.Operation.kind == OperationKind.AMPHORA_FAILOVER)).scalars().all()
    finally:
        engine.dispose()
    counted = Counter(targets)
    return {a: counted[a] for a in amphorae if counted[a]}


def logs(dep: Deployment) -> str:
    return "\n".join(f"--- {p.name} (pid {p.popen.pid})\n{p.output()[-1500:]}"
                     for p in dep.procs if p.popen.poll() is not None or "ERROR" in p.output())
