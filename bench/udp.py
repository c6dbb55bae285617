"""UDP benchmark: datagrams through a real local amphora's UDP listener (nftables, decision
0023), created through Ottava's API, against the same mechanism written by hand: the smallest
nftables DNAT that balances the same two members, in a namespace of its own on the same
bridge (issue 13).

It starts everything it measures and stops it by PID at the end (bench/dataplane.py's Rig):

  ottava standalone   real local drivers, SQLite in a temporary --state-dir
  2 backends          UDP echo servers on 198.18.0.1 (one Python process each), answering
                      every datagram with its own bytes
  load balancer       a UDP listener :5300, ROUND_ROBIN pool of the two backends
  baseline            a namespace on `ottava0` holding 198.19.255.254, with forwarding on and
                      two rules: `dnat to numgen inc mod 2 map {...}` and `masquerade`

Figure: request/response datagrams per second, `--flows` client processes at once, each one
flow (one socket) sending a 64-byte datagram and waiting for its echo before the next (a lost
datagram is given up after 0.2 s and counted); Ottava and baseline interleaved, `--repeats`
runs of `--duration` seconds each, median shown, with the ratio. Clients, echo servers and
the kernel share this machine's CPUs: the figure is what the whole path gives on it, and the
ratio what Ottava's table costs beyond the bare rule (its counters, guard chain, mark and
member map). It prints figures; it never asserts them.

    .venv/bin/python bench/udp.py                       # root, nft
    .venv/bin/python bench/udp.py --duration 2 --repeats 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import socket
import statistics
import sys
import time
from typing import Any

from api import percentile, source_version
from dataplane import (
    BASELINE_ADDRESS,
    BASELINE_NS,
    GATEWAY,
    Api,
    Rig,
    add_rig_options,
    create_baseline_namespace,
    free_port,
    run,
)

PORT = 5300
PAYLOAD = b"x" * 64
GIVE_UP = 0.2  # seconds a client waits for one echo


def echo(port: int, ready: Any, stop: Any) -> None:
    """A UDP echo server on the bridge address (a process of its own)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((GATEWAY, port))
        sock.settimeout(0.2)
        ready.set()
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            sock.sendto(data, peer)


def client(target: tuple[str, int], duration: float, out: Any) -> None:
    """One flow: ping-pong for `duration` seconds; puts (answered, lost, latencies)."""
    answered = lost = 0
    latencies: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(GIVE_UP)
        sock.connect(target)
        end = time.perf_counter() + duration
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                break
            sock.send(PAYLOAD)
            try:
                while sock.recv(2048) != PAYLOAD:
                    pass
                answered += 1
                if answered % 16 == 0:
                    latencies.append(time.perf_counter() - t0)
            except OSError:
                lost += 1
    out.put((answered, lost, latencies))


def load(target: tuple[str, int], flows: int, duration: float) -> dict[str, float]:
    out: Any = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(target, duration, out))
             for _ in range(flows)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=duration + 30) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    answered = sum(r[0] for r in results)
    latencies = [x for r in results for x in r[2]]
    return {"dps": answered / duration, "lost": sum(r[1] for r in results),
            "p50_us": percentile(latencies, 50) * 1e6 if latencies else 0.0}


def baseline_rules(members: list[int]) -> str:
    slots = ", ".join(f"{i} : {GATEWAY} . {port}" for i, port in enumerate(members))
    return (f"table ip udpbench {{\n"
            f"  chain pre {{ type nat hook prerouting priority dstnat; policy accept;\n"
            f"    ip daddr {BASELINE_ADDRESS} udp dport {PORT} "
            f"dnat to numgen inc mod {len(members)} map {{ {slots} }}\n  }}\n"
            f"  chain post {{ type nat hook postrouting priority srcnat; policy accept;\n"
            f"    ct status dnat masquerade\n  }}\n}}\n")


