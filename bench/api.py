"""API benchmark: latency and throughput of Ottava's v2 API on two deployments.

It starts each deployment itself on free loopback ports, drives it with one sequential
keep-alive HTTP client (http.client), prints figures beside the issue's targets, and stops what
it started. It never asserts timings; problems (errors, 5xx, timeouts) are printed at the end.

  standalone  `ottava standalone --noop` (SQLite, in-process messaging)
  split       gunicorn serving `ottava.wsgi:application` + `ottava worker`
              (PostgreSQL, RabbitMQ)
  standalone-no-metrics   standalone with `[metrics] enabled = false`: beside standalone,
              the cost of the metrics (the report prints it)

    .venv/bin/python bench/api.py            # full: 1,000 LBs, 1,000 members
    .venv/bin/python bench/api.py --quick    # smoke run: 200 LBs, 100 members
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
VIP_SUBNET = "c0ffee00-0000-4000-8000-000000000002"
LB = "/v2/lbaas/loadbalancers"
POOLS = "/v2/lbaas/pools"
MAX_POLLS = 200_000  # every wait loop is bounded by this count as well as by its deadline

# (key, label, target, Octavia 19 with noop drivers, or "")
FIGURES = [
    ("floor_p50", "GET / (the floor) p50 (ms)", None, ""),
    ("get_p50", "GET one LB p50 (ms)", 1.5, "9.8"),
    ("get_over_floor", "  GET one LB / floor", 2.0, ""),
    ("get_p99", "GET one LB p99 (ms)", None, ""),
    ("metrics_p50", "GET /metrics p50 (ms)", None, ""),
    ("get_rps", "GET one LB (req/s)", None, ""),
    ("conc_rps", "GET one LB, 16 clients (req/s)", None, ""),
    ("conc_over_one", "  / one client's req/s", None, ""),
    ("conc_p50", "  p50 (ms)", None, ""),
    ("conc_cores", "  server CPU (cores busy)", None, ""),
    ("conc_db_cores", "  database CPU (cores busy)", None, ""),
    ("conc_client_cores", "  clients' CPU (cores busy)", None, ""),
    ("list_p50", "list LBs p50 (ms)", 20.0, "15 (5 LBs)"),
    ("list_count", "  LBs per list", None, ""),
    ("create_p50", "create->ACTIVE p50 (ms)", 30.0, "405"),
    ("create_p99", "create->ACTIVE p99 (ms)", None, ""),
    ("post_p50", "POST LB p50 (ms)", None, ""),
    ("bulk_post_rate", "bulk create: POST (LB/s)", None, ""),
    ("bulk_active_rate", "bulk create: ->ACTIVE (LB/s)", None, ""),
    ("batch_create_s", "batch members create (s)", 3.0, ""),
    ("batch_update_s", "batch members update (s)", 3.0, ""),
    ("batch_members", "  members after batch", None, ""),
]


class Problems:
    """Unexpected responses and failures, printed once at the end (first few of each kind)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.counts: dict[str, int] = {}

    def add(self, kind: str, detail: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] <= 3:
            self.items.append(f"{kind}: {detail}")

    def summary(self) -> list[str]:
        more = [f"{k}: {n} in all" for k, n in self.counts.items() if n > 3]
        return self.items + more

    def print(self) -> None:
        """The problems seen, after the figures (nothing when there were none)."""
        if self.items:
            print("\nProblems:")
            for item in self.summary():
                print(f"  {item}")


class PhaseTimeout(Exception):
    pass


class Http:
    """One keep-alive connection; sequential requests; JSON in and out."""

    def __init__(self, host: str, port: int, problems: Problems, deployment: str,
                 timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.problems, self.deployment = problems, deployment
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}

    def _connection(self) -> http.client.HTTPConnection:
        # gunicorn's gthread workers close idle keep-alive connections after 2 s.
        if self.conn is not None and time.monotonic() - self.last_used > 1.5:
            self.close()
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.connect()
            self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def raw(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=self.headers)
                resp = conn.getresponse()
                payload = resp.read()
                self.last_used = time.monotonic()
                if resp.will_close:
                    self.close()
                return resp.status, payload
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError) as exc:
                # The server dropped an idle connection; safe to retry reads only.
                self.close()
                if attempt == 2 or method != "GET":
                    raise ConnectionError(f"{method} {path}: {exc!r}") from exc
            except TimeoutError as exc:
                self.close()
                raise ConnectionError(f"{method} {path}: timed out after "
                                      f"{self.timeout}s") from exc
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Any = None,
             expect: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        status, payload = self.raw(method, path, body)
        if status not in expect:
            shown = json.dumps(body)[:160] if body is not None else ""
            self.problems.add(
                f"[{self.deployment}] {method} {path.split('?')[0].rsplit('/', 1)[0]}/... "
                f"-> {status}",
                f"{method} {path} {shown} -> {status} {payload[:300]!r}")
            raise RuntimeError(f"{method} {path} -> {status}: {payload[:300]!r}")
        return json.loads(payload) if payload else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds


