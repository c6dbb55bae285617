"""Real traffic through a real amphora: one load balancer (a network namespace on the host's
bridge running the agent and HAProxy), reconfigured through the API between tests, serving
HTTP and TCP from backends on the host's bridge address (198.18.0.1).

Covered: LEAST_CONNECTIONS and SOURCE_IP balancing; HTTP_COOKIE and APP_COOKIE stickiness;
L7 reject, redirects and pool routing by path, header, cookie and host; a TCP listener; a
health monitor taking a frozen member out of rotation and back; allowed_cidrs; a PROMETHEUS
listener scraped; a listener's
connection_limit; member admin-down; 100 configuration updates under a bounded load with no
failed request; the fully populated create through openstacksdk serving.

Traffic goes only to 198.18.0.1 (backends), to VIPs in our namespaces and to 127.0.0.1 (the
API). Every load loop is bounded in count and in time, and every server started is stopped.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import harness
from tests.e2e.backends import GATEWAY, Backend

SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPAT_PYTHON = ROOT / ".venv-compat" / "bin" / "python"


@dataclass
class Env:
    stack: harness.Stack
    api: harness.Client
    lb: dict[str, Any]
    vip: str
    pool: str  # the port-80 listener's default pool: members a and b
    listener: str
    members: dict[str, str]  # backend name -> member id in `pool`
    a: Backend
    b: Backend
    c: Backend

    def apply(self, method: str, path: str, body: Any = None, expect: int = 0) -> Any:
        """An API call that changes the load balancer; returns its JSON once it is ACTIVE."""
        resp = self.api.request(method, path, body)
        assert resp.status_code == (expect or {"POST": 201, "PUT": 200, "DELETE": 204}[method]), \
            resp.text
        self.api.wait(f"{LB}/{self.lb['id']}", "loadbalancer", timeout=60)
        return resp.json() if resp.content else None

    def pool_set(self, **values: Any) -> None:
        self.apply("PUT", f"/v2/lbaas/pools/{self.pool}", {"pool": values})

    def member_set(self, name: str, **values: Any) -> None:
        self.apply("PUT", f"/v2/lbaas/pools/{self.pool}/members/{self.members[name]}",
                   {"member": values})

    def add_pool(self, name: str, protocol: str, *backends: Backend) -> str:
        """A pool with one member per backend (the pool API takes no members)."""
        pool = self.apply("POST", "/v2/lbaas/pools", {"pool": {
            "loadbalancer_id": self.lb["id"], "name": name, "protocol": protocol,
            "lb_algorithm": "ROUND_ROBIN"}})["pool"]
        for backend in backends:
            self.apply("POST", f"/v2/lbaas/pools/{pool['id']}/members", {"member": {
                "name": backend.name, "address": GATEWAY, "protocol_port": backend.port}})
        return pool["id"]  # type: ignore[no-any-return]

    def add_listener(self, body: dict[str, Any]) -> dict[str, Any]:
        """A listener (the listener API takes no nested default_pool or l7policies)."""
        body = {"loadbalancer_id": self.lb["id"], **body}
        return self.apply("POST", "/v2/lbaas/listeners", {"listener": body})["listener"]  # type: ignore[no-any-return]


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return {line.split()[0] for line in out.stdout.splitlines() if line.startswith("ottava-")}


def get(address: str, port: int = 80, path: str = "/", headers: dict[str, str] | None = None,
        timeout: float = 5) -> tuple[int, str, http.client.HTTPResponse]:
    """One GET on a new connection: status, body, response (for its headers)."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), resp
    finally:
        conn.close()


def body(env: Env, path: str = "/", **headers: str) -> str:
    status, text, _ = get(env.vip, path=path, headers=headers)
    assert status == 200, (status, text)
    return text


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    with harness.local_stack() as (stack, api):
        yield from _traffic_env(stack, api)