def answers(target: tuple[str, int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            sock.sendto(PAYLOAD, target)
            try:
                if sock.recv(2048) == PAYLOAD:
                    return True
            except OSError:
                time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flows", type=int, default=8, help="client processes, one flow each (8)")
    p.add_argument("--repeats", type=int, default=3, help="runs per side (3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    add_rig_options(p)
    args = p.parse_args(argv)
    if os.geteuid() != 0 or not shutil.which("nft"):
        print("bench/udp.py needs root (amphorae are network namespaces) and nft")
        return 2
    print(f"source: {source_version()}", flush=True)
    rig = Rig("obu-")
    stop = multiprocessing.Event()
    servers: list[multiprocessing.Process] = []
    failed = ""
    runs: dict[str, list[dict[str, float]]] = {"ottava": [], "baseline": []}
    try:
        api: Api = rig.start_ottava(args.start_timeout)
        members = [free_port(GATEWAY) for _ in range(2)]
        for port in members:
            ready = multiprocessing.Event()
            server = multiprocessing.Process(target=echo, args=(port, ready, stop))
            server.start()
            servers.append(server)
            ready.wait(10)
            print(f"  started UDP echo pid {server.pid} on {GATEWAY}:{port}", flush=True)
        t0 = time.perf_counter()
        _, lb = api.call("POST", "/v2/lbaas/loadbalancers", {"loadbalancer": {
            "name": "udp-bench", "vip_subnet_id": "c0ffee00-0000-4000-8000-000000000002",
            "listeners": [{"name": "udp", "protocol": "UDP", "protocol_port": PORT,
                           "default_pool": {
                               "name": "echo", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                               "members": [{"address": GATEWAY, "protocol_port": port}
                                           for port in members]}}]}})
        rig.lb = lb["loadbalancer"]
        vip = api.wait(f"/v2/lbaas/loadbalancers/{rig.lb['id']}", args.item_timeout,
                       0.01)["vip_address"]
        print(f"  UDP load balancer ACTIVE in {time.perf_counter() - t0:.3f} s, VIP {vip}",
              flush=True)
        create_baseline_namespace()
        run("ip", "netns", "exec", BASELINE_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.send_redirects=0")
        rules = rig.tmp / "baseline.nft"
        rules.write_text(baseline_rules(members))
        run("ip", "netns", "exec", BASELINE_NS, "nft", "-f", str(rules))
        targets = {"ottava": (vip, PORT), "baseline": (BASELINE_ADDRESS, PORT)}
        for name, target in targets.items():
            if not answers(target, 20):
                raise RuntimeError(f"{name} {target} does not answer")
        print(f"== {args.flows} flows, {args.repeats} x {args.duration} s each side",
              flush=True)
        for i in range(args.repeats):
            order = ["ottava", "baseline"] if i % 2 == 0 else ["baseline", "ottava"]
            for name in order:
                result = load(targets[name], args.flows, args.duration)
                runs[name].append(result)
                print(f"  {name:8} {result['dps']:>10,.0f} datagrams/s  p50 "
                      f"{result['p50_us']:.0f} µs  lost {result['lost']:.0f}", flush=True)
    except (Exception, KeyboardInterrupt) as exc:
        failed = f"{exc!r}"[:800]
    finally:
        stop.set()
        for server in servers:
            server.join(timeout=5)
            if server.is_alive():
                server.kill()
        failed = rig.close(args, failed)  # type: ignore[arg-type]
    if failed:
        print(f"FAILED: {failed}")
        return 1
    ottava = statistics.median(r["dps"] for r in runs["ottava"])
    baseline = statistics.median(r["dps"] for r in runs["baseline"])
    print("\n| figure (median) | Ottava | hand-written nftables | ratio |")
    print("|---|---|---|---|")
    print(f"| request/response datagrams/s, {args.flows} flows | {ottava:,.0f} | "
          f"{baseline:,.0f} | {ottava / baseline:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