def check(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise PhaseTimeout(what)


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: pathlib.Path


def spawn(name: str, argv: list[str], log: pathlib.Path, env: dict[str, str] | None = None
          ) -> Proc:
    out = log.open("wb")
    popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                             env={**os.environ, **(env or {})}, start_new_session=True)
    out.close()
    print(f"  started {name} pid {popen.pid}: {' '.join(argv)}", flush=True)
    return Proc(name, popen, log)


def stop(proc: Proc, timeout: float) -> tuple[float, bool]:
    """SIGTERM the process by its PID, then SIGKILL its process group after `timeout`.

    Returns the seconds it took to exit and whether it had to be killed.
    """
    p = proc.popen
    t0 = time.perf_counter()
    killed = False
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {proc.name} pid {p.pid} ignored SIGTERM for {timeout:.0f}s: SIGKILL",
                  flush=True)
            killed = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # its own session: pgid == pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
    took = time.perf_counter() - t0
    # gunicorn's workers share the session; make sure none outlives its master.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    print(f"  stopped {proc.name} pid {p.pid} (exit {p.returncode}) in {took:.1f} s",
          flush=True)
    return took, killed


def process_tree(pids: list[int]) -> Iterator[int]:
    """These processes and every descendant (gunicorn's workers) still alive, from /proc."""
    todo, seen = list(pids), set()
    while todo:
        cur = todo.pop()
        if cur in seen:
            continue
        seen.add(cur)
        yield cur
        try:
            for task in pathlib.Path(f"/proc/{cur}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn's workers), MB."""
    total = 0
    for cur in process_tree([pid]):
        try:
            for line in pathlib.Path(f"/proc/{cur}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def tail(path: pathlib.Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_log(proc: Proc, marker: str, deadline: float) -> None:
    for _ in range(MAX_POLLS):
        if marker in proc.log.read_text(errors="replace"):
            return
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}:\n{tail(proc.log)}")
        check(deadline, f"{proc.name} did not print {marker!r}")
        time.sleep(0.1)
    raise PhaseTimeout(f"{proc.name} did not print {marker!r}")


def wait_http(port: int, procs: list[Proc], deadline: float) -> None:
    for _ in range(MAX_POLLS):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", LB + "?limit=1")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        for proc in procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited {proc.popen.returncode}:\n{tail(proc.log)}")
        check(deadline, f"API on port {port} not answering")
        time.sleep(0.1)
    raise PhaseTimeout(f"API on port {port} not answering")


# ---------------------------------------------------------------- deployments


@dataclass
class Deployment:
    name: str
    port: int = 0
    procs: list[Proc] = field(default_factory=list)
    res: dict[str, Any] = field(default_factory=dict)
    # The database server's processes serving this deployment (none for SQLite, which runs
    # in the server's own process).
    database_pids: Callable[[], list[int]] = lambda: []


def stop_all(dep: Deployment, timeout: float) -> None:
    for proc in reversed(dep.procs):
        if proc.popen.poll() is None:
            dep.res[f"rss:{proc.name}"] = rss_mb(proc.popen.pid)
        took, killed = stop(proc, timeout)
        dep.res[f"stop:{proc.name}"] = f">{took:.0f} (KILL)" if killed else took


@contextlib.contextmanager
def standalone(args: argparse.Namespace, tmp: pathlib.Path, metrics: bool = True
               ) -> Iterator[Deployment]:
    name = "standalone" if metrics else "standalone-no-metrics"
    dep = Deployment(name, free_port())
    state = pathlib.Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    extra: list[str] = []
    settings = [*args.set, *([] if metrics else ["metrics.enabled=false"])]
    if settings:
        conf = state / f"{name}.conf"
        conf.write_text(extra_conf(settings))
        extra = ["--config-file", str(conf)]
    try:
        dep.procs.append(spawn("ottava standalone", [
            str(VENV_BIN / "ottava"), "standalone", "--noop",
            "--bind", f"127.0.0.1:{dep.port}",
            "--network-api-bind", f"127.0.0.1:{free_port()}",
            "--key-manager-api-bind", f"127.0.0.1:{free_port()}",
            "--state-dir", str(state), *extra], state / "standalone.log"))
        wait_http(dep.port, dep.procs, deadline_after(args.start_timeout))
        yield dep
    finally:
        stop_all(dep, args.stop_timeout)


