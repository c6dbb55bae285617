"""Data-plane benchmark: a real local amphora (network namespace + HAProxy, served by the host
agent) created
through Ottava's API, against a hand-written minimal HAProxy with the same listener and members.

It starts everything it measures and stops it by PID at the end:

  ottava standalone   real local drivers (compute=local, network=local, amphora=rest), SQLite
                      in a temporary --state-dir, API and network API on free loopback ports
  2 backends          HAProxy in `mode http` answering `200 ok` itself, on 198.18.0.1 (the
                      host end of the bridge `ottava0`)
  baseline            HAProxy with one HTTP frontend :80 and a ROUND_ROBIN backend of the two
                      members, in a namespace of its own (veth on `ottava0`, like an amphora)
  logged baseline     when the amphora logs its requests (standalone's default: to its log
                      collector): the same HAProxy on :81 with the amphora's own log lines
                      (targets, facilities, format), so `logging on/off` is what logging
                      every request costs, measured in the same run; and on :82 the same
                      lines sent to a port nobody reads, HAProxy's own share of that cost
                      (the rest is the collector's, on the same CPUs)

Phases: fully populated create -> ACTIVE (LB + HTTP listener :80 + ROUND_ROBIN pool of the two
backends), `--creates` times, each one deleted again except the last; then throughput and
latency through the Ottava VIP and through the baseline, interleaved, `--repeats` times each
(wrk -t1 -c50 keep-alive, and -c1 for latency; a bounded Python client when wrk is missing);
then the memory of the amphora (every process in its namespace: VmRSS, and PSS from
smaps_rollup). It prints figures beside the issue's targets; it never asserts them.

    .venv/bin/python bench/dataplane.py            # needs root (namespaces) and haproxy
    .venv/bin/python bench/dataplane.py --duration 2 --repeats 1 --creates 3
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from api import (
    LB,
    MAX_POLLS,
    VENV_BIN,
    VIP_SUBNET,
    Proc,
    percentile,
    source_version,
    spawn,
    stop,
    tail,
)

GATEWAY = "198.18.0.1"
BRIDGE = "ottava0"
# The local IPAM hands out the lowest free address of 198.18.0.0/15, so the top one is safe.
BASELINE_ADDRESS = "198.19.255.254"
BASELINE_NS = f"obench-{os.getpid()}"
BASELINE_VETH = f"obh-{os.getpid()}"[:15]
# An amphora's stats socket is <state-dir>/amphorae/<uuid>/lb/haproxy.sock (62 characters more)
# and HAProxy refuses a socket path past 97: keep the temporary folder's prefix short.
MAX_STATE_DIR = 97 - 62


class Failure(Exception):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def run(*argv: str, check: bool = True) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and out.returncode:
        raise Failure(f"{' '.join(argv)}: {out.stderr.strip()}")
    return out.stdout


def namespaces(prefix: str) -> set[str]:
    return {line.split()[0] for line in run("ip", "netns", "list").splitlines()
            if line.startswith(prefix)}


def netns_pids(name: str) -> list[int]:
    return [int(p) for p in run("ip", "netns", "pids", name, check=False).split()]


def kill_pids(pids: list[int], what: str, timeout: float = 5.0) -> None:
    """SIGTERM these PIDs, then SIGKILL those still alive after `timeout`."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pathlib.Path(f"/proc/{p}").exists()
                                              for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if pathlib.Path(f"/proc/{pid}").exists():
            print(f"  {what}: pid {pid} ignored SIGTERM: SIGKILL", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def runs_from(name: str, folder: pathlib.Path) -> bool:
    """Whether a process in namespace `name` names `folder` on its command line."""
    for pid in netns_pids(name):
        with contextlib.suppress(OSError):
            if str(folder) in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode():
                return True
    return False


def remove_namespace(name: str) -> None:
    pids = netns_pids(name)
    if pids:
        print(f"  namespace {name} still runs pids {pids}: stopping them", flush=True)
        kill_pids(pids, name)
    run("ip", "netns", "delete", name, check=False)
    print(f"  deleted namespace {name}", flush=True)


# ---------------------------------------------------------------- HTTP to the API


class Api:
    def __init__(self, port: int, timeout: float, headers: dict[str, str] | None = None
                 ) -> None:
        self.port, self.timeout = port, timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        **(headers or {})}

    def call(self, method: str, path: str, body: Any = None,
             expect: tuple[int, ...] = (200, 201, 202, 204)) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            conn.request(method, path, None if body is None else json.dumps(body), self.headers)
            resp = conn.getresponse()
            payload = resp.read()
        finally:
            conn.close()
        if resp.status not in expect:
            raise Failure(f"{method} {path} -> {resp.status}: {payload[:300]!r}")
        return resp.status, json.loads(payload) if payload else None

    def wait(self, path: str, timeout: float, poll: float, want: str = "ACTIVE"
             ) -> dict[str, Any]:
        """Poll until provisioning_status is `want` ({} when `want` is DELETED and 404)."""
        deadline = time.monotonic() + timeout
        for _ in range(MAX_POLLS):
            status, body = self.call("GET", path, expect=(200, 404))
            if status == 404 and want == "DELETED":
                return {}
            if status == 200:
                lb: dict[str, Any] = body["loadbalancer"]
                if lb["provisioning_status"] == want:
                    return lb
                if lb["provisioning_status"] == "ERROR":
                    raise Failure(f"{path} went to ERROR")
            if time.monotonic() > deadline:
                raise Failure(f"{path} not {want} after {timeout:.0f} s")
            time.sleep(poll)
        raise Failure(f"{path} not {want} after {MAX_POLLS} polls")