def _traffic_env(stack: harness.Stack, api: harness.Client) -> Iterator[Env]:
    a, b, c = Backend("a"), Backend("b"), Backend("c")
    try:
        resp = api.post(LB, {"loadbalancer": {
            "name": "traffic", "vip_subnet_id": SUBNET,
            "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {"name": "pool"}}],
            "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"name": "a", "address": GATEWAY, "protocol_port": a.port},
                                   {"name": "b", "address": GATEWAY,
                                    "protocol_port": b.port}]}],
        }})
        assert resp.status_code == 201, resp.text
        created = resp.json()["loadbalancer"]
        lb = api.wait(f"{LB}/{created['id']}", "loadbalancer", timeout=60)
        pool = created["pools"][0]["id"]
        members = {m["name"]: m["id"] for m in
                   api.get(f"/v2/lbaas/pools/{pool}/members").json()["members"]}
        yield Env(stack, api, lb, lb["vip_address"], pool, created["listeners"][0]["id"],
                  members, a, b, c)
    finally:
        for backend in (a, b, c):
            backend.stop()


def test_least_connections_avoids_the_busy_member(env: Env) -> None:
    env.pool_set(lb_algorithm="LEAST_CONNECTIONS", session_persistence=None)
    env.a.hold.set()
    env.b.hold.set()
    slow: list[str] = []
    worker = threading.Thread(target=lambda: slow.append(body(env, "/slow")), daemon=True)
    try:
        worker.start()
        deadline = time.monotonic() + 5
        while env.a.inflight + env.b.inflight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = env.a if env.a.inflight else env.b
        assert busy.inflight == 1
        idle = "b" if busy is env.a else "a"
        assert [body(env) for _ in range(8)] == [idle] * 8
    finally:
        env.a.hold.clear()
        env.b.hold.clear()
        worker.join(timeout=10)
    assert slow == [busy.name]


def test_source_ip_pins_a_client_to_one_member(env: Env) -> None:
    env.pool_set(lb_algorithm="SOURCE_IP", session_persistence=None)
    answers = [body(env) for _ in range(10)]
    assert len(set(answers)) == 1, answers
    env.pool_set(lb_algorithm="ROUND_ROBIN")
    assert {body(env) for _ in range(4)} == {"a", "b"}  # the contrast: not pinned any more


def test_http_cookie_stickiness(env: Env) -> None:
    env.pool_set(lb_algorithm="ROUND_ROBIN", session_persistence={"type": "HTTP_COOKIE"})
    cookies: dict[str, str] = {}
    for _ in range(2):  # round robin: two new clients land on two members
        status, text, resp = get(env.vip)
        assert status == 200
        set_cookie = resp.getheader("Set-Cookie")
        assert set_cookie, resp.getheaders()
        cookies[text] = set_cookie.split(";")[0]
    assert set(cookies) == {"a", "b"}
    for name, cookie in cookies.items():
        assert [body(env, Cookie=cookie) for _ in range(5)] == [name] * 5


def test_app_cookie_stickiness(env: Env) -> None:
    env.pool_set(lb_algorithm="ROUND_ROBIN",
                 session_persistence={"type": "APP_COOKIE", "cookie_name": "JSESSIONID"})
    first = {body(env, "/app") for _ in range(2)}  # each member sets JSESSIONID=<itself>
    assert first == {"a", "b"}
    for name in ("a", "b"):
        assert [body(env, Cookie=f"JSESSIONID={name}") for _ in range(5)] == [name] * 5
    env.pool_set(session_persistence=None)