def extra_conf(settings: list[str]) -> str:
    """`--set group.option=value` as configuration file sections (appended last)."""
    out = []
    for item in settings:
        key, _, value = item.partition("=")
        group, _, option = key.rpartition(".")
        out.append(f"[{group or 'DEFAULT'}]\n{option} = {value}\n")
    return "".join(out)


def pg_admin(url: str) -> Any:
    from sqlalchemy import create_engine
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def split(args: argparse.Namespace, tmp: pathlib.Path) -> Iterator[Deployment]:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    dep = Deployment("split", free_port())
    run_id = uuid.uuid4().hex[:10]
    dbname, topic = f"ottava_bench_{run_id}", f"ottava_bench_{run_id}"
    admin_url = make_url(args.pg_url)
    db_url = admin_url.set(database=dbname).render_as_string(hide_password=False)
    state = tmp / "split"
    state.mkdir()
    conf = tmp / "split.conf"
    conf.write_text(
        f"[DEFAULT]\ntransport_url = {args.rabbit_url}\n"
        f"[database]\nconnection = {db_url}\n"
        "[controller_worker]\ncompute_driver = noop\nnetwork_driver = noop\n"
        "amphora_driver = noop\n"
        f"[api_settings]\nbind_host = 127.0.0.1\nbind_port = {dep.port}\n"
        f"[oslo_messaging]\ntopic = {topic}\n"
        "[metrics]\nworker_port = 0\n" + extra_conf(args.set))
    created = False
    try:
        admin = pg_admin(args.pg_url)
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {dbname}"))
        admin.dispose()
        created = True
        print(f"  created database {dbname}; RabbitMQ topic {topic}", flush=True)
        subprocess.run([str(VENV_BIN / "ottava"), "db", "upgrade", "--config-file", str(conf)],
                       cwd=ROOT, check=True, timeout=args.start_timeout,
                       stdout=subprocess.DEVNULL)
        env = {"OTTAVA_CONFIG_FILES": str(conf), "OTTAVA_STATE_DIR": str(state)}
        worker = spawn("ottava worker", [str(VENV_BIN / "ottava"), "worker", "--config-file",
                                         str(conf)], tmp / "worker.log")
        dep.procs.append(worker)
        dep.procs.append(spawn("gunicorn", [
            str(VENV_BIN / "gunicorn"), "-w", str(args.gunicorn_workers),
            "--threads", str(args.gunicorn_threads), "-b", f"127.0.0.1:{dep.port}",
            "ottava.wsgi:application"], tmp / "gunicorn.log", env))
        deadline = deadline_after(args.start_timeout)
        wait_log(worker, "consuming operations", deadline)
        wait_http(dep.port, dep.procs, deadline)
        dep.database_pids = functools.partial(backend_pids, args.pg_url, dbname)
        yield dep
    finally:
        stop_all(dep, args.stop_timeout)
        if created:
            try:
                admin = pg_admin(args.pg_url)
                with admin.connect() as c:
                    c.execute(text(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"))
                admin.dispose()
                print(f"  dropped database {dbname}", flush=True)
            except Exception as exc:
                print(f"  could not drop database {dbname}: {exc}", flush=True)
        delete_queues(args.rabbit_url, topic)


def backend_pids(admin_url: str, dbname: str) -> list[int]:
    """The PostgreSQL backends connected to `dbname` now."""
    from sqlalchemy import text

    admin = pg_admin(admin_url)
    try:
        with admin.connect() as c:
            return list(c.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                                  {"d": dbname}).scalars())
    finally:
        admin.dispose()


def delete_queues(rabbit_url: str, topic: str) -> None:
    """Best effort: remove the run's RabbitMQ queues (oslo.messaging leaves topic queues)."""
    ctl = shutil.which("rabbitmqctl")
    if not ctl:
        return
    try:
        out = subprocess.run([ctl, "list_queues", "-q", "name"], capture_output=True,
                             text=True, timeout=30).stdout
        names = [n.strip() for n in out.splitlines() if n.strip().startswith(topic)]
        for name in names:
            subprocess.run([ctl, "delete_queue", name], capture_output=True, timeout=30)
        if names:
            print(f"  deleted {len(names)} RabbitMQ queues of topic {topic}", flush=True)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"  could not delete RabbitMQ queues: {exc}", flush=True)