def wait_api(port: int, proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(MAX_POLLS):
        with contextlib.suppress(OSError, Failure):
            Api(port, 2).call("GET", LB + "?limit=1")
            return
        if proc.popen.poll() is not None:
            raise Failure(f"{proc.name} exited {proc.popen.returncode}:\n{tail(proc.log)}")
        if time.monotonic() > deadline:
            raise Failure(f"API on port {port} not answering after {timeout:.0f} s")
        time.sleep(0.1)


# ---------------------------------------------------------------- HAProxy instances


def backend_conf(port: int) -> str:
    return ("global\n  nbthread 1\n  maxconn 4000\n"
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n"
            "  timeout server 30s\n"
            f"frontend ok\n  bind {GATEWAY}:{port}\n"
            "  http-request return status 200 content-type text/plain string ok\n")


def baseline_conf(address: str, members: list[int], nbthread: int | None) -> str:
    """The minimal hand-written equivalent of the listener: HTTP :80, ROUND_ROBIN, 2 members."""
    threads = f"  nbthread {nbthread}\n" if nbthread else ""
    servers = "".join(f"  server m{i} {GATEWAY}:{p}\n" for i, p in enumerate(members))
    return ("global\n  maxconn 4000\n" + threads +
            "defaults\n  mode http\n  timeout connect 5s\n  timeout client 50s\n"
            "  timeout server 50s\n"
            f"frontend listener\n  bind {address}:80\n  default_backend pool\n"
            f"backend pool\n  balance roundrobin\n{servers}")


def log_lines(amphora_conf: str) -> tuple[list[str], list[str]]:
    """The amphora's own log lines: the global section's and its HTTP frontend's (target,
    facility, format), so a baseline can log exactly as the amphora does."""
    sections: dict[str, list[str]] = {}  # "global" and the first "frontend"
    current: list[str] = []
    for line in amphora_conf.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            kind = line.split()[0]
            fresh = kind in ("global", "frontend") and kind not in sections
            current = sections.setdefault(kind, []) if fresh else []
        elif line.strip():
            current.append(line.strip())
    wanted = ("log ", "log-send-hostname", "no log", "log-format")
    return ([ln.replace("log-send-hostname ", "log-send-hostname bench-") for ln in
             sections.get("global", []) if ln.startswith(wanted)],
            [ln for ln in sections.get("frontend", []) if ln.startswith(wanted)])


def logged_baseline_conf(address: str, members: list[int], nbthread: int | None,
                         amphora_conf: str, port: int = 81, sink: str | None = None) -> str:
    """The baseline on `port`, logging every request as the amphora does (same targets,
    facilities and format; with `sink`, to that host:port instead): what logging costs,
    beside the baseline without it."""
    global_logs, frontend_logs = log_lines(amphora_conf)
    if sink is not None:
        global_logs, frontend_logs = (
            [re.sub(r"^log \S+ ", f"log {sink} ", ln) for ln in lines]
            for lines in (global_logs, frontend_logs))
    conf = baseline_conf(address, members, nbthread).replace(f"{address}:80",
                                                             f"{address}:{port}")
    conf = conf.replace("global\n", "global\n" + "".join(f"  {ln}\n" for ln in global_logs), 1)
    return conf.replace("  default_backend pool\n", "".join(f"  {ln}\n" for ln in frontend_logs)
                        + "  default_backend pool\n", 1)


def spawn_haproxy(name: str, conf: str, tmp: pathlib.Path, netns: str | None = None) -> Proc:
    path = tmp / f"{name}.cfg"
    path.write_text(conf)
    argv = [shutil.which("haproxy") or "haproxy", "-db", "-f", str(path)]
    if netns:
        # `ip netns exec` execs haproxy: the PID we hold is HAProxy's.
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = spawn(name, argv, tmp / f"{name}.log")
    time.sleep(0.3)
    if proc.popen.poll() is not None:
        raise Failure(f"{name} exited {proc.popen.returncode}:\n{tail(proc.log)}")
    return proc


def create_baseline_namespace() -> None:
    """A namespace joined to `ottava0` by a veth, as an amphora is, holding BASELINE_ADDRESS."""
    peer = "obp-" + BASELINE_VETH[4:]
    run("ip", "netns", "add", BASELINE_NS)
    try:
        run("ip", "link", "add", BASELINE_VETH, "type", "veth", "peer", "name", peer,
            "netns", BASELINE_NS)
        run("ip", "link", "set", BASELINE_VETH, "master", BRIDGE, "up")
        ns = ("ip", "-n", BASELINE_NS)
        run(*ns, "link", "set", "lo", "up")
        run(*ns, "link", "set", peer, "name", "eth0")
        run(*ns, "link", "set", "eth0", "up")
        run(*ns, "addr", "add", f"{BASELINE_ADDRESS}/15", "dev", "eth0")
        run(*ns, "route", "add", "default", "via", GATEWAY)
    except Failure:
        remove_namespace(BASELINE_NS)
        raise


def get(address: str, port: int = 80) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(address, port, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_serving(address: str, port: int, timeout: float,
                 serving: Callable[[], bool] | None = None) -> None:
    """Until `serving()` is true; by default, until http://address:port/ answers 200."""
    deadline = time.monotonic() + timeout
    last: Any = "answering, not as wanted"
    for _ in range(MAX_POLLS):
        try:
            if serving() if serving else get(address, port)[0] == 200:
                return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise Failure(f"{address}:{port} not serving after {timeout:.0f} s: {last!r}")
        time.sleep(0.05)


# ---------------------------------------------------------------- what a run starts


def add_rig_options(p: argparse.ArgumentParser, item_timeout: float = 60.0,
                    stop_timeout: float = 15.0) -> None:
    """The options `Rig.start_ottava` and `Rig.close` read (each benchmark its defaults)."""
    p.add_argument("--item-timeout", type=float, default=item_timeout)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--stop-timeout", type=float, default=stop_timeout)
    p.add_argument("--keep-logs", action="store_true")


class Rig:
    """What a data-plane benchmark starts, and close() stops by PID: `ottava standalone`
    (real local drivers, SQLite in a temporary --state-dir, every port it listens on free:
    API, network API, key manager, health manager), HAProxy processes (backends, baseline),
    the baseline's namespace; and the amphorae of this run (`mine`, and any new `ottava-`
    namespace whose processes name `tmp`)."""

    def __init__(self, prefix: str) -> None:
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
        self.before = namespaces("ottava-")
        self.mine: set[str] = set()  # the namespaces of this run's amphorae
        self.procs: list[Proc] = []
        self.ottava: Proc | None = None
        self.api: Api | None = None
        self.key_manager_port = 0
        self.lb: dict[str, Any] = {}  # the load balancer kept for traffic; close() deletes it

    def start_ottava(self, timeout: float) -> Api:
        port, self.key_manager_port = free_port(), free_port()
        state = self.tmp / "state"
        if len(str(state)) > MAX_STATE_DIR:
            raise Failure(f"--state-dir {state} is longer than {MAX_STATE_DIR} characters: "
                          "the amphorae's HAProxy stats sockets would be too long for HAProxy")
        state.mkdir()
        config = self.tmp / "ottava.conf"
        config.write_text(f"[health_manager]\nbind_port = {free_port()}\n")
        self.ottava = spawn("ottava standalone", [
            str(VENV_BIN / "ottava"), "standalone", "--bind", f"127.0.0.1:{port}",
            "--network-api-bind", f"127.0.0.1:{free_port()}",
            "--key-manager-api-bind", f"127.0.0.1:{self.key_manager_port}",
            "--state-dir", str(state), "--config-file", str(config)], self.tmp / "ottava.log")
        wait_api(port, self.ottava, timeout)  # the bridge exists from here on
        self.api = Api(port, 30)
        return self.api

    def start_backends(self, count: int = 2) -> list[int]:
        """`count` zero-cost HTTP backends on the bridge's host address; their ports."""
        members = [free_port(GATEWAY) for _ in range(count)]
        for i, mport in enumerate(members):
            self.procs.append(spawn_haproxy(f"backend{i}", backend_conf(mport), self.tmp))
        for mport in members:
            wait_serving(GATEWAY, mport, 10)
        return members

    def start_baseline(self, conf: str) -> Proc:
        """The baseline HAProxy in a namespace of its own on the bridge (BASELINE_ADDRESS)."""
        create_baseline_namespace()
        proc = spawn_haproxy("baseline", conf, self.tmp, BASELINE_NS)
        self.procs.append(proc)
        return proc

    def host_agent_pids(self) -> list[int]:
        """The host agent serving this run's amphorae (outside their namespaces), if any."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.tmp / "state" / "amphorae" / "host-agent.pid").read_text())
            if pathlib.Path(f"/proc/{pid}").exists():
                return [pid]
        return []

    def close(self, args: argparse.Namespace, failed: str) -> str:
        """Delete the kept load balancer, stop every process started, delete the baseline's
        namespace and any amphora namespace of this run left behind; `failed`, or the
        problem found here. Reads args.item_timeout, stop_timeout and keep_logs."""
        api, ottava = self.api, self.ottava
        if api is not None and self.lb and ottava is not None and ottava.popen.poll() is None:
            with contextlib.suppress(Exception):
                api.call("DELETE", f"{LB}/{self.lb['id']}?cascade=true", expect=(204,))
                api.wait(f"{LB}/{self.lb['id']}", args.item_timeout, 0.05, want="DELETED")
                print("  deleted the kept load balancer", flush=True)
        for proc in reversed(self.procs):
            stop(proc, args.stop_timeout)
        if ottava is not None:
            stop(ottava, args.stop_timeout)
        leftover_agent = self.host_agent_pids()
        if leftover_agent:  # the driver stops it with the last amphora: a failed run
            failed = failed or "Ottava left its host agent running"
            kill_pids(leftover_agent, "host agent")
        if BASELINE_NS in namespaces(BASELINE_NS):
            remove_namespace(BASELINE_NS)
        with contextlib.suppress(Failure):
            run("ip", "link", "delete", BASELINE_VETH, check=False)
        # Only namespaces of this run: other sessions on the host may create `ottava-` ones.
        for leftover in sorted(namespaces("ottava-") - self.before):
            if leftover in self.mine or runs_from(leftover, self.tmp):
                failed = failed or f"Ottava left namespace {leftover} behind"
                remove_namespace(leftover)
        if args.keep_logs or failed:
            print(f"logs in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return failed


# ---------------------------------------------------------------- load generators

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url: str, conns: int, duration: float, *extra: str) -> dict[str, float]:
    """One wrk run (`extra`: more options, e.g. "-H", "Connection: close"): req/s, latency
    p50 and p99 (ms), errors (non-2xx/3xx answers and socket errors)."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--latency", "--timeout", "5s",
            *extra, url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30,
                         check=False).stdout

    def latency(q: str) -> float:
        m = re.search(rf"^\s*{q}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")

    rps = re.search(r"Requests/sec:\s*([\d.]+)", out)
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s*(\d+)",
                    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"):
        m = re.search(pattern, out)
        errors += sum(int(g) for g in m.groups()) if m else 0
    if not rps:
        raise Failure(f"wrk printed no Requests/sec for {url}:\n{out[-500:]}")
    return {"rps": float(rps.group(1)), "p50": latency("50"), "p99": latency("99"),
            "errors": errors}


def pyclient(url: str, conns: int, duration: float) -> dict[str, float]:
    """Fallback: `conns` threads, each one keep-alive connection, for `duration` seconds."""
    m = re.match(r"http://([^:/]+):(\d+)", url)
    assert m
    host, port = m.group(1), int(m.group(2))
    lats: list[list[float]] = [[] for _ in range(conns)]
    errors = [0] * conns
    stop_at = time.monotonic() + duration

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        for _ in range(10_000_000):
            if time.monotonic() > stop_at:
                break
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=5)
                continue
            lats[i].append((time.perf_counter() - t0) * 1e3)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(conns)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 10)
    took = time.perf_counter() - t0
    allv = [v for lst in lats for v in lst]
    return {"rps": len(allv) / took, "p50": percentile(allv, 50),
            "p99": percentile(allv, 99), "errors": sum(errors)}


