"""Health checks the agent runs itself: the members of UDP and SCTP pools.

HAProxy checks the members of the pools it serves; datagram pools are served by nftables in
the kernel (`ottava.agent.datagrams`), which checks nothing, so the agent probes them, as
keepalived's checkers do for Octavia's LVS.

`probe(monitor, address, port)` runs one probe, bounded by the monitor's `timeout`:
- UDP-CONNECT: a datagram to the member's port. An ICMP "port unreachable" coming back says
  nothing listens there (down); silence until the timeout, or any answer, says up. This is
  what Octavia's check does: UDP has no handshake to wait for.
- TCP: a connection accepted within the timeout.
- HTTP, HTTPS: the monitor's request, answered with one of its expected codes (HTTPS is not
  verified, as HAProxy's `check-ssl verify none`).
- PING: one ICMP echo.
- SCTP: needs SCTP sockets; where the kernel has none (this host), the probe says so with
  ProbeUnavailable, and the pool's members are reported unchecked rather than guessed.

`Checker` runs the probes of every checked member on one thread (probes in a small pool, so
a slow member delays no other), applies rise and fall (`max_retries`, `max_retries_down`) and
calls back when a member's verdict changes. Members start up, as HAProxy's do, and go down
after `max_retries_down` failed probes in a row.
"""

from __future__ import annotations

import functools
import http.client
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger("ottava.agent.checks")
PROBE_THREADS = 8
PING_TIMEOUT = 1  # seconds one echo may take, as Octavia's ping check


class ProbeUnavailable(RuntimeError):
    """This amphora cannot run that kind of probe."""


def probe(monitor: Mapping[str, Any], address: str, port: int) -> bool:
    """One probe of `address`:`port` as `monitor` says; True when the member is healthy."""
    kind = monitor["type"]
    timeout = max(float(monitor["timeout"]), 0.1)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if kind == "UDP-CONNECT":
        return _udp_connect(family, address, port, timeout)
    if kind == "TCP":
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return True
        except OSError:
            return False
    if kind in ("HTTP", "HTTPS"):
        return _http(monitor, address, port, timeout, tls=kind == "HTTPS")
    if kind == "PING":
        try:
            return subprocess.run(["ping", "-n", "-q", "-c", "1", "-W", str(PING_TIMEOUT),
                                   "--", address], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=timeout + 1,
                                  check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
    if kind == "SCTP":
        return _sctp(family, address, port, timeout)
    raise ProbeUnavailable(f"health monitor type {kind!r} cannot check datagram pools")


def _udp_connect(family: int, address: str, port: int, timeout: float) -> bool:
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.send(b"\n")
            sock.recv(1)
        except ConnectionRefusedError:  # ICMP port unreachable
            return False
        except TimeoutError:
            return True
        except OSError:  # no route, host unreachable
            return False
    return True


def _sctp(family: int, address: str, port: int, timeout: float) -> bool:
    try:
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as exc:
        raise ProbeUnavailable(f"this kernel has no SCTP sockets: {exc}") from None
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            return True
        except OSError:
            return False


def _http(monitor: Mapping[str, Any], address: str, port: int, timeout: float,
          tls: bool) -> bool:
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {"Host": monitor.get("domain_name") or address}
    try:
        conn.request(monitor.get("http_method") or "GET", monitor.get("url_path") or "/",
                     headers=headers)
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return status in expected_codes(monitor.get("expected_codes"))


def expected_codes(text: str | None) -> set[int]:
    """"200", "200, 202" or "200-204" as a set of codes."""
    codes: set[int] = set()
    for part in (text or "200").split(","):
        low, _, high = part.strip().partition("-")
        codes.update(range(int(low), int(high or low) + 1))
    return codes


@dataclass
class Target:
    """One checked member: where to probe, how, and what the probes said so far."""

    member_id: str
    address: str
    port: int
    monitor: Mapping[str, Any]
    up: bool = True
    streak: int = 0  # probes in a row contradicting `up`
    due: float = 0.0
    running: bool = False
    checkable: bool = True  # False once the amphora said it cannot run this probe


class Checker:
    """Probes `targets` until stopped; `on_change()` after any member's verdict flips."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self._targets: dict[str, Target] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="probe")
        self._thread = threading.Thread(target=self._run, name="checks", daemon=True)
        self._thread.start()

    def watch(self, targets: list[Target]) -> None:
        """Check these members from now on; a member already watched with the same address,
        port and monitor keeps its verdict."""
        with self._lock:
            kept = {}
            for target in targets:
                old = self._targets.get(target.member_id)
                if old is not None and (old.address, old.port, old.monitor) == (
                        target.address, target.port, target.monitor):
                    kept[target.member_id] = old
                else:
                    kept[target.member_id] = target
            self._targets = kept
        self._wake.set()

    def health(self) -> dict[str, bool | None]:
        """Member id -> up (True), down (False) or not checkable here (None)."""
        with self._lock:
            return {mid: t.up if t.checkable else None for mid, t in self._targets.items()}

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                due = [t for t in self._targets.values() if not t.running and t.due <= now]
                for target in due:
                    target.running = True
                    target.due = now + max(float(target.monitor["delay"]), 1.0)
                nearest = min((t.due for t in self._targets.values()), default=now + 1.0)
            for target in due:
                future = self._pool.submit(probe, target.monitor, target.address, target.port)
                future.add_done_callback(functools.partial(self._record, target))
            self._wake.wait(max(0.05, min(nearest - time.monotonic(), 1.0)))
            self._wake.clear()

    def _record(self, target: Target, future: Future[bool]) -> None:
        try:
            healthy = future.result()
        except ProbeUnavailable as exc:
            if target.checkable:
                LOG.warning("member %s cannot be checked: %s", target.member_id, exc)
            target.checkable = False
            healthy = target.up
        except Exception:  # a probe that breaks must not stop the checks
            LOG.exception("probe of member %s failed", target.member_id)
            healthy = False
        changed = False
        with self._lock:
            target.running = False
            if self._targets.get(target.member_id) is not target:
                return  # no longer watched
            if healthy == target.up:
                target.streak = 0
            else:
                target.streak += 1
                needed = int(target.monitor["max_retries" if healthy else "max_retries_down"])
                if target.streak >= max(needed, 1):
                    target.up, target.streak, changed = healthy, 0, True
        if changed:
            LOG.info("member %s is %s", target.member_id, "up" if target.up else "down")
            try:
                self.on_change()
            except Exception:  # the checks go on; the next change tries again
                LOG.exception("acting on member %s's new health failed", target.member_id)
