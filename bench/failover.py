"""Failover benchmark: how fast Ottava notices and repairs what breaks, with real amphorae.

It runs a real `ottava standalone` (local drivers, SQLite, its defaults: a heartbeat every
second, failover after three silent seconds, VRRP adverts every 0.2 s) and Python HTTP
backends on 198.18.0.1, and measures, `--repeats` times each:

  member ERROR     a backend stops (its port refuses) -> the member's operating_status is
                   ERROR in the API. Health monitor delay 1 s, timeout 1 s, max_retries_down
                   3: the target is delay x max_retries + 2 s = 5 s.
  SINGLE serving   the amphora's namespace is destroyed (every process in it killed, then the
                   namespace deleted) -> the VIP answers again (target 5 s), and -> the load
                   balancer is ACTIVE again on a new amphora.
  AS takeover      ACTIVE_STANDBY: the namespace holding the VIP is destroyed under a load of
                   sequential GETs (0.3 s timeout each) -> the longest gap between two served
                   requests (target 1.5 s) and how many requests failed; then -> the pair is
                   whole again (the dead amphora replaced).

It prints each run and the median and worst of each figure; it never asserts them. Everything
it starts is stopped by PID; the amphorae go with their load balancers, and any namespace of
this run still present at the end is removed.

    .venv/bin/python bench/failover.py               # needs root (namespaces)
    .venv/bin/python bench/failover.py --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api import LB, VENV_BIN, VIP_SUBNET, source_version, spawn, stop, tail
from dataplane import (
    GATEWAY,
    Api,
    Failure,
    free_port,
    get,
    namespaces,
    netns_pids,
    remove_namespace,
    run,
    wait_api,
)

POLL = 0.02


class Backend:
    """An HTTP server on the bridge address answering its name; stop() refuses connections."""

    def __init__(self, name: str, port: int = 0) -> None:
        body = name.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer((GATEWAY, port), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *a: None  # type: ignore[method-assign]
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until `check()` is truthy (polled every POLL s); Failure after `timeout`."""
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic() - start
        time.sleep(POLL)
    raise Failure(f"{what} did not happen within {timeout:.0f} s")


def serves(vip: str) -> bool:
    """One GET of the VIP answered 200 (a reset half-way through an answer is a failure)."""
    with contextlib.suppress(OSError, http.client.HTTPException):
        status, _ = get(vip)
        return status == 200
    return False