# ---------------------------------------------------------------- memory


def memory(pids: list[int]) -> tuple[float, float, list[str]]:
    """VmRSS and PSS (MB) summed over these processes, and what they are (NaN if none)."""
    rss = pss = 0
    what = []
    for pid in pids:
        try:
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
            name = re.search(r"^Name:\s*(\S+)", status, re.M)
            vm = re.search(r"^VmRSS:\s*(\d+)", status, re.M)
            rss += int(vm.group(1)) if vm else 0
            with contextlib.suppress(OSError):
                rollup = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
                p = re.search(r"^Pss:\s*(\d+)", rollup, re.M)
                pss += int(p.group(1)) if p else 0
            what.append(f"{name.group(1) if name else '?'}[{pid}] "
                        f"{int(vm.group(1)) / 1024 if vm else 0:.1f}")
        except OSError:
            continue
    if not what:
        return float("nan"), float("nan"), []
    return rss / 1024, pss / 1024, what


def amphora_config(namespace: str, tmp: pathlib.Path) -> str:
    """The amphora's HAProxy configuration (from its master's `-f`), copied into `tmp`."""
    for pid in netns_pids(namespace):
        with contextlib.suppress(OSError):
            argv = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            if "haproxy" in pathlib.Path(argv[0]).name and "-f" in argv:
                text = pathlib.Path(argv[argv.index("-f") + 1]).read_text(errors="replace")
                (tmp / "amphora-haproxy.cfg").write_text(text)
                return text
    return ""


