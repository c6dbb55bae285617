"""`ottava worker` and `ottava api` as separate processes, talking over RabbitMQ and sharing
one SQLite database: a load balancer and a listener reach ACTIVE (so the worker consumed the
API's casts), a cascade delete removes them, and both processes stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests import procs
from tests.conftest import VIP_SUBNET
from tests.harness import Client
from tests.procs import (
    OTTAVA,
    RABBIT,
    TRANSPORT_URL,
    Deployment,
    free_port,
    wait_for_http,
    wait_for_output,
)

STOP_TIMEOUT = 15.0
LB = "/v2/lbaas/loadbalancers"


@pytest.fixture(autouse=True)
def _prerequisites() -> None:
    # Fail, never skip: CI (.ci/run) starts RabbitMQ and `make` installs the console script.
    assert OTTAVA.exists(), f"{OTTAVA} is missing: run `make install`"
    assert procs.reachable(RABBIT), \
        "RabbitMQ is not listening on 127.0.0.1:5672 (.ci/run starts it)"


@pytest.fixture
def deployment() -> Iterator[Deployment]:
    state = pathlib.Path(tempfile.mkdtemp(prefix="ottava-procs-"))
    topic = f"ottava_test_{uuid.uuid4().hex[:12]}"
    config = state / "ottava.conf"
    config.write_text(
        "[DEFAULT]\n"
        f"transport_url = {TRANSPORT_URL}\n"
        "\n[database]\n"
        f"connection = sqlite:///{state / 'ottava.db'}\n"
        "\n[oslo_messaging]\n"
        f"topic = {topic}\n"
        "\n[controller_worker]\n"
        "compute_driver = noop\n"
        "network_driver = noop\n"
        "amphora_driver = noop\n"
        # Processes of other tests may run beside: each serves its metrics on a free port.
        "\n[metrics]\nworker_port = 0\nhealth_manager_port = 0\nhousekeeping_port = 0\n"
    )
    env = {**os.environ, "XDG_DATA_HOME": str(state), "PYTHONUNBUFFERED": "1"}
    dep = Deployment(state, config, topic, env, [])
    try:
        yield dep
    finally:
        for proc in dep.procs:
            procs.kill(proc)
        # The topic queue, and `<topic>.<server>` where the server is "<hostname>-<pid>".
        procs.delete_queues([topic, *(f"{topic}.{socket.gethostname()}-{p.popen.pid}"
                                 for p in dep.procs)])
        shutil.rmtree(state, ignore_errors=True)


def test_api_and_worker_processes_over_rabbitmq(deployment: Deployment) -> None:
    upgrade = subprocess.run(
        [str(OTTAVA), "db", "upgrade", "--config-file", str(deployment.config),
         "--state-dir", str(deployment.state)],
        capture_output=True, text=True, timeout=120, env=deployment.env, cwd=deployment.state,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    assert (deployment.state / "ottava.db").exists()

    worker = deployment.start("worker", "worker")
    wait_for_output(worker, "ottava worker: consuming operations")
    port = free_port()
    api_proc = deployment.start("api", "api", "--bind", f"127.0.0.1:{port}")
    base = f"http://127.0.0.1:{port}"
    wait_for_output(api_proc, f"ottava api: http://127.0.0.1:{port}")
    wait_for_http(base + "/", api_proc)

    api = Client(base)
    resp = api.post(LB, {"loadbalancer": {"name": "procs", "vip_subnet_id": VIP_SUBNET}})
    assert resp.status_code == 201, resp.text
    lb = resp.json()["loadbalancer"]
    assert lb["provisioning_status"] == "PENDING_CREATE"
    # Only the worker process runs operations: ACTIVE means the cast went through RabbitMQ.
    lb = api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)
    assert lb["provisioning_status"] == "ACTIVE"

    resp = api.post("/v2/lbaas/listeners",
                    {"listener": {"loadbalancer_id": lb["id"], "protocol": "HTTP",
                                  "protocol_port": 80}})
    assert resp.status_code == 201, resp.text
    listener = resp.json()["listener"]
    api.wait(f"/v2/lbaas/listeners/{listener['id']}", "listener", timeout=60)
    assert api.wait(f"{LB}/{lb['id']}", "loadbalancer", timeout=60)["listeners"] == [
        {"id": listener["id"]}]

    resp = api.delete(f"{LB}/{lb['id']}?cascade=true")
    assert resp.status_code == 204, resp.text
    api.wait_gone(f"{LB}/{lb['id']}", timeout=60)
    assert api.get(f"/v2/lbaas/listeners/{listener['id']}").status_code == 404
    listed = api.get(LB).json()["loadbalancers"]
    assert lb["id"] not in [item["id"] for item in listed]

    for proc in (api_proc, worker):
        assert proc.popen.poll() is None, f"{proc.name} died:\n{proc.output()}"
        proc.popen.send_signal(signal.SIGTERM)
    for proc in (api_proc, worker):
        try:
            code = proc.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{proc.name} still running {STOP_TIMEOUT}s after "
                                 f"SIGTERM:\n{proc.output()}") from None
        assert code == 0, f"{proc.name} exited with {code}:\n{proc.output()}"


def _metrics_url(proc: procs.Proc) -> str:
    line = proc.whole_output().split("; metrics on ", 1)
    assert len(line) == 2, f"{proc.name} did not say where its metrics are:\n{proc.output()}"
    return line[1].split()[0]


def test_worker_health_manager_and_housekeeping_serve_their_metrics(
        deployment: Deployment) -> None:
    upgrade = subprocess.run(
        [str(OTTAVA), "db", "upgrade", "--config-file", str(deployment.config),
         "--state-dir", str(deployment.state)],
        capture_output=True, text=True, timeout=120, env=deployment.env, cwd=deployment.state)
    assert upgrade.returncode == 0, upgrade.stderr
    own = deployment.state / "health-manager.conf"
    own.write_text(f"[health_manager]\nbind_ip = 127.0.0.1\nbind_port = {procs.free_port_udp()}\n")
    started = {
        "worker": (deployment.start("worker", "worker"), "ottava worker: consuming",
                   "ottava_operations_total"),
        "health-manager": (deployment.start("health-manager", "health-manager",
                                            "--config-file", str(own)),
                           "ottava health-manager: heartbeats on", "ottava_heartbeats_received"),
        "housekeeping": (deployment.start("housekeeping", "housekeeping"),
                         "ottava housekeeping: running", "ottava_reconciler_redriven_total"),
    }
    for name, (proc, ready, metric) in started.items():
        wait_for_output(proc, ready)
        page = requests.get(_metrics_url(proc), timeout=10)
        assert page.status_code == 200, f"{name}: {page.status_code}"
        assert page.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert metric in page.text, f"{name} serves no {metric}:\n{page.text[:2000]}"
    for proc, _, _ in started.values():
        proc.popen.send_signal(signal.SIGTERM)
    for proc, _, _ in started.values():
        assert proc.popen.wait(timeout=STOP_TIMEOUT) == 0, proc.output()
