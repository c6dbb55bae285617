"""The agent's heartbeat: every interval, HAProxy's view sent signed over UDP to the controllers.

`Counters` turns HAProxy's per-process counters into totals that survive reloads: a reload
starts a new worker whose counters begin at zero, so the totals the old one reached are kept
as a base (sampled just before each reload, and whenever a counter is seen to go backwards)
and persisted beside HAProxy's files, so an agent restart keeps them too. The connections a
retiring worker still serves after the reload are the only ones not counted.

`Sender` runs one thread: read `show stat` (and the datagram listeners' counters and member
checks, `ottava.agent.datagrams`), build a `ottava.wire.heartbeat.Heartbeat`, sign it, send it
to every target. A send that fails (no route yet, controller down) is logged once and
retried next interval: a heartbeat is never queued, the next one supersedes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ottava.agent.datagrams import DatagramError, Datagrams, merge
from ottava.agent.haproxy import HAProxy, HAProxyError
from ottava.wire import heartbeat as wire

LOG = logging.getLogger("ottava.agent.heartbeat")

# `show stat` column -> the counter it feeds; active_connections is a gauge, never summed.
_SOURCES = {"bytes_in": "bin", "bytes_out": "bout", "total_connections": "stot",
            "request_errors": "ereq"}
_GAUGES = {"active_connections": "scur"}


class Counters:
    """Per-listener totals across HAProxy generations, persisted in `path` (JSON)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.base: dict[str, dict[str, int]] = {}
        self.last: dict[str, dict[str, int]] = {}
        # A missing, torn or foreign file only costs the totals so far, never the agent.
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            saved = json.loads(path.read_text())
            base = {k: {c: int(v[c]) for c in _SOURCES} for k, v in saved["base"].items()}
            last = {k: {c: int(v[c]) for c in _SOURCES} for k, v in saved["last"].items()}
            self.base, self.last = base, last

    def totals(self, listeners: dict[str, dict[str, Any]]) -> dict[str, wire.Counters]:
        """Totals for each listener in a `HAProxy.stats()["listeners"]` reading."""
        out: dict[str, wire.Counters] = {}
        with self._lock:
            moved = False
            for lid, row in listeners.items():
                now = {name: int(row.get(col, 0)) for name, col in _SOURCES.items()}
                last = self.last.get(lid)
                base = self.base.setdefault(lid, dict.fromkeys(_SOURCES, 0))
                if last is not None and any(now[c] < last[c] for c in _SOURCES):
                    for c in _SOURCES:  # a new HAProxy generation: keep what the old counted
                        base[c] += last[c]
                    moved = True
                self.last[lid] = now
                totals = {c: base[c] + now[c] for c in _SOURCES}
                totals.update({name: int(row.get(col, 0)) for name, col in _GAUGES.items()})
                out[lid] = totals  # type: ignore[assignment]
            for gone in set(self.base) - set(listeners):  # a deleted listener
                self.base.pop(gone, None)
                self.last.pop(gone, None)
                moved = True
            if moved:
                self._save()
        return out

    def before_reload(self, listeners: dict[str, dict[str, Any]]) -> None:
        """Fold the current generation's counters into the base: a reload is coming."""
        with self._lock:
            for lid, row in listeners.items():
                base = self.base.setdefault(lid, dict.fromkeys(_SOURCES, 0))
                for name, col in _SOURCES.items():
                    base[name] += int(row.get(col, 0))
                self.last[lid] = dict.fromkeys(_SOURCES, 0)
            self._save()

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"base": self.base, "last": self.last}))
            os.replace(tmp, self.path)