# ---------------------------------------------------------------- phases


def lb_body(name: str, members: list[int]) -> dict[str, Any]:
    return {"loadbalancer": {
        "name": name, "vip_subnet_id": VIP_SUBNET,
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "pool"}}],
        "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": GATEWAY, "protocol_port": p} for p in members]}]}}


def phase_create(api: Api, args: argparse.Namespace, members: list[int],
                 res: dict[str, Any], mine: set[str]) -> dict[str, Any]:
    """`args.creates` fully populated creates timed to ACTIVE; all but the last deleted."""
    times: list[float] = []
    deadline = time.monotonic() + args.phase_timeout
    lb: dict[str, Any] = {}
    for i in range(args.creates):
        t0 = time.perf_counter()
        _, body = api.call("POST", LB, lb_body(f"bench-dp-{i}", members), expect=(201,))
        path = f"{LB}/{body['loadbalancer']['id']}"
        lb = api.wait(path, args.item_timeout, args.poll)
        times.append(time.perf_counter() - t0)
        print(f"    create {i + 1}: ACTIVE in {times[-1]:.3f} s", flush=True)
        amps = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")[1]
        mine.update(a["compute_id"] for a in amps["amphorae"] if a.get("compute_id"))
        last = i == args.creates - 1 or time.monotonic() > deadline
        if last:
            break
        api.call("DELETE", f"{path}?cascade=true", expect=(204,))
        api.wait(path, args.item_timeout, args.poll, want="DELETED")
    res["create_p50"] = percentile(times, 50)
    res["create_max"] = max(times)
    res["create_n"] = len(times)
    return lb


