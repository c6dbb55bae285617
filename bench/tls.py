"""TLS benchmark: a TERMINATED_HTTPS listener of a real local amphora, created through Ottava's
API with its certificate in Ottava's key manager, against a hand-written HAProxy serving the
same certificate in front of the same backends (issue 12: handshakes/s and HTTPS keep-alive
requests/s, goal Ottava >= 0.95 x the baseline, measured in the same run).

It starts everything it measures and stops it by PID at the end (bench/dataplane.py's Rig):

  ottava standalone   real local drivers, SQLite in a temporary --state-dir; API, network
                      API, key manager (--key-manager-api-bind) and health manager on free ports
  2 backends          HAProxy answering `200 ok` itself, on 198.18.0.1
  certificates        self-signed for www.example.test, made with `cryptography`: EC P-256
                      and RSA 2048 (a full handshake costs the server one signature, and an
                      RSA signature costs many times an ECDSA one); each stored in the key
                      manager as a PKCS#12 secret
  load balancer       one fully populated create: a TERMINATED_HTTPS listener per key (EC on
                      :443, RSA on :8443), each with a ROUND_ROBIN HTTP pool of the two
                      backends, and Ottava's default TLS settings
  baseline            HAProxy in a namespace of its own on `ottava0` (as an amphora is), with
                      the same two frontends: `bind <ip>:<port> ssl crt <the same PEM> ...`

What the baseline mirrors of the amphora's generated haproxy.cfg (read from the amphora and
printed): the TLS words of each bind after the certificate (today Ottava's defaults:
`no-sslv3 no-tlsv10 no-tlsv11 ciphers <Mozilla intermediate> alpn h2,http/1.1,http/1.0`), and
the global lines that bear on TLS or throughput (maxconn, nbthread, cpu-map, tune.*, ssl-*:
today only `maxconn`, so both run HAProxy's default of one thread per CPU, its default TLS
session cache and session tickets); the frontends' maxconn and the timeouts are the same. It
does not copy what costs nothing per connection (master-worker, server-state-file, the
backends' options); it adds a stats socket to read `show info`, as the amphora has one.

Figures, Ottava and baseline interleaved (which goes first alternates), `--repeats` runs of
`--duration` seconds each, median run shown:

  keep-alive      HTTPS requests/s: `wrk -t1 -c50` (50 TLS connections set up once, then
                  requests over them: the cost of TLS records, not of handshakes)
  full            full handshakes/s: `--clients` `openssl s_time -new` processes at once,
                  each one connection at a time (TCP connect, full TLS 1.3 handshake without
                  any session to resume, GET / over HTTP/1.0, close), counted from the mark
                  s_time prints per connection over the run, after a 0.5 s warm-up
  resumed         resumed handshakes/s: `wrk -t1 -c50 -H 'Connection: close'`. wrk keeps
                  its TLS session across reconnections, so these are TLS 1.3 resumptions
                  with a session ticket (an ECDHE but no signature), not full handshakes

For each run it also reads the CPU time the HAProxy processes under test used (the amphora's
master and worker; the baseline's one process) and prints the figure per server CPU-second:
client and servers share this machine's CPUs, so a run may be bound by the client, and this
figure compares the two configurations even then. HAProxy's own `SslFrontendSessionReuse_pct`
(over the last second of each run) shows whether handshakes were resumed. It prints figures;
it never asserts them. Not measured: HTTP/2 (wrk and s_time speak HTTP/1.x; ALPN is offered
but not taken).

    .venv/bin/python bench/tls.py                        # root, haproxy, wrk, openssl
    .venv/bin/python bench/tls.py --duration 2 --repeats 1
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import functools
import http.client
import os
import pathlib
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api import LB, VIP_SUBNET, cpu_seconds, percentile, source_version
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from dataplane import (
    BASELINE_ADDRESS,
    BASELINE_NS,
    GATEWAY,
    Api,
    Failure,
    Rig,
    amphora_config,
    netns_pids,
    number,
    ratio,
    wait_serving,
    wrk,
)

HOST = "www.example.test"
PORTS = {"ec": 443, "rsa": 8443}
KEYS = {"ec": "EC P-256", "rsa": "RSA 2048"}
WARMUP = 0.5  # s of each s_time run not counted (processes starting, first connections)
# Global lines of the amphora's haproxy.cfg the baseline copies: they bear on TLS or throughput.
MIRRORED_GLOBAL = re.compile(r"(maxconn|nbthread|cpu-map|tune\.\S+|ssl-\S+)\s")


@dataclass(frozen=True)
class Case:
    kind: str  # keep-alive, full or resumed
    key: str  # ec or rsa
    label: str


@dataclass
class Target:
    address: str
    stats_socket: str  # HAProxy's, for `show info`
    pids: Callable[[], list[int]]  # the HAProxy processes serving it, now


# ---------------------------------------------------------------- certificates


def certificate(key_type: str, folder: pathlib.Path) -> tuple[pathlib.Path, bytes, bytes]:
    """A self-signed certificate for HOST: the PEM HAProxy reads (certificate, then key),
    the PKCS#12 for the key manager, and the certificate's DER (to check what is served)."""
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if key_type == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = folder / f"{key_type}.pem"
    pem.touch(mode=0o600)
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    p12 = pkcs12.serialize_key_and_certificates(b"www", key, cert, None,
                                                serialization.NoEncryption())
    return pem, p12, cert.public_bytes(serialization.Encoding.DER)