def test_l7_policies(env: Env) -> None:
    routed = env.add_pool("routed", "HTTP", env.a)

    def to_pool(rule: dict[str, Any]) -> dict[str, Any]:
        return {"action": "REDIRECT_TO_POOL", "redirect_pool_id": routed,
                "rules": [{"compare_type": "EQUAL_TO", **rule}]}

    def add_policy(policy: dict[str, Any]) -> None:
        rules = policy.pop("rules")
        created = env.apply("POST", "/v2/lbaas/l7policies", {"l7policy": {
            "listener_id": listener["id"], **policy}})["l7policy"]
        for rule in rules:
            env.apply("POST", f"/v2/lbaas/l7policies/{created['id']}/rules", {"rule": rule})

    listener = env.add_listener({
        "name": "l7", "protocol": "HTTP", "protocol_port": 81,
        "default_pool_id": env.add_pool("default-c", "HTTP", env.c)})
    for policy in [
            {"action": "REJECT",
             "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/forbidden"}]},
            {"action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/new",
             "rules": [{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/old"}]},
            {"action": "REDIRECT_PREFIX", "redirect_prefix": "https://prefix.example",
             "redirect_http_code": 301,
             "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/pfx"}]},
            to_pool({"type": "PATH", "compare_type": "STARTS_WITH", "value": "/special"}),
            to_pool({"type": "HEADER", "key": "X-Route", "value": "yes"}),
            to_pool({"type": "COOKIE", "key": "route", "value": "yes"}),
            to_pool({"type": "HOST_NAME", "value": "special.example"}),
    ]:
        add_policy(policy)

    def at(path: str = "/", **headers: str) -> tuple[int, str, http.client.HTTPResponse]:
        return get(env.vip, 81, path, headers)

    assert at()[:2] == (200, "c")
    assert at("/forbidden")[0] == 403
    status, _, resp = at("/old")
    assert (status, resp.getheader("Location")) == (302, "http://example.com/new")
    status, _, resp = at("/pfx/page?q=1")
    assert (status, resp.getheader("Location")) == (301, "https://prefix.example/pfx/page?q=1")
    assert at("/special/x")[:2] == (200, "a")
    assert at("/other/special")[:2] == (200, "c")
    assert at(**{"X-Route": "yes"})[:2] == (200, "a")
    assert at(**{"X-Route": "no"})[:2] == (200, "c")
    assert at(Cookie="route=yes")[:2] == (200, "a")
    assert at(Cookie="route=no")[:2] == (200, "c")
    assert at(Host="special.example")[:2] == (200, "a")
    assert at(Host="other.example")[:2] == (200, "c")


def test_l7policy_create_with_nested_rules(env: Env) -> None:
    """Octavia's L7PolicyPOST takes `rules` (L7RuleSingleCreate) in the same call."""
    listener = env.add_listener({
        "name": "l7-nested", "protocol": "HTTP", "protocol_port": 84,
        "default_pool_id": env.add_pool("nested", "HTTP", env.c)})
    env.apply("POST", "/v2/lbaas/l7policies", {"l7policy": {
        "listener_id": listener["id"], "action": "REJECT",
        "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/deny"}]}})
    assert get(env.vip, 84, "/deny/x")[0] == 403
    assert get(env.vip, 84, "/")[:2] == (200, "c")