# ---------------------------------------------------------------- phases


def wait_status(http: Http, path: str, key: str, deadline: float, interval: float,
                want: str = "ACTIVE") -> dict[str, Any]:
    for _ in range(MAX_POLLS):
        obj: dict[str, Any] = http.call("GET", path)[key]
        status = obj["provisioning_status"]
        if status == want:
            return obj
        if status == "ERROR":
            raise RuntimeError(f"{path} went to ERROR")
        check(deadline, f"{path} stuck in {status}")
        if interval:
            time.sleep(interval)
    raise PhaseTimeout(f"{path} not {want} after {MAX_POLLS} polls")


def create_lb(http: Http, name: str) -> dict[str, Any]:
    body = {"loadbalancer": {"name": name, "vip_subnet_id": VIP_SUBNET}}
    lb: dict[str, Any] = http.call("POST", LB, body, expect=(201,))["loadbalancer"]
    return lb


def list_all(http: Http, deadline: float, query: str = "") -> list[dict[str, Any]]:
    """Every load balancer, following `next` links (bounded by deadline and page count)."""
    out: list[dict[str, Any]] = []
    path = f"{LB}?limit=1000{query}"
    for _ in range(1000):
        page = http.call("GET", path)
        out.extend(page["loadbalancers"])
        nxt = [link["href"] for link in page.get("loadbalancers_links", [])
               if link.get("rel") == "next"]
        if not nxt or not page["loadbalancers"]:
            return out
        href = nxt[0]
        path = href[href.index("/v2/"):]
        check(deadline, "listing")
    return out


CREATE_WARMUP = 10  # creates run to ACTIVE before the timed ones, as the GETs warm up


def phase_create_active(http: Http, args: argparse.Namespace, res: dict[str, Any]) -> None:
    deadline = deadline_after(args.phase_timeout)
    # Untimed: a fresh process compiles its first statements and fills its caches.
    for i in range(min(CREATE_WARMUP, args.creates)):
        lb = create_lb(http, f"bench-warm-{i}")
        wait_status(http, f"{LB}/{lb['id']}", "loadbalancer",
                    min(deadline, deadline_after(args.item_timeout)), args.poll)
    totals, posts = [], []
    for i in range(args.creates):
        if time.monotonic() > deadline:
            print(f"    create->ACTIVE: phase deadline after {i} creates", flush=True)
            break
        t0 = time.perf_counter()
        lb = create_lb(http, f"bench-ca-{i}")
        posts.append(time.perf_counter() - t0)
        wait_status(http, f"{LB}/{lb['id']}", "loadbalancer",
                    min(deadline, deadline_after(args.item_timeout)), args.poll)
        totals.append(time.perf_counter() - t0)
    res["create_p50"] = percentile(totals, 50) * 1e3
    res["create_p99"] = percentile(totals, 99) * 1e3
    res["post_p50"] = percentile(posts, 50) * 1e3
    res["create_n"] = len(totals)
    print(f"    create->ACTIVE: {len(totals)} creates, p50 {res['create_p50']:.1f} ms, "
          f"p99 {res['create_p99']:.1f} ms (POST alone p50 {res['post_p50']:.1f} ms)",
          flush=True)


def phase_bulk(http: Http, args: argparse.Namespace, res: dict[str, Any]) -> None:
    deadline = deadline_after(args.bulk_timeout)
    have = len(list_all(http, deadline))
    todo = max(0, args.lbs - have)
    t0 = time.perf_counter()
    made = 0
    for i in range(todo):
        if time.monotonic() > deadline:
            print(f"    bulk create: phase deadline after {i} POSTs", flush=True)
            break
        create_lb(http, f"bench-{i}")
        made += 1
        if made % 250 == 0:
            print(f"    bulk create: {made}/{todo} POSTed, "
                  f"{made / (time.perf_counter() - t0):.0f}/s", flush=True)
    posted = time.perf_counter() - t0
    res["bulk_post_rate"] = made / posted if made else float("nan")
    # Then wait until every load balancer is ACTIVE (poll the list).
    pending = -1
    for _ in range(MAX_POLLS):
        if time.monotonic() > deadline:
            break
        lbs = list_all(http, deadline, "&fields=id&fields=provisioning_status")
        pending = sum(1 for lb in lbs if lb["provisioning_status"] != "ACTIVE")
        if pending == 0:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    if pending:
        print(f"    bulk create: {pending} load balancers not ACTIVE at the deadline",
              flush=True)
    res["bulk_active_rate"] = made / elapsed if made and pending == 0 else float("nan")
    print(f"    bulk create: {made} LBs POSTed in {posted:.1f} s "
          f"({res['bulk_post_rate']:.0f}/s), all ACTIVE after {elapsed:.1f} s", flush=True)