def store_secret(port: int, p12: bytes) -> str:
    """The PKCS#12 stored in Ottava's key manager as a secret; its reference."""
    km = Api(port, 30, {"X-Project-Id": "ottava"})
    _, body = km.call("POST", "/v1/secrets", {
        "name": "www", "payload": base64.b64encode(p12).decode(),
        "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    return str(body["secret_ref"])


def get_https(address: str, port: int) -> tuple[int, bytes]:
    """GET / over HTTPS (not verified): the status and the DER of the certificate served."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the caller compares the certificate's DER instead
    conn = http.client.HTTPSConnection(address, port, timeout=5, context=context)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        der = conn.sock.getpeercert(binary_form=True) if conn.sock else None
        return resp.status, der or b""
    finally:
        conn.close()


def served(address: str, port: int, der: bytes) -> bool:
    """Whether https://address:port/ answers 200 with the certificate `der`."""
    return get_https(address, port) == (200, der)


def wait_https(address: str, ders: dict[str, bytes], timeout: float) -> None:
    """Until each port of `address` answers 200 over HTTPS with its certificate."""
    for key_type, der in ders.items():
        port = PORTS[key_type]
        wait_serving(address, port, timeout, functools.partial(served, address, port, der))


# ---------------------------------------------------------------- the two HAProxies


def lb_body(refs: dict[str, str], members: list[int]) -> dict[str, Any]:
    """A TERMINATED_HTTPS listener per certificate, each with its ROUND_ROBIN HTTP pool."""
    return {"loadbalancer": {"name": "bench-tls", "vip_subnet_id": VIP_SUBNET, "listeners": [
        {"name": key_type, "protocol": "TERMINATED_HTTPS", "protocol_port": PORTS[key_type],
         "default_tls_container_ref": ref,
         "default_pool": {"name": key_type, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                          "members": [{"address": GATEWAY, "protocol_port": p}
                                      for p in members]}}
        for key_type, ref in refs.items()]}}


def mirrored(amphora: str, ports: list[int]) -> tuple[list[str], dict[int, str]]:
    """From the amphora's haproxy.cfg: the global lines the baseline copies, and the TLS
    words of each port's bind (what follows its crt-list)."""
    section = re.search(r"^global\n((?:[ \t]+\S.*\n)*)", amphora, re.M)
    lines = [line.strip() for line in (section.group(1) if section else "").splitlines()]
    copied = [line for line in lines if MIRRORED_GLOBAL.match(line + " ")]
    words = {}
    for port in ports:
        m = re.search(rf"^\s*bind \S+:{port} ssl crt-list \"[^\"]*\"(.*)$", amphora, re.M)
        if not m:
            raise Failure(f"no TLS bind for port {port} in the amphora's haproxy.cfg")
        words[port] = m.group(1).strip()
    return copied, words


def baseline_conf(copied: list[str], words: dict[int, str], pems: dict[str, pathlib.Path],
                  members: list[int], stats_socket: pathlib.Path) -> str:
    """The hand-written equivalent: a frontend per certificate on BASELINE_ADDRESS."""
    maxconn = next((line.split()[1] for line in copied if line.startswith("maxconn ")), "")
    conf = ["global", *(f"  {line}" for line in copied),
            f'  stats socket "{stats_socket}" mode 600 level admin',
            "defaults", "  mode http", "  timeout connect 5000", "  timeout client 50000",
            "  timeout server 50000"]
    for key_type, pem in pems.items():
        port = PORTS[key_type]
        conf += [f"frontend {key_type}",
                 f'  bind {BASELINE_ADDRESS}:{port} ssl crt "{pem}" {words[port]}',
                 *([f"  maxconn {maxconn}"] if maxconn else []),
                 f"  default_backend {key_type}",
                 f"backend {key_type}", "  balance roundrobin",
                 *(f"  server m{i} {GATEWAY}:{p}" for i, p in enumerate(members))]
    return "\n".join(conf) + "\n"


def haproxy_pids(namespace: str) -> list[int]:
    pids = []
    for pid in netns_pids(namespace):
        with contextlib.suppress(OSError):
            if pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "haproxy":
                pids.append(pid)
    return pids


def show_info(path: str) -> dict[str, str]:
    """HAProxy's `show info` from its stats socket ({} when it cannot be read)."""
    data = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall(b"show info\n")
            for _ in range(1000):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return {}
    return dict(line.split(": ", 1) for line in data.decode(errors="replace").splitlines()
                if ": " in line)


# ---------------------------------------------------------------- load generators


def wrk_run(target: Target, port: int, args: argparse.Namespace, *extra: str
            ) -> dict[str, float]:
    pids = target.pids()
    c0, t0 = cpu_seconds(pids), time.monotonic()
    r = wrk(f"https://{target.address}:{port}/", args.connections, args.duration, *extra)
    c1, t1 = cpu_seconds(pids), time.monotonic()
    return {"rate": r["rps"], "cores": (c1 - c0) / (t1 - t0), "errors": r["errors"]}


def marks(outs: list[pathlib.Path]) -> int:
    """Connections s_time made so far: the run of marks ('*' full, 'r' resumed), one per
    connection, that follows its first line ("Collecting connection statistics for ...")."""
    total = 0
    for out in outs:
        with contextlib.suppress(OSError):
            m = re.match(rb"[*r]*", out.read_bytes().partition(b"\n")[2])
            total += len(m.group(0)) if m else 0
    return total


def s_time_run(target: Target, port: int, args: argparse.Namespace, folder: pathlib.Path
               ) -> dict[str, float]:
    """`args.clients` `openssl s_time -new` at once for WARMUP + args.duration seconds (each
    bounded by its own -time as well), stopped by PID; full handshakes/s over the duration."""
    outs = [folder / f"s_time-{i}.out" for i in range(args.clients)]
    argv = ["openssl", "s_time", "-connect", f"{target.address}:{port}", "-new", "-www", "/",
            "-time", str(int(WARMUP + args.duration) + 10)]
    procs: list[subprocess.Popen[bytes]] = []
    pids = target.pids()
    try:
        for out in outs:
            with out.open("wb") as f:
                procs.append(subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        time.sleep(WARMUP)
        n0, c0, t0 = marks(outs), cpu_seconds(pids), time.monotonic()
        time.sleep(args.duration)
        n1, c1, t1 = marks(outs), cpu_seconds(pids), time.monotonic()
        ended = sum(1 for p in procs if p.poll() is not None)  # s_time stops at an error
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
    return {"rate": (n1 - n0) / (t1 - t0), "cores": (c1 - c0) / (t1 - t0), "errors": ended}


def measure(case: Case, target: Target, args: argparse.Namespace, folder: pathlib.Path
            ) -> dict[str, float]:
    port = PORTS[case.key]
    if case.kind == "full":
        r = s_time_run(target, port, args, folder)
    elif case.kind == "resumed":
        r = wrk_run(target, port, args, "-H", "Connection: close")
    else:
        r = wrk_run(target, port, args)
    # HAProxy's share of resumed handshakes over the last second (none while keep-alive)
    reuse = show_info(target.stats_socket).get("SslFrontendSessionReuse_pct", "")
    r["reuse"] = float(reuse) if case.kind != "keep-alive" and reuse.isdigit() else float("nan")
    r["per_cpu"] = ratio(r["rate"], r["cores"])
    return r


def phase_traffic(args: argparse.Namespace, cases: list[Case], targets: dict[str, Target],
                  folder: pathlib.Path, res: dict[Any, Any]) -> None:
    runs: dict[tuple[Case, str], list[dict[str, float]]] = {}
    for rep in range(args.repeats):
        for case in cases:
            order = list(targets) if rep % 2 == 0 else list(reversed(targets))
            for name in order:
                r = measure(case, targets[name], args, folder)
                runs.setdefault((case, name), []).append(r)
                reuse = "" if r["reuse"] != r["reuse"] else f"  reused {r['reuse']:.0f}%"
                print(f"    #{rep + 1} {name:<9}{case.label:<28}{r['rate']:>9.0f}/s  server "
                      f"{r['cores']:.2f} cores  {r['per_cpu']:>7.0f}/CPU-s{reuse}"
                      + (f"  ERRORS {r['errors']:.0f}" if r["errors"] else ""), flush=True)
    for (case, name), rs in runs.items():
        for k in ("rate", "per_cpu", "cores"):
            res[(case, name, k)] = percentile([r[k] for r in rs], 50)  # median run
        res[(case, name, "errors")] = sum(r["errors"] for r in rs)
        shares = [r["reuse"] for r in rs if r["reuse"] == r["reuse"]]
        if shares:
            res[(case, name, "reuse_min")] = min(shares)
            res[(case, name, "reuse_max")] = max(shares)


# ---------------------------------------------------------------- report


def report(res: dict[Any, Any], cases: list[Case], args: argparse.Namespace) -> None:
    def fig(*key: Any) -> float:
        v = res.get(key[0] if len(key) == 1 else key)
        return float(v) if isinstance(v, (int, float)) else float("nan")

    head = f"{'figure':<44}{'Ottava':>10}{'baseline':>10}{'ratio':>8}{'goal':>9}"
    print()
    print(f"Ottava TLS benchmark at {args.version}")
    print(f"({args.repeats} x {args.duration:g} s per figure and side, interleaved, median run "
          f"shown; wrk -t1 -c{args.connections}, openssl s_time -new x {args.clients}; "
          f"{os.cpu_count()} CPUs shared by clients and servers, load average "
          f"{number(fig('load'))} when it started)")
    print(head)
    print("-" * len(head))
    for case in cases:
        o, b = fig(case, "ottava", "rate"), fig(case, "baseline", "rate")
        print(f"{case.label + ' /s':<44}{number(o, 0):>10}{number(b, 0):>10}"
              f"{number(ratio(o, b)):>8}{'>= 0.95':>9}")
        o, b = fig(case, "ottava", "per_cpu"), fig(case, "baseline", "per_cpu")
        print(f"{'  per server CPU-second':<44}{number(o, 0):>10}{number(b, 0):>10}"
              f"{number(ratio(o, b)):>8}")
        o, b = fig(case, "ottava", "cores"), fig(case, "baseline", "cores")
        print(f"{'  server cores busy':<44}{number(o):>10}{number(b):>10}")
    print("(ratio: Ottava / baseline, >= 0.95 meets issue 12's goal; full handshakes: "
          "TLS 1.3,\n no session resumed; resumed: wrk's TLS 1.3 session tickets)")
    for case in cases:
        for name in ("ottava", "baseline"):
            most, least = fig(case, name, "reuse_max"), fig(case, name, "reuse_min")
            if case.kind == "full" and most > 0:
                print(f"Problem: {name} resumed up to {most:.0f}% of the {case.label}")
            if case.kind == "resumed" and least < 90:
                print(f"Note: {name} resumed as few as {least:.0f}% of the {case.label}")
            errors = fig(case, name, "errors")
            if errors == errors and errors:
                print(f"Problem: {errors:.0f} errors, {name}, {case.label}")


# ---------------------------------------------------------------- main


def cases_for(keys: list[str]) -> list[Case]:
    cases = [Case("keep-alive", keys[0], f"keep-alive requests, {KEYS[keys[0]]}")]
    cases += [Case("full", k, f"full handshakes, {KEYS[k]}") for k in keys]
    cases.append(Case("resumed", keys[0], f"resumed handshakes, {KEYS[keys[0]]}"))
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3, help="runs per figure and side (3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    p.add_argument("--connections", type=int, default=50, help="wrk connections (50)")
    p.add_argument("--clients", type=int, default=4,
                   help="openssl s_time processes at once, full handshakes (4)")
    p.add_argument("--keys", default="ec,rsa",
                   help="certificate keys, comma-separated: ec (P-256), rsa (2048); the "
                   "first one also serves keep-alive and resumed (default ec,rsa)")
    p.add_argument("--poll", type=float, default=0.01, help="status poll interval, s")
    p.add_argument("--item-timeout", type=float, default=60.0)
    p.add_argument("--start-timeout", type=float, default=60.0)
    p.add_argument("--stop-timeout", type=float, default=15.0)
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the logs, both HAProxy configurations and the PEMs")
    args = p.parse_args(argv)
    keys = [k for k in args.keys.split(",") if k]
    if not keys or set(keys) - set(KEYS):
        p.error(f"--keys: among {', '.join(KEYS)}")
    if os.geteuid() != 0:
        print("bench/tls.py needs root: amphorae are network namespaces")
        return 2
    for tool, package in (("haproxy", "haproxy"), ("ip", "iproute2"), ("wrk", "wrk"),
                          ("openssl", "openssl")):
        if not shutil.which(tool):
            print(f"bench/tls.py needs {tool} (apt-get install {package})")
            return 2
    args.version = source_version()
    print(f"source: {args.version}", flush=True)
    cases = cases_for(keys)

    rig = Rig("ottava-tls-")
    res: dict[Any, Any] = {"load": os.getloadavg()[0]}  # others' work disturbs the figures
    failed = ""
    try:
        api = rig.start_ottava(args.start_timeout)
        members = rig.start_backends()
        certs = {k: certificate(k, rig.tmp) for k in keys}
        refs = {k: store_secret(rig.key_manager_port, p12) for k, (_, p12, _) in certs.items()}

        print("== create -> ACTIVE", flush=True)
        t0 = time.perf_counter()
        _, body = api.call("POST", LB, lb_body(refs, members), expect=(201,))
        rig.lb = body["loadbalancer"]
        lb = api.wait(f"{LB}/{rig.lb['id']}", args.item_timeout, args.poll)
        print(f"    ACTIVE in {time.perf_counter() - t0:.3f} s", flush=True)
        [amp] = api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}")[1][
            "amphorae"]
        amp_ns = amp["compute_id"]
        rig.mine.add(amp_ns)
        ders = {k: der for k, (_, _, der) in certs.items()}
        wait_https(lb["vip_address"], ders, 20)

        amphora = amphora_config(amp_ns, rig.tmp)
        sock = re.search(r'^\s*stats socket "([^"]+)"', amphora, re.M)
        copied, words = mirrored(amphora, [PORTS[k] for k in keys])
        print(f"== mirrored from the amphora: global {copied}; TLS words "
              f"{sorted(set(words.values()))}", flush=True)
        conf = baseline_conf(copied, words, {k: pem for k, (pem, _, _) in certs.items()},
                             members, rig.tmp / "baseline.sock")
        baseline = rig.start_baseline(conf)
        wait_https(BASELINE_ADDRESS, ders, 10)

        targets = {
            "ottava": Target(lb["vip_address"], sock.group(1) if sock else "",
                             lambda: haproxy_pids(amp_ns)),
            "baseline": Target(BASELINE_ADDRESS, str(rig.tmp / "baseline.sock"),
                               lambda: [baseline.popen.pid])}
        print(f"== traffic (Ottava VIP {lb['vip_address']} in {amp_ns}, baseline "
              f"{BASELINE_ADDRESS} in {BASELINE_NS}; ports "
              f"{', '.join(f'{KEYS[k]} :{PORTS[k]}' for k in keys)})", flush=True)
        phase_traffic(args, cases, targets, rig.tmp, res)
    except (Exception, KeyboardInterrupt) as exc:
        failed = f"{exc!r}"[:800]
        print(f"FAILED: {failed}", flush=True)
    finally:
        failed = rig.close(args, failed)
    report(res, cases, args)
    if failed:
        print(f"\nProblem: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