def test_tcp_listener(env: Env) -> None:
    env.add_listener({
        "name": "tcp", "protocol": "TCP", "protocol_port": 9000,
        "default_pool_id": env.add_pool("tcp", "TCP", env.c)})
    with socket.create_connection((env.vip, 9000), timeout=5) as sock:
        sock.sendall(b"GET /tcp HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), data
    assert payload == b"c"


def test_health_monitor_takes_a_frozen_member_out_and_back(env: Env) -> None:
    env.pool_set(lb_algorithm="ROUND_ROBIN", session_persistence=None)
    hm = env.apply("POST", "/v2/lbaas/healthmonitors", {"healthmonitor": {
        "pool_id": env.pool, "type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
        "max_retries_down": 1, "url_path": "/", "expected_codes": "200"}})["healthmonitor"]
    try:
        assert {body(env) for _ in range(4)} == {"a", "b"}
        env.b.freeze()
        started = time.monotonic()
        out = False
        while not out and time.monotonic() - started < 15:
            answers = []
            for _ in range(4):
                try:
                    answers.append(get(env.vip, timeout=1.5)[1])
                except (OSError, http.client.HTTPException):
                    answers.append("timeout")
            out = answers == ["a"] * 4
        assert out, "the frozen member is still in rotation after 15 s"
        print(f"member out of rotation after {time.monotonic() - started:.1f} s")
        assert [body(env) for _ in range(6)] == ["a"] * 6
        env.b.thaw()
        started = time.monotonic()
        back = False
        while not back and time.monotonic() - started < 15:
            back = "b" in {get(env.vip, timeout=3)[1] for _ in range(2)}
            time.sleep(0.2)
        assert back, "the member did not come back within 15 s"
        print(f"member back in rotation after {time.monotonic() - started:.1f} s")
    finally:
        if env.b.frozen:
            env.b.thaw()
        env.apply("DELETE", f"/v2/lbaas/healthmonitors/{hm['id']}")


def refused(address: str, port: int) -> bool:
    """True when a GET is reset, refused, cut short or times out."""
    try:
        get(address, port, timeout=3)
    except (OSError, http.client.HTTPException):
        return True
    return False


def test_allowed_cidrs(env: Env) -> None:
    listener = env.add_listener({
        "name": "cidrs", "protocol": "HTTP", "protocol_port": 82,
        "allowed_cidrs": ["192.0.2.0/24"],
        "default_pool_id": env.add_pool("cidrs", "HTTP", env.c)})
    assert refused(env.vip, 82)
    for cidrs in ([f"{GATEWAY}/32"], ["198.18.0.0/15"]):
        env.apply("PUT", f"/v2/lbaas/listeners/{listener['id']}",
                  {"listener": {"allowed_cidrs": cidrs}})
        assert get(env.vip, 82)[:2] == (200, "c"), cidrs
    env.apply("PUT", f"/v2/lbaas/listeners/{listener['id']}",
              {"listener": {"allowed_cidrs": ["192.0.2.0/24"]}})
    assert refused(env.vip, 82)


def test_prometheus_listener_serves_haproxy_metrics(env: Env) -> None:
    """A PROMETHEUS listener answers /metrics with HAProxy's own exporter: the load
    balancer's listeners, pools and members, with the requests just made counted; any other
    path is 404; allowed_cidrs keeps others out, as on every listener."""
    listener = env.add_listener({"name": "metrics", "protocol": "PROMETHEUS",
                                 "protocol_port": 9100})
    for _ in range(3):  # after the reload that added the listener: counters start at zero
        body(env)
    status, text, resp = get(env.vip, 9100, "/metrics")
    assert status == 200, text
    assert resp.getheader("Content-Type", "").startswith("text/plain")
    requests = [line for line in text.splitlines()
                if line.startswith("haproxy_frontend_http_requests_total{")
                and f'proxy="{env.listener}"' in line]
    assert requests and float(requests[0].rsplit(" ", 1)[1]) >= 3, requests
    members = {line.split('server="', 1)[1].split('"', 1)[0] for line in text.splitlines()
               if line.startswith("haproxy_server_status{")
               and f'proxy="{env.pool}:{env.listener}"' in line}
    assert set(env.members.values()) <= members, (env.members, members)
    assert get(env.vip, 9100, "/")[0] == 404
    env.apply("PUT", f"/v2/lbaas/listeners/{listener['id']}",
              {"listener": {"allowed_cidrs": ["192.0.2.0/24"]}})
    assert refused(env.vip, 9100)
    env.apply("DELETE", f"/v2/lbaas/listeners/{listener['id']}")


def test_connection_limit_queues_the_second_connection(env: Env) -> None:
    env.add_listener({
        "name": "limited", "protocol": "HTTP", "protocol_port": 83, "connection_limit": 1,
        "default_pool_id": env.add_pool("limited", "HTTP", env.c)})
    assert get(env.vip, 83)[:2] == (200, "c")
    first = socket.create_connection((env.vip, 83), timeout=5)  # held open, idle
    result: list[Any] = []

    def second() -> None:
        try:
            result.append(get(env.vip, 83, timeout=10)[:2])
        except (OSError, http.client.HTTPException) as e:
            result.append(e)

    worker = threading.Thread(target=second, daemon=True)
    try:
        time.sleep(0.2)
        worker.start()
        worker.join(timeout=1.5)
        assert worker.is_alive() and not result, f"served while the limit was taken: {result}"
    finally:
        first.close()
    released = time.monotonic()
    worker.join(timeout=8)
    assert result == [(200, "c")], result
    print(f"queued connection served {time.monotonic() - released:.2f} s after the first ended")


def test_member_admin_down_gets_no_traffic(env: Env) -> None:
    env.pool_set(lb_algorithm="ROUND_ROBIN", session_persistence=None)
    env.member_set("b", admin_state_up=False)
    try:
        served = env.b.served
        assert [body(env) for _ in range(8)] == ["a"] * 8
        assert env.b.served == served
    finally:
        env.member_set("b", admin_state_up=True)
    assert {body(env) for _ in range(4)} == {"a", "b"}


def test_100_updates_under_load_fail_no_request(env: Env) -> None:
    env.pool_set(lb_algorithm="ROUND_ROBIN", session_persistence=None)
    stop = threading.Event()
    served: list[str] = []
    failed: list[str] = []

    def load() -> None:  # bounded: 50 000 requests, 180 s, or until the updates are done
        deadline = time.monotonic() + 180
        while not stop.is_set() and time.monotonic() < deadline and len(served) < 50_000:
            try:
                status, text, _ = get(env.vip, timeout=5)
                (served if status == 200 else failed).append(text or str(status))
            except (OSError, http.client.HTTPException) as e:
                failed.append(repr(e))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    started = time.monotonic()
    try:
        for i in range(100):
            if i % 2:
                env.member_set("a", weight=1 + (i // 2) % 2 + 1)
            else:
                env.apply("PUT", f"/v2/lbaas/listeners/{env.listener}", {"listener": {
                    "name": f"web-{i}", "timeout_client_data": 50000 + i}})
    finally:
        stop.set()
        worker.join(timeout=15)
    elapsed = time.monotonic() - started
    env.member_set("a", weight=1)
    print(f"100 updates in {elapsed:.1f} s; {len(served)} requests served, "
          f"{len(failed)} failed")
    assert not worker.is_alive()
    assert failed == [], failed[:5]
    assert len(served) > 100


SDK_SCRIPT = '''
import json, os, openstack
conn = openstack.connect(auth_type="none",
                         load_balancer_endpoint_override=os.environ["OTTAVA_URL"])
a, b = int(os.environ["PORT_A"]), int(os.environ["PORT_B"])
members = [{"name": "a", "address": "198.18.0.1", "protocol_port": a, "weight": 2},
           {"name": "b", "address": "198.18.0.1", "protocol_port": b, "weight": 2}]
lb = conn.load_balancer.create_load_balancer(
    name="sdk-graph", vip_subnet_id=os.environ["SUBNET"],
    listeners=[{"name": "sdk-web", "protocol": "HTTP", "protocol_port": 80,
                "connection_limit": 1000, "timeout_client_data": 30000,
                "default_pool": {"name": "sdk-pool"},
                "l7policies": [{"action": "REJECT", "name": "no-admin",
                                "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                           "value": "/admin"}]}]}],
    pools=[{"name": "sdk-pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "HTTP_COOKIE"},
            "healthmonitor": {"type": "HTTP", "delay": 2, "timeout": 1, "max_retries": 2,
                              "url_path": "/", "expected_codes": "200"},
            "members": members}])
lb = conn.load_balancer.wait_for_load_balancer(lb.id, status="ACTIVE", failures=["ERROR"],
                                               interval=0.2, wait=60)
print("@@RESULT@@" + json.dumps({"id": lb.id, "vip": lb.vip_address,
                                 "status": lb.provisioning_status}))
'''


@pytest.fixture(scope="module")
def compat_python() -> pathlib.Path:
    """The venv holding the real openstacksdk, installed by tools/compat-venv.sh if missing."""
    root = pathlib.Path(__file__).resolve().parents[2]
    done = subprocess.run(["bash", str(root / "tools" / "compat-venv.sh")], cwd=root,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0 and COMPAT_PYTHON.exists(), done.stderr[-3000:]
    return COMPAT_PYTHON


def test_fully_populated_create_through_openstacksdk_serves(env: Env,
                                                           compat_python: pathlib.Path
                                                           ) -> None:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("OS_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    clean.update({"OTTAVA_URL": env.stack.url, "SUBNET": SUBNET,
                  "PORT_A": str(env.a.port), "PORT_B": str(env.b.port)})
    with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="traffic-sdk-",
                                     delete=False) as fh:
        fh.write(textwrap.dedent(SDK_SCRIPT))
    started = time.monotonic()
    try:
        proc = subprocess.run([str(COMPAT_PYTHON), fh.name], env=clean, capture_output=True,
                              text=True, timeout=90, stdin=subprocess.DEVNULL)
    finally:
        os.unlink(fh.name)
    assert proc.returncode == 0, proc.stderr[-4000:]
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("@@RESULT@@")]
    result = json.loads(line[len("@@RESULT@@"):])
    print(f"openstacksdk fully populated create -> ACTIVE in "
          f"{time.monotonic() - started:.2f} s (including the interpreter's start)")
    assert result["status"] == "ACTIVE"
    try:
        assert {get(result["vip"])[1] for _ in range(4)} == {"a", "b"}
        assert get(result["vip"], path="/admin/x")[0] == 403
    finally:
        assert env.api.delete(f"{LB}/{result['id']}?cascade=true").status_code == 204
        env.api.wait_gone(f"{LB}/{result['id']}", timeout=60)
