"""Health-manager benchmark: heartbeats per second ingested WITH database writes by one
`ottava health-manager` process, fed by simulated amphorae over loopback UDP.

For each database (SQLite in a temporary folder; PostgreSQL: a fresh database on
`--pg-url`, dropped at the end) it:

1. migrates the schema (`ottava db upgrade`) and bulk-inserts `--amphorae` simulated amphorae,
   each the ALLOCATED amphora of its own ACTIVE load balancer (spec_hash set), with one
   listener, one pool (the listener's default) and two members;
2. starts a real `.venv/bin/ottava health-manager --config-file F` (bind 127.0.0.1, a free UDP
   port, a known heartbeat_key, heartbeat_timeout 1 day so nothing is failed over,
   health_update_interval at its default unless `--flush-interval`, RabbitMQ transport_url
   and a topic of its own: the health manager only casts on failover or drift, so nothing is
   cast);
3. sends one warm-up round (every amphora once, not counted: the first derivation of each
   amphora and the first statistics rows), then one run per `--rates` entry: `--senders`
   processes (multiprocessing, fork) pre-encode their share of the datagrams with
   `ottava.wire.heartbeat.encode` and then send them paced at rate/senders each, in rounds
   over all amphorae (round-major), for about `--duration` seconds: R = round(rate x duration
   / amphorae) rounds, at least 1. Every loop is bounded by its count and by a deadline.

What one heartbeat carries: the load balancer's spec hash (so statuses are derived), listener
OPEN, pool UP, member 0 UP, member 1 UP -- except on every (1/`--flap`)-th amphora, where
member 1 alternates UP/DOWN each round (pool and load balancer DEGRADED/ONLINE: status
writes) -- and listener statistics whose `total_connections` is the round number g, which
increases across runs (g = 1 is the warm-up); the other counters change with g too, so every
heartbeat carries new statistics to write.

How "ingested with database writes" is counted (from the database, not from the sender):
the health manager keeps only the latest heartbeat of each amphora per flush (latest wins) and
writes one `listener_statistics` row per (listener, amphora) with that heartbeat's counters.
After a run whose rounds are g0+1 .. g0+R, amphora a's row holds total_connections = final_a,
the last round of a that reached the database. Every heartbeat of a with a round <= final_a
was either written or superseded, within one flush, by a newer heartbeat of a that was
written (its information is subsumed): both count as ingested -- unless it never reached
the health manager at all. Those are the datagrams the kernel dropped on the health
manager's socket (receive buffer full), read as the `drops` column of /proc/net/udp for its
port before and after the run. So

    ingested = sum over amphorae of (final_a - g0)  -  kernel drops during the run

a lower bound (a dropped datagram with a round above final_a is subtracted although it was
never counted). Datagrams the health manager rejects (bad signature, unknown amphora, ...) or
fails to write never advance final_a. "complete" is how many amphorae have their last round
in the database (final_a = g0 + R).

    ingested/s = ingested / (t_db - t_first_send)

where t_db is when the benchmark's poll of the database (SUM(total_connections) every
`--poll` s, from this process) first showed the final sum: the sum reached g0+R per amphora,
or stopped changing for `--settle` s after the last send (bounded by `--drain-timeout`).
lag = t_db - t_last_send. offered/s = datagrams sent / (t_last_send - t_first_send). HM CPU is
utime + stime of the health-manager process over the run (/proc/<pid>/stat), also per
ingested heartbeat; RSS is its VmRSS after the run (and VmHWM, its peak). `amphora_health`
rows updated during the run are printed too (liveness written). The benchmark prints
figures beside the issue's target (>= 20,000/s on this 2-core machine); it never asserts
them. Note that the senders and the database share the machine's cores with the health
manager.

    .venv/bin/python bench/health.py                       # SQLite and PostgreSQL, ~4 min
    .venv/bin/python bench/health.py --databases sqlite --rates 20000 --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from api import MAX_POLLS, VENV_BIN, Proc, source_version, spawn, stop, tail

ROOT = pathlib.Path(__file__).resolve().parent.parent

TARGET = 20_000.0  # heartbeats/s, issue 4
KEY = "bench-heartbeat-key-" + "0" * 44
CHUNK_ROWS = 2000  # rows per INSERT batch when populating
PACE_EVERY = 32  # datagrams sent between two looks at the clock


def ident(kind: str, i: int, sub: int = 0) -> str:
    """Deterministic UUID-shaped ids, so sender processes need no list from the database:
    kind is one hex digit (a amphora, b load balancer, c listener, d pool, e member)."""
    return f"{kind}{sub:07x}-0000-4000-8000-{i:012x}"


def spec_hash(i: int) -> str:
    return hashlib.sha256(ident("b", i).encode()).hexdigest()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deadline_after(seconds: float) -> float:
    return time.monotonic() + seconds


# ---------------------------------------------------------------- database


def populate(url: str, n: int) -> float:
    """Bulk-insert n amphorae with their load balancers, listeners, pools and members."""
    from sqlalchemy import insert

    from ottava.db import models as m
    from ottava.db.engine import make_engine

    t0 = time.perf_counter()
    engine = make_engine(url)
    common = {"project_id": "bench", "admin_state_up": True, "provisioning_status": "ACTIVE",
              "operating_status": "ONLINE"}
    try:
        for start in range(0, n, CHUNK_ROWS):
            idx = range(start, min(n, start + CHUNK_ROWS))
            with engine.begin() as c:
                c.execute(insert(m.LoadBalancer), [
                    {**common, "id": ident("b", i), "name": f"lb{i}", "provider": "amphora",
                     "topology": "SINGLE", "vip_address": f"10.{i >> 16 & 255}."
                     f"{i >> 8 & 255}.{i & 255}", "spec_hash": spec_hash(i)} for i in idx])
                c.execute(insert(m.Pool), [
                    {**common, "id": ident("d", i), "load_balancer_id": ident("b", i),
                     "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"} for i in idx])
                c.execute(insert(m.Listener), [
                    {**common, "id": ident("c", i), "load_balancer_id": ident("b", i),
                     "protocol": "HTTP", "protocol_port": 80,
                     "default_pool_id": ident("d", i)} for i in idx])
                c.execute(insert(m.Member), [
                    {**common, "id": ident("e", i, k), "pool_id": ident("d", i),
                     "address": f"192.0.2.{k + 1}", "protocol_port": 80}
                    for i in idx for k in (0, 1)])
                c.execute(insert(m.Amphora), [
                    {"id": ident("a", i), "load_balancer_id": ident("b", i),
                     "compute_id": f"bench-{i}", "status": "ALLOCATED", "role": "STANDALONE",
                     "lb_network_ip": "127.0.0.1"} for i in idx])
    finally:
        engine.dispose()
    return time.perf_counter() - t0


class DbProbe:
    """This process's view of what the health manager wrote."""

    def __init__(self, url: str) -> None:
        from ottava.db.engine import make_engine

        self.engine = make_engine(url, pool_size=1, max_overflow=0) \
            if not url.startswith("sqlite") else make_engine(url)

    def stats_sum(self) -> int:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return int(c.execute(text(
                "SELECT COALESCE(SUM(total_connections), 0) FROM listener_statistics")
            ).scalar_one())

    def complete(self, last_round: int) -> int:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return int(c.execute(text(
                "SELECT COUNT(*) FROM listener_statistics WHERE total_connections = :g"),
                {"g": last_round}).scalar_one())

    def heard_since(self, since: Any) -> int:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return int(c.execute(text(
                "SELECT COUNT(*) FROM amphora_health WHERE last_update >= :t"),
                {"t": since}).scalar_one())

    def close(self) -> None:
        self.engine.dispose()