def timed_gets(http: Http, path: str, count: int, deadline: float) -> tuple[list[float], float]:
    """`count` sequential GETs of `path` after a warm-up: their latencies and the wall time."""
    for _ in range(min(50, count)):
        http.raw("GET", path)  # the answer may not be JSON (/metrics)
    lat: list[float] = []
    t_start = time.perf_counter()
    for _ in range(count):
        if time.monotonic() > deadline:
            print(f"    GET {path}: phase deadline after {len(lat)} requests", flush=True)
            break
        t0 = time.perf_counter()
        status, body = http.raw("GET", path)
        lat.append(time.perf_counter() - t0)
        if status != 200:
            http.problems.add(f"[{http.deployment}] GET {path} -> {status}", str(body[:200]))
    return lat, time.perf_counter() - t_start


def alternated_gets(http: Http, paths: tuple[str, str], count: int, deadline: float,
                    block: int = 50) -> tuple[list[float], list[float], float]:
    """`count` GETs of each of two paths, in turns of `block` of each after a warm-up: both
    see the host in the same state (its speed drifts within seconds), and each turn is long
    enough to run warm. The latencies of each, and the wall time of the second's turns."""
    for _ in range(min(50, count)):
        for path in paths:
            http.raw("GET", path)
    lats: tuple[list[float], list[float]] = ([], [])
    wall = 0.0
    while len(lats[1]) < count:
        if time.monotonic() > deadline:
            print(f"    GET {paths}: phase deadline after {len(lats[1])} of each", flush=True)
            break
        turn = min(block, count - len(lats[1]))
        for path, lat in zip(paths, lats, strict=True):
            t_turn = time.perf_counter()
            for _ in range(turn):
                t0 = time.perf_counter()
                status, body = http.raw("GET", path)
                lat.append(time.perf_counter() - t0)
                if status != 200:
                    http.problems.add(f"[{http.deployment}] GET {path} -> {status}",
                                      str(body[:200]))
        wall += time.perf_counter() - t_turn
    return lats[0], lats[1], wall


