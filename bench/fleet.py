"""Fleet benchmark: `--lbs` (100) load balancers with real local amphorae on one host (issue 13).

It starts `ottava standalone` with real local drivers and two HTTP backends (bench/dataplane.py's
Rig), creates the load balancers (each: an HTTP listener and a ROUND_ROBIN pool of the two
backends) from `--clients` client threads at once, and prints:

  create            the time until all are ACTIVE, and the p50 and max of one create
  memory per LB     over every process of the amphorae (HAProxy master and worker in each
                    namespace, and the one host agent serving them all), divided by the
                    number of load balancers:
                    RSS (each process's resident pages, shared ones counted in each),
                    PSS (shared pages divided among their sharers: what the fleet really
                    holds), USS (pages no other process shares)
  controller        the RSS of `ottava standalone` itself (its child, the host agent, is
                    counted above)
  traffic           one GET through every VIP, all answered
  failovers         how many the health manager asked for: nothing breaks an amphora here,
                    so each one is a false alarm (the goal is none)

then deletes them all and stops everything by PID. It prints figures; it never asserts them.

    .venv/bin/python bench/fleet.py                 # root, haproxy; about 2-3 minutes
    .venv/bin/python bench/fleet.py --lbs 20
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import os
import pathlib
import re
import sys
import time
from typing import Any

from api import LB, percentile, source_version
from dataplane import Api, Rig, add_rig_options, get, lb_body, memory, netns_pids

GOAL_MB = 30.0  # issue 13: memory per local load balancer


def uss_mb(pids: list[int]) -> float:
    """Private (unshared) memory of these processes, MB."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            rollup = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
            for field in ("Private_Clean", "Private_Dirty"):
                found = re.search(rf"^{field}:\s*(\d+)", rollup, re.M)
                total += int(found.group(1)) if found else 0
    return total / 1024


def failovers_requested(api: Api) -> float:
    """The health manager's count of failovers it asked for (standalone's /metrics). Nothing
    breaks an amphora in this benchmark, so every one is a false alarm."""
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=api.timeout)
    try:
        conn.request("GET", "/metrics", headers=api.headers)
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.search(r"^ottava_failovers_requested(?:_total)? (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


def create(api: Api, members: list[int], number: int, timeout: float) -> tuple[dict[str, Any],
                                                                                float]:
    t0 = time.perf_counter()
    _, body = api.call("POST", LB, lb_body(f"fleet-{number}", members), expect=(201,))
    lb = api.wait(f"{LB}/{body['loadbalancer']['id']}", timeout, 0.05)
    return lb, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lbs", type=int, default=100, help="load balancers (100)")
    p.add_argument("--clients", type=int, default=4, help="creates at once (4)")
    add_rig_options(p, item_timeout=120.0, stop_timeout=30.0)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/fleet.py needs root: amphorae are network namespaces")
        return 2
    print(f"source: {source_version()}", flush=True)
    rig = Rig("obf-")
    created: list[dict[str, Any]] = []
    failed = ""
    res: dict[str, float] = {}
    try:
        api = rig.start_ottava(args.start_timeout)
        members = rig.start_backends()
        print(f"== creating {args.lbs} load balancers, {args.clients} at a time", flush=True)
        t0 = time.perf_counter()
        times: list[float] = []
        with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
            futures = [pool.submit(create, api, members, n, args.item_timeout)
                       for n in range(args.lbs)]
            for future in concurrent.futures.as_completed(futures):
                lb, seconds = future.result()
                created.append(lb)
                times.append(seconds)
                if len(created) % 10 == 0:
                    print(f"  {len(created)} ACTIVE after {time.perf_counter() - t0:.1f} s",
                          flush=True)
        res["all_active"] = time.perf_counter() - t0
        res["create_p50"], res["create_max"] = percentile(times, 50), max(times)
        for lb in created:
            amps = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")[1]
            rig.mine.update(a["compute_id"] for a in amps["amphorae"] if a.get("compute_id"))
        answered = sum(1 for lb in created if get(lb["vip_address"])[0] == 200)
        res["answered"] = answered
        time.sleep(2.0)  # settled: heartbeats, first health reports
        pids = [pid for name in sorted(rig.mine) for pid in netns_pids(name)]
        agent = rig.host_agent_pids()  # one for all of them, outside their namespaces
        res["host_agent_rss"] = memory(agent)[0] if agent else 0.0
        pids += agent
        rss, pss, _ = memory(pids)
        res["rss"], res["pss"], res["uss"] = rss, pss, uss_mb(pids)
        res["processes"] = len(pids)
        assert rig.ottava is not None
        res["controller_rss"] = memory([rig.ottava.popen.pid])[0]  # itself, not the host agent
        res["failovers"] = failovers_requested(api)
        print("== deleting them", flush=True)
        for lb in created:
            api.call("DELETE", f"{LB}/{lb['id']}?cascade=true", expect=(204,))
        for lb in created:
            api.wait(f"{LB}/{lb['id']}", args.item_timeout, 0.1, want="DELETED")
        created.clear()
    except (Exception, KeyboardInterrupt) as exc:
        failed = f"{exc!r}"[:800]
    finally:
        failed = rig.close(args, failed)  # type: ignore[arg-type]
    if failed:
        print(f"FAILED: {failed}")
        return 1
    n = args.lbs
    print(f"\nOttava fleet benchmark, {n} load balancers on one host ({os.cpu_count()} CPUs)")
    print(f"{'figure':<40}{'value':>12}{'goal':>10}")
    rows = [
        ("all ACTIVE (s)", f"{res['all_active']:.1f}", ""),
        ("  one create p50 / max (s)", f"{res['create_p50']:.2f} / {res['create_max']:.2f}",
         ""),
        ("VIPs answering a GET", f"{res['answered']:.0f} / {n}", ""),
        ("failovers (all false: nothing broke)", f"{res['failovers']:.0f}", "0"),
        ("RSS per LB (MB)", f"{res['rss'] / n:.1f}", f"<= {GOAL_MB:.0f}"),
        ("PSS per LB (MB)", f"{res['pss'] / n:.1f}", ""),
        ("USS per LB (MB)", f"{res['uss'] / n:.1f}", ""),
        ("amphora processes", f"{res['processes']:.0f}", ""),
        ("  of which the host agent, RSS (MB)", f"{res['host_agent_rss']:.0f}", ""),
        ("ottava standalone RSS (MB)", f"{res['controller_rss']:.0f}", ""),
    ]
    for label, value, goal in rows:
        print(f"{label:<40}{value:>12}{goal:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