def phase_traffic(args: argparse.Namespace, targets: dict[str, str],
                  res: dict[str, Any]) -> None:
    gen = wrk if shutil.which("wrk") and not args.python_client else pyclient
    res["generator"] = "wrk -t1" if gen is wrk else "Python client (threads)"
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    for rep in range(args.repeats):
        for conns in (args.connections, 1):
            for name, url in targets.items():
                r = gen(url, conns, args.duration)
                runs.setdefault((name, conns), []).append(r)
                print(f"    #{rep + 1} {name:<9} -c{conns:<3} {r['rps']:>9.0f} req/s  "
                      f"p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms"
                      + (f"  ERRORS {r['errors']:.0f}" if r["errors"] else ""), flush=True)
    for (name, conns), rs in runs.items():
        for k in ("rps", "p50", "p99"):
            res[f"{name}:c{conns}:{k}"] = percentile([r[k] for r in rs], 50)  # median run
        res[f"{name}:c{conns}:errors"] = sum(r["errors"] for r in rs)


# ---------------------------------------------------------------- report


def ratio(a: float, b: float) -> float:
    """a / b, NaN when b is NaN or 0."""
    return a / b if b == b and b else float("nan")


def number(v: float, nd: int = 2) -> str:
    """A figure for a table: "-" for NaN, `nd` decimals below 1000, none from there."""
    return "-" if v != v else f"{v:.{nd}f}" if v < 1000 else f"{v:.0f}"