def destroy(namespace: str) -> None:
    """A dead host: every process in the namespace killed, then the namespace deleted."""
    for pid in netns_pids(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    run("ip", "netns", "delete", namespace, check=False)


def holder(names: list[str], vip: str) -> str | None:
    for name in names:
        if f" {vip}/32 " in run("ip", "-n", name, "-4", "-o", "addr", "show", "dev", "eth0",
                               check=False):
            return name
    return None


class Bench:
    def __init__(self, api: Api, args: argparse.Namespace) -> None:
        self.api, self.args = api, args
        self.flavor = ""

    def create(self, members: list[Backend], monitor: bool, flavor: str = "") -> dict[str, Any]:
        pool: dict[str, Any] = {
            "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": GATEWAY, "protocol_port": b.port, "name": f"m{i}"}
                        for i, b in enumerate(members)]}
        if monitor:
            pool["healthmonitor"] = {"type": "HTTP", "delay": 1, "timeout": 1,
                                     "max_retries": 3, "max_retries_down": 3}
        body: dict[str, Any] = {"vip_subnet_id": VIP_SUBNET, "listeners": [
            {"protocol": "HTTP", "protocol_port": 80, "default_pool": pool}]}
        if flavor:
            body["flavor_id"] = flavor
        lb = self.api.call("POST", LB, {"loadbalancer": body})[1]["loadbalancer"]
        self.api.wait(f"{LB}/{lb['id']}", 120, 0.05)
        until(lambda: serves(lb["vip_address"]), 30, "the VIP serving")
        return lb  # type: ignore[no-any-return]

    def delete(self, lb: dict[str, Any]) -> None:
        self.api.call("DELETE", f"{LB}/{lb['id']}?cascade=true")
        self.api.wait(f"{LB}/{lb['id']}", 120, 0.1, want="DELETED")

    def amphorae(self, lb_id: str) -> list[dict[str, Any]]:
        return [a for a in self.api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")
                [1]["amphorae"] if a["status"] != "DELETED"]

    def member_status(self, lb_id: str, name: str) -> str:
        tree = self.api.call("GET", f"{LB}/{lb_id}/status")[1]["statuses"]["loadbalancer"]
        members = tree["listeners"][0]["pools"][0]["members"]
        return str(next(m["operating_status"] for m in members if m["name"] == name))

    def member_error(self) -> float:
        a, b = Backend("a"), Backend("b")
        try:
            lb = self.create([a, b], monitor=True)
            until(lambda: self.member_status(lb["id"], "m1") == "ONLINE", 30, "m1 ONLINE")
            b.stop()
            took = until(lambda: self.member_status(lb["id"], "m1") == "ERROR", 30,
                         "member ERROR")
            self.delete(lb)
            return took
        finally:
            a.stop()
            with contextlib.suppress(OSError):
                b.stop()

    def single(self) -> tuple[float, float]:
        a = Backend("a")
        try:
            lb = self.create([a], monitor=False)
            [amp] = self.amphorae(lb["id"])
            start = time.monotonic()
            destroy(amp["compute_id"])
            serving = until(lambda: serves(lb["vip_address"]), 60, "the VIP serving again")

            def active_again() -> bool:
                now = self.amphorae(lb["id"])
                status = self.api.call("GET", f"{LB}/{lb['id']}")[1]["loadbalancer"]
                return (status["provisioning_status"] == "ACTIVE" and len(now) == 1
                        and now[0]["id"] != amp["id"] and now[0]["status"] == "ALLOCATED")

            until(active_again, 60, "ACTIVE on a new amphora")
            active = time.monotonic() - start
            self.delete(lb)
            return serving, active
        finally:
            a.stop()

    def active_standby(self) -> tuple[float, int, int, float]:
        a = Backend("a")
        try:
            lb = self.create([a], monitor=False, flavor=self.ha_flavor())
            vip = lb["vip_address"]
            names = [x["compute_id"] for x in self.amphorae(lb["id"])]
            until(lambda: holder(names, vip), 10, "keepalived holding the VIP")
            master = holder(names, vip)
            assert master is not None
            results: list[tuple[float, bool]] = []
            stop_load = threading.Event()

            def load() -> None:
                deadline = time.monotonic() + 60
                while not stop_load.is_set() and time.monotonic() < deadline \
                        and len(results) < 20_000:
                    ok = serves(vip)
                    results.append((time.monotonic(), ok))
                    if not ok:
                        time.sleep(0.01)  # as a client would, not a busy loop

            thread = threading.Thread(target=load, daemon=True)
            thread.start()
            time.sleep(1.0)
            killed = time.monotonic()
            destroy(master)
            until(lambda: any(t > killed and ok for t, ok in results), 30, "served again")
            time.sleep(1.0)
            stop_load.set()
            thread.join(timeout=10)
            served = [t for t, ok in results if ok]
            gap = max((b - x for x, b in itertools.pairwise(served) if b > killed),
                      default=float("nan"))
            failed = sum(1 for _, ok in results if not ok)

            def whole() -> bool:
                now = self.amphorae(lb["id"])
                return len(now) == 2 and all(x["status"] == "ALLOCATED" for x in now) \
                    and master not in {x["compute_id"] for x in now}

            until(whole, 60, "the pair rebuilt")
            rebuilt = time.monotonic() - killed
            self.delete(lb)
            return gap, failed, len(results), rebuilt
        finally:
            a.stop()

    def ha_flavor(self) -> str:
        if not self.flavor:
            profile = self.api.call("POST", "/v2/lbaas/flavorprofiles", {"flavorprofile": {
                "name": "bench-ha", "provider_name": "amphora",
                "flavor_data": json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"})}})[1]
            self.flavor = self.api.call("POST", "/v2/lbaas/flavors", {"flavor": {
                "name": "bench-ha",
                "flavor_profile_id": profile["flavorprofile"]["id"]}})[1]["flavor"]["id"]
        return self.flavor


def summary(name: str, values: list[float], target: str, unit: str = "s") -> str:
    if not values:
        return f"{name:<42} {'-':>8} {'-':>8}  {target}"
    return (f"{name:<42} {statistics.median(values):>7.2f}{unit} {max(values):>7.2f}{unit}"
            f"  {target}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--stop-timeout", type=float, default=20.0)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/failover.py needs root: amphorae are network namespaces")
        return 2
    for tool in ("haproxy", "keepalived", "ip"):
        if not shutil.which(tool):
            print(f"bench/failover.py needs {tool}")
            return 2
    print(f"source: {source_version()}", flush=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ottava-bench-fo-"))
    before = namespaces("ottava-")
    ottava = None
    failed = ""
    figures: dict[str, list[float]] = {"member": [], "serving": [], "active": [], "gap": [],
                                       "lost": [], "rebuilt": []}
    try:
        port = free_port()
        state = tmp / "state"
        state.mkdir()
        config = tmp / "ottava.conf"
        config.write_text(f"[health_manager]\nbind_port = {free_port()}\n")
        ottava = spawn("ottava standalone", [
            str(VENV_BIN / "ottava"), "standalone", "--bind", f"127.0.0.1:{port}",
            "--network-api-bind", f"127.0.0.1:{free_port()}", "--state-dir", str(state),
            "--config-file", str(config)], tmp / "ottava.log")
        wait_api(port, ottava, args.start_timeout)
        bench = Bench(Api(port, 30), args)
        for i in range(args.repeats):
            took = bench.member_error()
            figures["member"].append(took)
            print(f"  #{i + 1} backend stopped -> member ERROR      {took:6.2f} s", flush=True)
            serving, active = bench.single()
            figures["serving"].append(serving)
            figures["active"].append(active)
            print(f"  #{i + 1} SINGLE amphora killed -> VIP serving {serving:6.2f} s, "
                  f"ACTIVE {active:6.2f} s", flush=True)
            gap, lost, total, rebuilt = bench.active_standby()
            figures["gap"].append(gap)
            figures["lost"].append(lost)
            figures["rebuilt"].append(rebuilt)
            print(f"  #{i + 1} ACTIVE_STANDBY master killed -> gap {gap:5.2f} s, "
                  f"{lost}/{total} requests failed, pair whole after {rebuilt:5.2f} s",
                  flush=True)
    except (Failure, OSError, AssertionError) as exc:
        failed = str(exc)
        print(f"FAILED: {exc}")
        if ottava is not None:
            print(tail(ottava.log))
    finally:
        if ottava is not None:
            stop(ottava, args.stop_timeout)
        for name in namespaces("ottava-") - before:
            remove_namespace(name)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'figure (' + str(args.repeats) + ' runs)':<42} {'median':>8} {'worst':>8}  target")
    print(summary("backend stopped -> member ERROR", figures["member"], "<= 5 s (1 x 3 + 2)"))
    print(summary("SINGLE amphora killed -> VIP serving", figures["serving"], "<= 5 s"))
    print(summary("SINGLE amphora killed -> ACTIVE again", figures["active"], ""))
    print(summary("ACTIVE_STANDBY takeover (longest gap)", figures["gap"], "<= 1.5 s"))
    print(summary("ACTIVE_STANDBY requests failed", figures["lost"], "", unit=" "))
    print(summary("ACTIVE_STANDBY pair whole again", figures["rebuilt"], ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    sys.exit(main())
