"""Amphora logs end to end: HAProxy in a real amphora sends its flow and admin logs by syslog to
the collector `ottava standalone` runs (here the test stack's, on the bridge address), which
files them per load balancer; `ottava logs` shows them.

Covered: a request through the VIP appears in the tenant log in Octavia's default format
(project, load balancer, frontend, client address, request, status, backend, server); HAProxy's
own events (its health check taking a dead member down) are in the admin log; TCP as the log
protocol (HAProxy's rings) delivers too; `[haproxy_amphora] connection_logging = false` logs
no request; `ottava logs` prints the lines and follows new ones.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests import harness
from tests.e2e.backends import GATEWAY, Backend
from tests.harness import eventually

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"


def serve(api: harness.Client, backend: Backend) -> dict[str, Any]:
    resp = api.post(LB, {"loadbalancer": {
        "vip_subnet_id": SUBNET, "name": "logged",
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {
                           "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                           "healthmonitor": {"type": "TCP", "delay": 1, "timeout": 1,
                                             "max_retries": 1, "max_retries_down": 1},
                           "members": [{"address": GATEWAY, "protocol_port": backend.port},
                                       {"address": GATEWAY, "protocol_port": closed_port()}]}}]}})
    assert resp.status_code == 201, resp.text
    return api.wait(f"{LB}/{resp.json()['loadbalancer']['id']}", "loadbalancer",  # type: ignore[no-any-return]
                    timeout=60)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((GATEWAY, 0))
        return int(s.getsockname()[1])


def request(vip: str, path: str) -> int:
    conn = http.client.HTTPConnection(vip, 80, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def lines(stack: harness.Stack, lb_id: str, kind: str) -> list[str]:
    assert stack.log_collector is not None
    return stack.log_collector.store.read(lb_id, kind, 1000)


@pytest.mark.parametrize("protocol", ["UDP", "TCP"])
def test_requests_reach_the_tenant_log(protocol: str) -> None:
    overrides = {"amphora_agent": {"log_protocol": protocol}}
    with harness.local_stack(health=True, overrides=overrides) as (stack, api):
        backend = Backend("a")
        try:
            lb = serve(api, backend)
            assert request(lb["vip_address"], f"/logged-{protocol}") == 200
            [line] = eventually(lambda: [ln for ln in lines(stack, lb["id"], "tenant")
                                         if f"/logged-{protocol}" in ln], 10,
                                "the request in the tenant log")
            listener_id = lb["listeners"][0]["id"]
            pool_id = lb["pools"][0]["id"]
            words = line.split()
            # <received> <tag>: <project> <lb> <frontend> <client> <port> <time> ...
            assert words[1].startswith("haproxy[")
            assert words[2:5] == [lb["project_id"], lb["id"], listener_id]
            assert words[5] == GATEWAY  # the client
            assert f'"GET /logged-{protocol} HTTP/1.1" 200' in line
            assert f"{pool_id}:{listener_id}" in line  # the backend
            # HAProxy's own events: its health check finding the second member down.
            eventually(lambda: any("is DOWN" in ln for ln in lines(stack, lb["id"], "admin")),
                       15, "the dead member's state change in the admin log")
        finally:
            backend.stop()


def test_connection_logging_off_logs_no_request() -> None:
    overrides = {"haproxy_amphora": {"connection_logging": False}}
    with harness.local_stack(health=True, overrides=overrides) as (stack, api):
        backend = Backend("a")
        try:
            lb = serve(api, backend)
            for _ in range(3):
                assert request(lb["vip_address"], "/quiet") == 200
            time.sleep(1.0)  # what was sent has arrived
            assert lines(stack, lb["id"], "tenant") == []
        finally:
            backend.stop()


def test_ottava_logs_prints_and_follows() -> None:
    with harness.local_stack(health=True) as (stack, api):
        backend = Backend("a")
        try:
            lb = serve(api, backend)
            assert request(lb["vip_address"], "/first") == 200
            eventually(lambda: any("/first" in ln for ln in lines(stack, lb["id"], "tenant")),
                       10, "the first request logged")
            state = str(stack.settings.common.state_dir)
            shown = subprocess.run(
                [sys.executable, "-m", "ottava.cmd.main", "logs", "--state-dir", state,
                 "--config-file", os.devnull, "logged"],
                capture_output=True, text=True, timeout=60, check=False)
            assert shown.returncode == 0, shown.stderr
            assert "/first" in shown.stdout
            follower = subprocess.Popen(
                [sys.executable, "-m", "ottava.cmd.main", "logs", "--state-dir", state,
                 "--config-file", os.devnull, "-f", "-n", "0", lb["id"]],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            seen: list[str] = []
            reader = threading.Thread(target=lambda: seen.extend(iter(
                follower.stdout.readline, "")) if follower.stdout else None, daemon=True)
            reader.start()
            try:
                # A request a second until one is followed (the command takes a moment to
                # start following; what is written before that is not new to it).
                deadline = time.monotonic() + 30
                while not any("/second" in ln for ln in seen) and time.monotonic() < deadline:
                    assert request(lb["vip_address"], "/second") == 200
                    time.sleep(1.0)
                assert any("/second" in ln for ln in seen), "no new line followed in 30 s"
                assert not any("/first" in ln for ln in seen)  # -n 0: nothing old
            finally:
                follower.terminate()
                follower.wait(timeout=10)
                reader.join(timeout=5)
        finally:
            backend.stop()