def report(res: dict[str, Any], args: argparse.Namespace) -> None:
    c = args.connections
    f = number

    def fig(key: str) -> float:
        v = res.get(key)
        return float(v) if isinstance(v, (int, float)) else float("nan")

    rows: list[tuple[str, str, str, str, str, str]] = []
    rows.append(("create->ACTIVE p50 (s)", "<= 1", f(fig("create_p50"), 3), "",
                 f"{fig('create_p50') / 1.0:.2f}x" if "create_p50" in res else "-",
                 "43-97 (VMs)"))
    rows.append(("  max of the creates (s)", "", f(fig("create_max"), 3), "", "", ""))
    # Like with like: when the amphora logs every request, so does the baseline it is held to.
    same = "logged" if res.get("logged") else "baseline"
    for conns, label in ((c, f"-c{c}"), (1, "-c1")):
        o, b = f"ottava:c{conns}", f"{same}:c{conns}"
        rps = ratio(fig(f"{o}:rps"), fig(f"{b}:rps"))
        rows.append((f"req/s {label}", ">= 0.95", f(fig(f"{o}:rps"), 0), f(fig(f"{b}:rps"), 0),
                     f(rps), ""))
        for q in ("p50", "p99"):
            # latency ratio as baseline/ottava, so that >= 0.95 means "as good" here too
            lat = ratio(fig(f"{b}:{q}"), fig(f"{o}:{q}"))
            rows.append((f"  latency {q} {label} (ms)", "", f(fig(f"{o}:{q}"), 3),
                         f(fig(f"{b}:{q}"), 3), f(lat), ""))
    if res.get("logged"):
        for conns, label in ((c, f"-c{c}"), (1, "-c1")):
            b, lg = f"baseline:c{conns}", f"logged:c{conns}"
            rows.append((f"logging on/off req/s {label}", "", f(fig(f"{lg}:rps"), 0),
                         f(fig(f"{b}:rps"), 0), f(ratio(fig(f"{lg}:rps"), fig(f"{b}:rps"))),
                         ""))
            sk = f"sink:c{conns}"
            rows.append(("  HAProxy's own share", "", f(fig(f"{sk}:rps"), 0),
                         f(fig(f"{b}:rps"), 0), f(ratio(fig(f"{sk}:rps"), fig(f"{b}:rps"))),
                         ""))
    rows.append(("amphora RSS (MB)", "<= 30", f(fig("rss"), 1), "",
                 f"{fig('rss') / 30:.2f}x" if fig("rss") == fig("rss") else "-", "1024 (VM)"))
    rows.append(("  RSS before traffic (MB)", "", f(fig("rss_idle"), 1), "", "", ""))
    rows.append(("amphora PSS (MB)", "", f(fig("pss"), 1), "", "", ""))
    rows.append(("baseline HAProxy RSS (MB)", "", "", f(fig("baseline_rss"), 1), "", ""))
    head = (f"{'figure':<30}{'target':>9}{'Ottava':>11}{'baseline':>11}{'ratio':>8}"
            f"{'Octavia':>14}")
    print()
    print(f"Ottava data-plane benchmark at {args.version}")
    print(f"({res.get('create_n', 0)} creates; traffic: {res.get('generator', '-')}, "
          f"{args.repeats} x {args.duration:g} s per case, interleaved, median run shown; "
          f"{os.cpu_count()} CPUs)")
    print(head)
    print("-" * len(head))
    for label, target, ott, base, rat, octavia in rows:
        print(f"{label:<30}{target:>9}{ott:>11}{base:>11}{rat:>8}{octavia:>14}")
    print("(ratio: req/s Ottava/baseline and latency baseline/Ottava, >= 0.95 meets the "
          "target;\n create and RSS as figure/target, <= 1.00x meets it"
          + ("; the amphora logs every request, so the\n req/s and latency rows hold it to "
             "the logged baseline; `logging on/off` is the logged baseline\n against the "
             "unlogged one" if res.get("logged") else "") + ")")
    if res.get("rss_detail"):
        print(f"amphora processes (VmRSS MB): {', '.join(res['rss_detail'])}")


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--creates", type=int, default=10, help="timed creates (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs per traffic case (3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    p.add_argument("--connections", type=int, default=50, help="connections, load case (50)")
    p.add_argument("--python-client", action="store_true", help="do not use wrk")
    p.add_argument("--baseline-threads", type=int, default=0,
                   help="nbthread of the baseline (default: that of the amphora's HAProxy "
                   "config if found, else HAProxy's default)")
    p.add_argument("--poll", type=float, default=0.01, help="status poll interval, s")
    p.add_argument("--phase-timeout", type=float, default=300.0)
    add_rig_options(p)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench/dataplane.py needs root: amphorae are network namespaces")
        return 2
    for tool in ("haproxy", "ip"):
        if not shutil.which(tool):
            print(f"bench/dataplane.py needs {tool}")
            return 2
    args.version = source_version()
    print(f"source: {args.version}", flush=True)

    rig = Rig("ottava-bench-dp-")
    res: dict[str, Any] = {}
    failed = ""
    try:
        api = rig.start_ottava(args.start_timeout)
        members = rig.start_backends()

        print("== create -> ACTIVE", flush=True)
        lb = rig.lb = phase_create(api, args, members, res, rig.mine)
        [amp] = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")[1][
            "amphorae"]
        amp_ns = amp["compute_id"]
        wait_serving(lb["vip_address"], 80, 20)
        # Kept: measured by PID even if the namespace file goes. The host agent serves this
        # one amphora, so it is all of its agent.
        amp_pids = netns_pids(amp_ns) + rig.host_agent_pids()
        res["rss_idle"], _, _ = memory(amp_pids)

        amp_conf = amphora_config(amp_ns, rig.tmp)
        threads = args.baseline_threads or None
        m = re.search(r"^\s*nbthread\s+(\d+)", amp_conf, re.M)
        if not threads and m:
            threads = int(m.group(1))
        rig.start_baseline(baseline_conf(BASELINE_ADDRESS, members, threads))
        wait_serving(BASELINE_ADDRESS, 80, 10)
        targets = {"ottava": f"http://{lb['vip_address']}:80/",
                   "baseline": f"http://{BASELINE_ADDRESS}:80/"}
        res["logged"] = bool(log_lines(amp_conf)[1])
        if res["logged"]:  # the amphora logs its requests: what does that cost?
            rig.procs.append(spawn_haproxy("baseline-logged", logged_baseline_conf(
                BASELINE_ADDRESS, members, threads, amp_conf), rig.tmp, BASELINE_NS))
            wait_serving(BASELINE_ADDRESS, 81, 10)
            targets["logged"] = f"http://{BASELINE_ADDRESS}:81/"
            # The same lines sent where nothing reads them: HAProxy's own share of the cost.
            rig.procs.append(spawn_haproxy("baseline-sink", logged_baseline_conf(
                BASELINE_ADDRESS, members, threads, amp_conf, 82, "127.0.0.1:9"), rig.tmp,
                BASELINE_NS))
            wait_serving(BASELINE_ADDRESS, 82, 10)
            targets["sink"] = f"http://{BASELINE_ADDRESS}:82/"

        print(f"== traffic (Ottava VIP {lb['vip_address']}:80 in {amp_ns}, baseline "
              f"{BASELINE_ADDRESS}:80 in {BASELINE_NS}"
              f"{', the same logging requests :81' if res['logged'] else ''})", flush=True)
        phase_traffic(args, targets, res)

        print("== memory", flush=True)
        now = netns_pids(amp_ns) + rig.host_agent_pids()
        if not now:
            print(f"  namespace {amp_ns} is gone (deleted by someone else?): measuring the "
                  f"PIDs seen after create {amp_pids}", flush=True)
        res["rss"], res["pss"], res["rss_detail"] = memory(sorted(set(now) | set(amp_pids)))
        res["baseline_rss"], _, _ = memory(netns_pids(BASELINE_NS))
    except (Exception, KeyboardInterrupt) as exc:
        failed = f"{exc!r}"[:800]
        print(f"FAILED: {failed}", flush=True)
    finally:
        failed = rig.close(args, failed)
    report(res, args)
    if failed:
        print(f"\nProblem: {failed}")
    errors = {k: v for k, v in res.items() if k.endswith(":errors") and v}
    if errors:
        print(f"Problem: errors during traffic: {errors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