def phase_get(http: Http, args: argparse.Namespace, res: dict[str, Any], lb_id: str) -> None:
    """GET one load balancer, beside GET / (the version document: no database, no policy),
    in turns on one connection: the floor of the framework and the server."""
    deadline = deadline_after(args.phase_timeout)
    floor, lat, wall = alternated_gets(http, ("/", f"{LB}/{lb_id}"), args.gets, deadline)
    res["floor_p50"] = percentile(floor, 50) * 1e3
    res["get_p50"] = percentile(lat, 50) * 1e3
    res["get_p99"] = percentile(lat, 99) * 1e3
    res["get_rps"] = len(lat) / wall if wall else float("nan")
    res["get_over_floor"] = res["get_p50"] / res["floor_p50"]
    if http.raw("GET", "/metrics")[0] == 200:  # one scrape of everything, fleet included
        scrapes, _ = timed_gets(http, "/metrics", max(10, args.gets // 50), deadline)
        res["metrics_p50"] = percentile(scrapes, 50) * 1e3
    print(f"    GET: {len(lat)} requests, p50 {res['get_p50']:.2f} ms "
          f"({res['get_over_floor']:.2f}x the floor, GET / p50 {res['floor_p50']:.2f} ms), "
          f"p99 {res['get_p99']:.2f} ms, {res['get_rps']:.0f}/s", flush=True)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children (gunicorn's workers)
    so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for cur in process_tree(pids):
        try:
            fields = pathlib.Path(f"/proc/{cur}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


def concurrent_client(port: int, path: str, seconds: float, count: int,
                      start: float) -> tuple[list[float], int, float]:
    """One of the concurrent clients (its own process): GETs `path` on its own keep-alive
    connection from `start` for `seconds` (and at most `count` times); latencies, errors,
    and the CPU seconds it spent doing so."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat: list[float] = []
    errors = 0
    time.sleep(max(0.0, start - time.time()))
    cpu = time.process_time()
    until = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > until:
            break
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers={"Accept": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                errors += 1
            if resp.will_close:
                conn.close()
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
        lat.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    conn.close()
    return lat, errors, cpu


def phase_concurrent(dep: Deployment, args: argparse.Namespace, res: dict[str, Any],
                     lb_id: str, problems: Problems) -> None:
    """`--clients` processes GET one load balancer at once for `--concurrent-seconds`: the
    requests per second of all of them, beside one client's (phase GET), and how many of the
    host's cores were kept busy meanwhile (from CPU times): by the server processes, by the
    database's, and by the clients themselves, which share the host with them."""
    import multiprocessing

    path = f"{LB}/{lb_id}"
    pids = [p.popen.pid for p in dep.procs]
    context = multiprocessing.get_context("fork")
    start = time.time() + 1.0  # every client starts at once, after all have forked
    with context.Pool(args.clients) as pool:
        waiting = [pool.apply_async(concurrent_client, (dep.port, path, args.concurrent_seconds,
                                                        args.gets * 10, start))
                   for _ in range(args.clients)]
        time.sleep(max(0.0, start - time.time()))
        database = dep.database_pids()
        cpu0, db0, t0 = cpu_seconds(pids), cpu_seconds(database), time.perf_counter()
        outcomes = [w.get(timeout=args.concurrent_seconds + args.request_timeout + 10)
                    for w in waiting]
        wall = time.perf_counter() - t0
        cpu, db_cpu = cpu_seconds(pids) - cpu0, cpu_seconds(database) - db0
    lat = [x for lats, _, _ in outcomes for x in lats]
    errors = sum(e for _, e, _ in outcomes)
    if errors:
        problems.add(f"[{dep.name}] concurrent GET", f"{errors} requests failed")
    res["conc_rps"] = len(lat) / wall if wall else float("nan")
    res["conc_p50"] = percentile(lat, 50) * 1e3
    res["conc_cores"] = cpu / wall if wall else float("nan")
    res["conc_db_cores"] = db_cpu / wall if wall and database else float("nan")
    res["conc_client_cores"] = sum(c for _, _, c in outcomes) / wall if wall else float("nan")
    one = res.get("get_rps")
    res["conc_over_one"] = res["conc_rps"] / one if one else float("nan")
    print(f"    {args.clients} clients: {len(lat)} GETs in {wall:.1f} s, "
          f"{res['conc_rps']:.0f}/s ({res['conc_over_one']:.2f}x one client), "
          f"p50 {res['conc_p50']:.2f} ms; cores busy of {os.cpu_count()}: server "
          f"{res['conc_cores']:.2f}, database {res['conc_db_cores']:.2f}, clients "
          f"{res['conc_client_cores']:.2f}", flush=True)


def phase_list(http: Http, args: argparse.Namespace, res: dict[str, Any]) -> None:
    deadline = deadline_after(args.phase_timeout)
    path = f"{LB}?limit=1000"
    http.call("GET", path)
    lat: list[float] = []
    count = 0
    for _ in range(args.lists):
        if time.monotonic() > deadline:
            print(f"    list: phase deadline after {len(lat)} lists", flush=True)
            break
        t0 = time.perf_counter()
        status, payload = http.raw("GET", path)
        lat.append(time.perf_counter() - t0)  # the answer, not this client parsing it
        if status != 200:
            http.problems.add(f"[{http.deployment}] GET {path} -> {status}", str(payload[:200]))
            continue
        count = len(json.loads(payload)["loadbalancers"])
    res["list_p50"] = percentile(lat, 50) * 1e3
    res["list_count"] = count
    print(f"    list: {len(lat)} lists of {count} LBs, p50 {res['list_p50']:.1f} ms, "
          f"max {max(lat) * 1e3:.1f} ms", flush=True)


def timed_batch(http: Http, args: argparse.Namespace, pool_id: str, lb_id: str,
                members: list[dict[str, Any]]) -> float:
    deadline = deadline_after(args.phase_timeout)
    t0 = time.perf_counter()
    http.call("PUT", f"{POOLS}/{pool_id}/members", {"members": members}, expect=(202,))
    wait_status(http, f"{POOLS}/{pool_id}", "pool", deadline, args.poll)
    wait_status(http, f"{LB}/{lb_id}", "loadbalancer", deadline, args.poll)
    return time.perf_counter() - t0


def phase_batch(http: Http, args: argparse.Namespace, res: dict[str, Any], lb_id: str) -> None:
    deadline = deadline_after(args.phase_timeout)
    pool = http.call("POST", POOLS, {"pool": {
        "name": "bench-pool", "loadbalancer_id": lb_id, "protocol": "HTTP",
        "lb_algorithm": "ROUND_ROBIN"}}, expect=(201,))["pool"]
    wait_status(http, f"{POOLS}/{pool['id']}", "pool", deadline, args.poll)
    wait_status(http, f"{LB}/{lb_id}", "loadbalancer", deadline, args.poll)
    members = [{"address": f"10.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}",
                "protocol_port": 80, "name": f"m{i}"} for i in range(args.members)]
    res["batch_create_s"] = timed_batch(http, args, pool["id"], lb_id, members)
    print(f"    batch: {len(members)} new members -> ACTIVE in "
          f"{res['batch_create_s']:.2f} s", flush=True)
    for mb in members:
        mb["weight"] = 2
    res["batch_update_s"] = timed_batch(http, args, pool["id"], lb_id, members)
    print(f"    batch: {len(members)} members re-weighted -> ACTIVE in "
          f"{res['batch_update_s']:.2f} s", flush=True)
    got = http.call("GET", f"{POOLS}/{pool['id']}/members?limit=1000"
                    "&fields=id&fields=provisioning_status&fields=weight")["members"]
    res["batch_members"] = len(got)
    bad = [m for m in got if m.get("provisioning_status") != "ACTIVE" or m.get("weight") != 2]
    if len(got) != min(len(members), 1000) or bad:
        http.problems.add(f"[{http.deployment}] batch result",
                          f"{len(got)} members listed (wanted {len(members)}), "
                          f"{len(bad)} not ACTIVE/weight 2")


def run_deployment(dep: Deployment, args: argparse.Namespace, problems: Problems) -> None:
    res = dep.res
    http = Http("127.0.0.1", dep.port, problems, dep.name, timeout=args.request_timeout)
    phases: list[tuple[str, Callable[[], None]]] = [
        ("create->ACTIVE", lambda: phase_create_active(http, args, res)),
        ("bulk create", lambda: phase_bulk(http, args, res)),
        ("GET", lambda: phase_get(http, args, res, lb_id)),
        ("concurrent GET", lambda: phase_concurrent(dep, args, res, lb_id, problems)),
        ("list", lambda: phase_list(http, args, res)),
        ("batch members", lambda: phase_batch(http, args, res, lb_id)),
    ]
    t0 = time.perf_counter()
    lb_id = ""
    try:
        lb_id = create_lb(http, "bench-target")["id"]
        wait_status(http, f"{LB}/{lb_id}", "loadbalancer",
                    deadline_after(args.item_timeout), args.poll)
    except Exception as exc:
        problems.add(f"[{dep.name}] first create", repr(exc))
        return
    for name, phase in phases:
        if name in args.skip:
            continue
        try:
            phase()
        except Exception as exc:
            print(f"    {name}: FAILED {exc!r}"[:400], flush=True)
            problems.add(f"[{dep.name}] phase {name}", repr(exc)[:400])
        for proc in dep.procs:
            if proc.popen.poll() is not None:
                problems.add(f"[{dep.name}] {proc.name} died",
                             f"exit {proc.popen.returncode}: {tail(proc.log, 5)}")
                http.close()
                return
    http.close()
    print(f"  {dep.name}: done in {time.perf_counter() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------- report


def fmt(value: Any, key: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if key in ("get_over_floor", "conc_over_one") and isinstance(value, float):
        return f"{value:.2f}x"
    if key.endswith("_count") or key == "batch_members":
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return str(value)


def source_version() -> str:
    """The commit the servers run, and whether src/ differs from it (others edit it)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=ROOT,
                               text=True, capture_output=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'unknown'}{' + uncommitted changes in src/' if dirty else ''}"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    names = list(results)
    head = f"{'figure':<30}{'target':>8}"
    for n in names:
        head += f"{n:>12}{'x target':>10}"
    head += f"{'Octavia 19':>14}"
    print()
    print(f"Ottava API benchmark at {args.version}\n({args.lbs} LBs, {args.members} members, "
          f"{args.gets} GETs, {args.lists} lists, {args.creates} creates; "
          f"poll every {args.poll * 1e3:g} ms)"
          + (f"\nwith {', '.join(args.set)}" if args.set else ""))
    print(head)
    print("-" * len(head))
    for key, label, target, octavia in FIGURES:
        line = f"{label:<30}{fmt(target, key) if target else '':>8}"
        for n in names:
            v = results[n].get(key)
            ratio = ""
            if target and isinstance(v, float) and v == v:
                ratio = f"{v / target:.2f}x"
            line += f"{fmt(v, key):>12}{ratio:>10}"
        line += f"{octavia:>14}"
        print(line)
    extra = sorted({k for r in results.values() for k in r if ":" in k})
    for key in extra:
        kind, proc = key.split(":", 1)
        what = "RSS at end (MB)" if kind == "rss" else "SIGTERM -> exit (s)"
        label = f"{what}, {proc.split()[-1]}"
        line = f"{label[:30]:<30}{'':>8}"
        for n in names:
            line += f"{fmt(results[n].get(key), key):>12}{'':>10}"
        print(line)
    print("(x target = figure / target: at most 1.00x meets the target; latencies in ms, "
          "batch in s)")
    with_metrics = results.get("standalone", {}).get("get_p50")
    without = results.get("standalone-no-metrics", {}).get("get_p50")
    if with_metrics and without:
        print(f"metrics overhead on GET one LB p50 (standalone): "
              f"{(with_metrics / without - 1) * 100:+.1f} % "
              f"({with_metrics:.3f} ms with, {without:.3f} ms without; goal under 5 %)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 200 LBs, 100 members, fewer requests")
    p.add_argument("--deployments", default="standalone,split",
                   help="comma-separated: standalone, split, standalone-no-metrics "
                   "(default: standalone,split)")
    p.add_argument("--lbs", type=int, help="load balancers in the list (default 1000)")
    p.add_argument("--members", type=int, help="members in the batch (default 1000)")
    p.add_argument("--gets", type=int, help="GETs of one load balancer (default 3000)")
    p.add_argument("--lists", type=int, help="lists timed (default 36)")
    p.add_argument("--creates", type=int, help="timed create->ACTIVE (default 50)")
    p.add_argument("--clients", type=int, default=16,
                   help="concurrent clients of phase 'concurrent GET' (16)")
    p.add_argument("--concurrent-seconds", type=float, default=8.0,
                   help="how long the concurrent clients run, s (8)")
    p.add_argument("--poll", type=float, default=0.002, help="poll interval, s (0.002)")
    p.add_argument("--skip", default="", help="comma-separated phases to skip: "
                   "'create->ACTIVE', 'bulk create', GET, 'concurrent GET', list, "
                   "'batch members'")
    p.add_argument("--pg-url", default=os.environ.get(
        "OTTAVA_BENCH_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL admin URL; a fresh database is created and dropped")
    p.add_argument("--rabbit-url", default=os.environ.get(
        "OTTAVA_BENCH_RABBIT", "rabbit://guest:guest@127.0.0.1:5672/"))
    p.add_argument("--set", action="append", default=[], metavar="GROUP.OPTION=VALUE",
                   help="extra configuration for both deployments, e.g. "
                   "task_flow.persistence=memory (repeatable)")
    p.add_argument("--gunicorn-workers", type=int, default=2)
    p.add_argument("--gunicorn-threads", type=int, default=4)
    p.add_argument("--phase-timeout", type=float, default=120.0,
                   help="deadline of each timed phase, s")
    p.add_argument("--bulk-timeout", type=float, default=1800.0,
                   help="deadline of the bulk create (and wait for ACTIVE), s")
    p.add_argument("--item-timeout", type=float, default=20.0,
                   help="deadline of one create->ACTIVE, s")
    p.add_argument("--request-timeout", type=float, default=60.0)
    p.add_argument("--start-timeout", type=float, default=90.0)
    p.add_argument("--stop-timeout", type=float, default=15.0)
    p.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    small = {"lbs": 200, "members": 100, "gets": 500, "lists": 12, "creates": 20}
    full = {"lbs": 1000, "members": 1000, "gets": 3000, "lists": 36, "creates": 50}
    for k, v in (small if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    args.version = source_version()
    print(f"source: {args.version}", flush=True)
    problems = Problems()
    results: dict[str, dict[str, Any]] = {}
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ottava-bench-"))
    starters = {"standalone": standalone, "split": split,
                "standalone-no-metrics": functools.partial(standalone, metrics=False)}
    try:
        for name in [d.strip() for d in args.deployments.split(",") if d.strip()]:
            print(f"== {name}", flush=True)
            results[name] = {}
            try:
                with starters[name](args, tmp) as dep:
                    results[name] = dep.res
                    run_deployment(dep, args, problems)
            except Exception as exc:
                print(f"  {name}: FAILED {exc!r}"[:600], flush=True)
                problems.add(f"[{name}] deployment", repr(exc)[:600])
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        if args.keep_logs or problems.items:
            print(f"logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, args)
    problems.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