def parse_target(text: str) -> tuple[str, int]:
    """"198.18.0.1:5555" or "[fd00::1]:5555" -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"heartbeat target {text!r} is not host:port")
    return host.strip("[]"), int(port)


class Sender:
    """Sends this amphora's heartbeat every `interval` seconds until stopped."""

    def __init__(self, amphora_id: str, haproxy: HAProxy, key: bytes,
                 targets: list[str], interval: float,
                 datagrams: Datagrams | None = None,
                 alive: Callable[[], bool] | None = None) -> None:
        self.amphora_id = amphora_id
        self.haproxy = haproxy
        self.datagrams = datagrams
        # Whether the amphora still exists (the host agent: its namespace is the one it
        # was); a heartbeat is never sent for one that is gone, not even once.
        self.alive = alive
        self.key = key
        self.targets = [parse_target(t) for t in targets]
        self.interval = interval
        self.counters = Counters(haproxy.directory / "counters.json")
        self.seq = 0
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: dict[int, socket.socket] = {}
        self._oversize_logged = False
        haproxy.before_reload = self._before_reload

    def _before_reload(self) -> None:
        with contextlib.suppress(OSError, HAProxyError):
            self.counters.before_reload(self.haproxy.stats()["listeners"])

    def report(self) -> wire.Heartbeat:
        """This interval's heartbeat, from HAProxy as it runs now. When HAProxy's view cannot
        be read whole — a reload under way, the stats socket not answering — the heartbeat
        says so (`partial`): the controller then takes it for liveness only, never for
        "every listener is gone"."""
        listeners: dict[str, wire.ListenerReport] = {}
        pools: dict[str, wire.PoolReport] = {}
        partial = False
        if self.haproxy.master_pid() is not None:
            try:
                # Not while a reload folds the old worker's counters in: a sample taken
                # between the fold and the new worker would count that generation twice.
                stats = self.haproxy.stats_unless_busy()
                if stats is not None and self.datagrams is not None:
                    merge(stats, self.datagrams.stats())
            except (OSError, HAProxyError, DatagramError) as exc:
                LOG.debug("no stats this interval: %s", exc)
                stats = None
            if stats is None:
                partial = True
            else:
                totals = self.counters.totals(stats["listeners"])
                listeners = {lid: {"status": row.get("status", ""), "stats": totals[lid]}
                             for lid, row in stats["listeners"].items()}
                pools = {pid: {"status": row.get("status", ""), "members": {}}
                         for pid, row in stats["pools"].items()}
                for mid, row in stats["members"].items():
                    pool_id = row.get("pool_id")
                    if pool_id in pools:
                        pools[pool_id]["members"][mid] = row.get("status", "")
        self.seq += 1
        heartbeat: wire.Heartbeat = {"id": self.amphora_id, "seq": self.seq,
                                     "hash": self.haproxy.applied_hash(),
                                     "listeners": listeners, "pools": pools}
        if partial:
            heartbeat["partial"] = True
        return heartbeat

    def send_once(self) -> None:
        if self.alive is not None and not self.alive():
            return
        heartbeat = self.report()
        try:
            datagram = wire.encode(heartbeat, self.key)
        except ValueError as exc:  # too many objects for one datagram: liveness at least
            if not self._oversize_logged:
                LOG.warning("%s; sending liveness-only heartbeats", exc)
                self._oversize_logged = True
            datagram = wire.encode({**heartbeat, "listeners": {}, "pools": {},
                                    "partial": True}, self.key)
        for target in self.targets:
            sock = self._socket_for(target)
            try:
                sock.sendto(datagram, target)
                self.sent += 1
            except OSError as exc:
                self.failed += 1
                if self.failed == 1 or self.failed % 100 == 0:
                    LOG.warning("heartbeat to %s:%s failed (%d so far): %s", *target,
                                self.failed, exc)

    def _socket_for(self, target: tuple[str, int]) -> socket.socket:
        """One socket per address family, kept: a heartbeat always leaves from the same port
        (the health manager's receiver processes are chosen by source address and port)."""
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = self._sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
        return sock

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_once()
            except Exception:  # a heartbeat thread that dies silently is a failover
                LOG.exception("heartbeat failed")
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.amphora_id[:8]} heartbeat",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in self._sockets.values():
            sock.close()