# ---------------------------------------------------------------- health-manager process


def udp_drops(port: int) -> int | None:
    """The kernel's drop counter of the UDP socket bound to 127.0.0.1:port (/proc/net/udp)."""
    want = f"0100007F:{port:04X}"
    try:
        lines = pathlib.Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        cols = line.split()
        if len(cols) >= 13 and cols[1] == want:
            return int(cols[12])
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    raw = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat), all cores."""
    cols = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = cols[3] + (cols[4] if len(cols) > 4 else 0)
    return (sum(cols[:8]) - idle) / ticks, sum(cols[:8]) / ticks


def memory_mb(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


def wait_started(proc: Proc, deadline: float) -> None:
    for _ in range(MAX_POLLS):
        if "heartbeats on" in proc.log.read_text(errors="replace"):
            return
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}:\n{tail(proc.log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not start:\n{tail(proc.log)}")
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not start")


# ---------------------------------------------------------------- senders


def heartbeat(i: int, g: int, flap_every: int) -> dict[str, Any]:
    """Amphora i's heartbeat of global round g (total_connections = g)."""
    down = flap_every > 0 and i % flap_every == 0 and g % 2 == 1
    return {
        "id": ident("a", i), "seq": g, "hash": spec_hash(i),
        "listeners": {ident("c", i): {"status": "OPEN", "stats": {
            "bytes_in": g * 1500 + i, "bytes_out": g * 9000 + i,
            "active_connections": g % 7, "total_connections": g, "request_errors": g // 100}}},
        "pools": {ident("d", i): {"status": "UP", "members": {
            ident("e", i, 0): "UP", ident("e", i, 1): "DOWN" if down else "UP"}}},
    }


def sender(conn: multiprocessing.connection.Connection, port: int, amphorae: list[int],
           rounds: range, rate: float, flap_every: int, max_seconds: float) -> None:
    """Pre-encode, say ready, wait for the start time, send paced; report what was sent."""
    from ottava.wire import heartbeat as wire

    key = KEY.encode()
    # Encoded ahead, each with its own amphora's key, dated one second apart per round so that
    # none is a replay of the one before (the health manager's max age allows for it).
    base = time.time()
    keys = {i: wire.amphora_key(key, ident("a", i)) for i in amphorae}
    datagrams = [wire.encode(heartbeat(i, g, flap_every), keys[i],  # type: ignore[arg-type]
                             sent=base + g)
                 for g in rounds for i in amphorae]
    conn.send(("ready", len(datagrams)))
    if not conn.poll(600):
        return
    start = conn.recv()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", port)
    sendto, mono, sleep = sock.sendto, time.monotonic, time.sleep
    errors = sent = 0
    delay = start - mono()
    if delay > 0:
        sleep(delay)
    first, cpu0 = mono(), time.process_time()
    give_up = first + max_seconds
    for k, datagram in enumerate(datagrams):
        if k % PACE_EVERY == 0:
            now = mono()
            ahead = start + k / rate - now
            if ahead > 0:
                sleep(ahead)
            elif now > give_up:
                break
        try:
            sendto(datagram, target)
            sent += 1
        except OSError:
            errors += 1
    last = mono()
    sock.close()
    conn.send(("done", sent, errors, first, last, time.process_time() - cpu0))
    conn.close()


# ---------------------------------------------------------------- one run


@dataclass
class Run:
    label: str
    rate: float
    rounds: int = 0
    sent: int = 0
    send_errors: int = 0
    offered: float = float("nan")
    drops: int | None = None
    advanced: int = 0
    ingested: int = 0
    ingested_rate: float = float("nan")
    complete: int = 0
    heard: int = 0
    lag: float = float("nan")
    drained: bool = False
    cpu: float = float("nan")
    rss: float = float("nan")
    hwm: float = float("nan")
    encode_s: float = float("nan")
    host_cores: float = float("nan")  # machine CPU busy during the run, in cores
    others_cores: float = float("nan")  # of which neither the HM nor this benchmark's senders
    load: float = float("nan")  # 1-minute load average at the start
    note: str = ""


@dataclass
class Context:
    args: argparse.Namespace
    port: int
    hm: Proc
    probe: DbProbe
    next_round: int = 1
    runs: list[Run] = field(default_factory=list)


def one_run(ctx: Context, run: Run, rounds: int) -> Run:
    args = ctx.args
    from ottava.db.health import now as db_now

    n = args.amphorae
    g0 = ctx.next_round - 1
    span = range(g0 + 1, g0 + rounds + 1)
    ctx.next_round += rounds
    run.rounds = rounds
    senders = max(1, min(args.senders, n))
    mp = multiprocessing.get_context("fork")
    procs, pipes = [], []
    flap_every = round(1 / args.flap) if args.flap > 0 else 0
    max_seconds = rounds * n / run.rate * 2 + 10
    try:
        t_enc = time.perf_counter()
        for s in range(senders):
            mine, theirs = mp.Pipe()
            p = mp.Process(target=sender, daemon=True, args=(
                theirs, ctx.port, list(range(s, n, senders)), span, run.rate / senders,
                flap_every, max_seconds))
            p.start()
            procs.append(p)
            pipes.append(mine)
        for pipe in pipes:
            if not pipe.poll(args.encode_timeout):
                raise RuntimeError("a sender did not finish encoding in time")
            pipe.recv()
        run.encode_s = time.perf_counter() - t_enc
        before_sum = ctx.probe.stats_sum()
        before_drops = udp_drops(ctx.port)
        before_cpu = cpu_seconds(ctx.hm.popen.pid)
        before_host, t_host = host_busy()[0], time.monotonic()
        run.load = os.getloadavg()[0]
        since = db_now()
        start = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(start)
        # Poll the database while the senders send and until it has settled.
        target_sum = n * (g0 + rounds)  # every amphora's row at its last round
        results: list[Any] = []
        finished: set[Any] = set()
        value, changed_at = before_sum, time.monotonic()
        last_send: float | None = None
        give_up = start + max_seconds + args.drain_timeout + 5
        for _ in range(MAX_POLLS):
            now = time.monotonic()
            for pipe in pipes:
                if pipe not in finished and pipe.poll(0):
                    finished.add(pipe)
                    with contextlib.suppress(EOFError):  # a sender that died: no result
                        results.append(pipe.recv())
            if last_send is None and len(finished) == senders:
                if len(results) < senders:
                    run.note = "a sender died"
                    break
                last_send = max(r[4] for r in results)
            current = ctx.probe.stats_sum()
            if current != value:
                value, changed_at = current, time.monotonic()
            if last_send is not None:
                if value >= target_sum:
                    run.drained = True
                    break
                if now - max(changed_at, last_send) > args.settle:
                    break
                if now - last_send > args.drain_timeout:
                    break
            if now > give_up:
                run.note = "senders did not finish in time"
                break
            if ctx.hm.popen.poll() is not None:
                run.note = f"health manager exited {ctx.hm.popen.returncode}"
                break
            time.sleep(args.poll)
        run.cpu = cpu_seconds(ctx.hm.popen.pid) - before_cpu \
            if ctx.hm.popen.poll() is None else float("nan")
        after_drops = udp_drops(ctx.port)
        run.host_cores = (host_busy()[0] - before_host) / (time.monotonic() - t_host)
        mine = sum(r[5] for r in results)  # the senders' CPU while sending
        if run.cpu == run.cpu:
            run.others_cores = run.host_cores - (run.cpu + mine) / (time.monotonic() - t_host)
        if before_drops is not None and after_drops is not None:
            run.drops = after_drops - before_drops
        if len(results) == senders:
            run.sent = sum(r[1] for r in results)
            run.send_errors = sum(r[2] for r in results)
            first = min(r[3] for r in results)
            last = max(r[4] for r in results)
            run.offered = run.sent / (last - first) if last > first else float("nan")
            run.advanced = value - before_sum  # rounds that reached the DB, summed
            run.ingested = max(0, run.advanced - (run.drops or 0))
            if run.advanced == 0:
                run.note = "the database did not advance (no flush landed in time)"
            run.lag = changed_at - last
            took = changed_at - first
            run.ingested_rate = run.ingested / took if took > 0 else float("nan")
        run.complete = ctx.probe.complete(g0 + rounds)
        run.heard = ctx.probe.heard_since(since)
        if ctx.hm.popen.poll() is None:
            run.rss, run.hwm = memory_mb(ctx.hm.popen.pid)
    finally:
        for pipe in pipes:
            pipe.close()
        for p in procs:
            p.join(5)
            if p.is_alive() and p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, 9)
                p.join(5)
    return run


def print_run(run: Run) -> None:
    drops = "?" if run.drops is None else str(run.drops)
    print(f"    {run.label}: {run.rounds} rounds, {run.sent} sent at {run.offered:,.0f}/s "
          f"(encoded in {run.encode_s:.1f} s), kernel drops {drops}, ingested {run.ingested} "
          f"= {run.ingested_rate:,.0f}/s, complete {run.complete}, heard {run.heard}, "
          f"lag {run.lag:.2f} s{'' if run.drained else ' (not drained)'}, HM CPU "
          f"{run.cpu:.1f} s, RSS {run.rss:.0f} MB, machine busy {run.host_cores:.2f} cores "
          f"(other work {run.others_cores:.2f}, load {run.load:.1f})"
          f"{'; ' + run.note if run.note else ''}", flush=True)


# ---------------------------------------------------------------- one database


@contextlib.contextmanager
def database(kind: str, args: argparse.Namespace, tmp: pathlib.Path) -> Any:
    """A fresh, empty database URL; a PostgreSQL one is dropped at the end."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'sqlite' / 'ottava.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(args.pg_url)
    name = f"ottava_bench_health_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    print(f"  created database {name}", flush=True)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
            print(f"  dropped database {name}", flush=True)
        except Exception as exc:
            print(f"  could not drop database {name}: {exc}", flush=True)


def bench_database(kind: str, args: argparse.Namespace, tmp: pathlib.Path) -> list[Run]:
    state = tmp / kind
    state.mkdir()
    runs: list[Run] = []
    with database(kind, args, tmp) as url:
        port = free_udp_port()
        conf = tmp / f"{kind}.conf"
        flush = f"health_update_interval = {args.flush_interval}\n" \
            if args.flush_interval else ""
        conf.write_text(
            f"[DEFAULT]\ntransport_url = {args.rabbit_url}\nstate_path = {state}\n"
            f"[database]\nconnection = {url}\n"
            f"[health_manager]\nbind_ip = 127.0.0.1\nbind_port = {port}\n"
            f"heartbeat_key = {KEY}\nheartbeat_timeout = 86400\n"
            f"heartbeat_max_age = 86400\n{flush}"
            f"[oslo_messaging]\ntopic = ottava_bench_health_{uuid.uuid4().hex[:10]}\n"
            "[metrics]\nhealth_manager_port = 0\n")
        subprocess.run([str(VENV_BIN / "ottava"), "db", "upgrade", "--config-file", str(conf)],
                       cwd=ROOT, check=True, timeout=args.start_timeout,
                       stdout=subprocess.DEVNULL)
        took = populate(url, args.amphorae)
        print(f"  {args.amphorae} amphorae (with load balancer, listener, pool, 2 members) "
              f"inserted in {took:.1f} s", flush=True)
        hm = spawn(f"ottava health-manager ({kind})",
                   [str(VENV_BIN / "ottava"), "health-manager", "--config-file", str(conf)],
                   tmp / f"hm-{kind}.log")
        probe = DbProbe(url)
        try:
            wait_started(hm, deadline_after(args.start_timeout))
            ctx = Context(args, port, hm, probe)
            warm = one_run(ctx, Run("warm-up", min(args.rates)), 1)
            print_run(warm)
            for rate in args.rates:
                rounds = max(1, round(rate * args.duration / args.amphorae))
                run = one_run(ctx, Run(f"{rate:,.0f}/s", rate), rounds)
                print_run(run)
                runs.append(run)
                if hm.popen.poll() is not None:
                    print(f"  health manager died:\n{tail(hm.log)}", flush=True)
                    break
        finally:
            probe.close()
            stop(hm, args.stop_timeout)
            errors = [line for line in hm.log.read_text(errors="replace").splitlines()
                      if " ERROR " in line or "Traceback" in line]
            if errors:
                print(f"  health manager log has {len(errors)} error lines, e.g. "
                      f"{errors[0][:300]}", flush=True)
    return runs


# ---------------------------------------------------------------- report


def report(results: dict[str, list[Run]], args: argparse.Namespace) -> None:
    print()
    print(f"Ottava health-manager benchmark at {args.version}\n({args.amphorae} amphorae, "
          f"{args.senders} senders, ~{args.duration:g} s per rate, flush every "
          f"{args.flush_interval or 0.5:g} s, {args.flap:.0%} of amphorae flapping a member; "
          f"target {TARGET:,.0f}/s ingested; Octavia: trouble at ~1,000/s)")
    head = (f"{'db':<11}{'offered':>9}{'sent/s':>9}{'drops':>8}{'ingested':>10}"
            f"{'ingest/s':>10}{'x target':>9}{'complete':>9}{'lag s':>7}"
            f"{'HM CPU s':>9}{'CPU %':>7}{'us/hb':>7}{'RSS MB':>8}{'other':>7}")
    print(head)
    print("-" * len(head))
    for kind, runs in results.items():
        for r in runs:
            per = r.cpu / r.ingested * 1e6 if r.ingested > 0 else float("nan")
            wall = r.sent / r.offered if r.offered == r.offered and r.offered else float("nan")
            busy = r.cpu / (wall + r.lag) * 100 if wall == wall else float("nan")
            drops = "?" if r.drops is None else str(r.drops)
            print(f"{kind:<11}{r.rate:>9,.0f}{r.offered:>9,.0f}{drops:>8}{r.ingested:>10,}"
                  f"{r.ingested_rate:>10,.0f}{r.ingested_rate / TARGET:>8.2f}x"
                  f"{r.complete:>9,}{r.lag:>7.2f}{r.cpu:>9.1f}{busy:>7.0f}{per:>7.0f}"
                  f"{r.rss:>8.0f}{r.others_cores:>7.2f}" + (f"  {r.note}" if r.note else ""))
    print("(ingested = DB-side rounds advanced - kernel drops, a lower bound; ingest/s over "
          "first send -> DB shows the final sum; complete = amphorae whose last round is in "
          "the DB; CPU % of one core over the send + lag window; us/hb = HM CPU per ingested "
          "heartbeat; other = cores busy with work that is neither the HM nor the senders -- "
          "other tenants of the machine, PostgreSQL's server processes, this benchmark's "
          "poller -- during the run, in cores)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--databases", default="sqlite,postgresql",
                   help="comma-separated: sqlite, postgresql")
    p.add_argument("--amphorae", type=int, default=10_000)
    p.add_argument("--rates", default="5000,20000,40000",
                   help="offered heartbeats/s, comma-separated")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of sending per rate")
    p.add_argument("--senders", type=int, default=2, help="sender processes")
    p.add_argument("--flap", type=float, default=0.02,
                   help="share of amphorae whose second member alternates UP/DOWN")
    p.add_argument("--flush-interval", type=float, default=None,
                   help="[health_manager] health_update_interval (default: the option's)")
    p.add_argument("--poll", type=float, default=0.1, help="database poll interval, s")
    p.add_argument("--settle", type=float, default=5.0,
                   help="s without progress after the last send that end a run")
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument("--encode-timeout", type=float, default=300.0)
    p.add_argument("--start-timeout", type=float, default=90.0)
    p.add_argument("--stop-timeout", type=float, default=15.0)
    p.add_argument("--pg-url", default=os.environ.get(
        "OTTAVA_BENCH_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL admin URL; a fresh database is created and dropped")
    p.add_argument("--rabbit-url", default=os.environ.get(
        "OTTAVA_BENCH_RABBIT", "rabbit://guest:guest@127.0.0.1:5672/"))
    p.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    args = p.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    args.version = source_version()
    print(f"source: {args.version}", flush=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ottava-bench-health-"))
    results: dict[str, list[Run]] = {}
    failed = False
    try:
        for kind in [d.strip() for d in args.databases.split(",") if d.strip()]:
            print(f"== {kind}", flush=True)
            try:
                results[kind] = bench_database(kind, args, tmp)
            except Exception as exc:
                failed = True
                print(f"  {kind}: FAILED {exc!r}"[:800], flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        if args.keep_logs or failed:
            print(f"logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
