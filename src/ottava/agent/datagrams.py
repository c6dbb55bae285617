"""The datagram listeners (UDP, SCTP) of an amphora: their nftables table, the checks of
their members, their counters.

HAProxy serves every stream listener (`ottava.agent.haproxy`); UDP and SCTP are balanced in
the kernel by one nftables table that `ottava.render.nftables` writes (decision 0023). This
module owns that table and a state folder:

    spec.json     the last spec applied: a restarted agent reads it, checks the members
                  again and keeps the table, which the kernel kept for it
    ruleset.nft   the table as last loaded, for the operator

`Datagrams.apply(document)` renders the spec with the members' current health, loads it with
`nft -f` (one transaction: the old table serves until the new one replaces it whole), turns
forwarding on, and watches the members of every checked datagram pool (`ottava.agent.checks`).
A member whose verdict flips re-renders the table; flows already tracked towards a member that
went down are forgotten (`conntrack -D`), so a client's next datagram picks a living one
instead of waiting out the conntrack timeout. A spec without datagram listeners removes the
table; a load balancer that never had one never runs `nft` at all.

`stats()` answers in the shape of `HAProxy.stats()` (listeners, pools, members by id, with
HAProxy's status words), so the heartbeat and the stats API treat both alike.

Choices:
- The table is replaced whole on every change, member health included: simple and atomic.
  The price is that SOURCE_IP persistence entries start afresh at each change.
- Every subprocess has a timeout; a failing `nft` leaves the previous table serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ottava.agent.checks import Checker, Target
from ottava.render import nftables
from ottava.wire import lbspec

LOG = logging.getLogger("ottava.agent.datagrams")
NFT = shutil.which("nft") or "/usr/sbin/nft"
CONNTRACK = shutil.which("conntrack") or "/usr/sbin/conntrack"
NFT_TIMEOUT = 15.0
CONNTRACK_TIMEOUT = 5.0
# Forwarding on, and no ICMP redirects: a reply to a client on the members' network must
# still come back through the amphora, never be short-cut past it.
SYSCTLS = {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
           "net/ipv4/conf/all/send_redirects": "0"}


class DatagramError(RuntimeError):
    """nftables refused the table or could not be run."""


class Datagrams:
    """The datagram listeners of one amphora, kept in `directory` (created when needed)."""

    def __init__(self, directory: str | Path, nft: str = NFT, conntrack: str = CONNTRACK,
                 proc_sys: str | Path = "/proc/sys") -> None:
        self.directory = Path(directory).absolute()
        self.nft = nft
        self.conntrack = conntrack
        self.proc_sys = Path(proc_sys)
        self.saved = self.directory / "spec.json"
        self.ruleset = self.directory / "ruleset.nft"
        self._lock = threading.Lock()
        self._spec: Mapping[str, Any] | None = None
        self._checker: Checker | None = None
        self._closed = False  # stopped: no checker is ever started again
        with contextlib.suppress(OSError, ValueError):
            spec = lbspec.check_envelope(json.loads(self.saved.read_text()))
            self._spec = spec  # the kernel still runs its table: check its members again
            self._watch(spec)

    # --- lifecycle -----------------------------------------------------------------------

    def apply(self, document: Any) -> bool:
        """Make the table serve `document`'s datagram listeners. Returns False when nothing
        changed. Raises ValueError for content the renderer refuses, DatagramError when nft
        refuses the result or cannot run (the previous table keeps serving)."""
        spec = lbspec.check_envelope(document)
        with self._lock:
            if not nftables.datagram_listeners(spec):
                if self._spec is None:
                    return False
                self._remove()
                return True
            if self._spec is not None and self._spec["hash"] == spec["hash"]:
                return False
            health = self._checker.health() if self._checker else {}
            text = nftables.render(spec, health)
            self._load(text)
            self._enable_forwarding()
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.saved, json.dumps(spec))
            self._spec = spec
            self._watch(spec)
            return True

    def remove(self) -> None:
        """Remove the table and forget the spec (the load balancer is deleted)."""
        with self._lock:
            if self._spec is not None or self.saved.exists():
                self._remove()

    def stop(self) -> None:
        """Stop checking for good (the agent exits, or the host agent drops this amphora);
        the table keeps serving. A request still applying meanwhile starts no new checks."""
        with self._lock:
            self._closed = True
            checker, self._checker = self._checker, None
        if checker is not None:  # outside the lock: its last verdict may be waiting for it
            checker.stop()

    def _stop_checks(self) -> None:
        if self._checker is not None:
            self._checker.stop()
            self._checker = None

    def _remove(self) -> None:
        self._stop_checks()
        self._load(nftables.removal())
        self._spec = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def _watch(self, spec: Mapping[str, Any]) -> None:
        targets = []
        pools = {pool["id"]: pool for pool in spec["pools"]}
        for listener in nftables.datagram_listeners(spec):
            pool = pools.get(listener["default_pool_id"] or "")
            monitor = pool["health_monitor"] if pool else None
            if pool is None or not monitor or not monitor["enabled"]:
                continue
            for member in pool["members"]:
                targets.append(Target(
                    member_id=member["id"],
                    address=member.get("monitor_address") or member["address"],
                    port=member.get("monitor_port") or member["protocol_port"],
                    monitor=monitor))
        if targets and self._checker is None and not self._closed:
            self._checker = Checker(self._health_changed)
        if self._checker is not None:
            self._checker.watch(targets)

    def _health_changed(self) -> None:
        with self._lock:
            if self._spec is None or self._checker is None:
                return
            health = self._checker.health()
            self._load(nftables.render(self._spec, health))
            self._forget_flows(self._spec, {m for m, up in health.items() if up is False})

    # --- kernel --------------------------------------------------------------------------

    def _load(self, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        candidate = self.ruleset.with_suffix(".new")
        _write_atomic(candidate, text)
        try:
            result = subprocess.run([self.nft, "-f", str(candidate)], capture_output=True,
                                    text=True, timeout=NFT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatagramError(f"nft could not run: {exc}") from None
        if result.returncode != 0:
            raise DatagramError(f"nft refused the table (kept in {candidate}): "
                                f"{result.stderr.strip()[-2000:]}")
        os.replace(candidate, self.ruleset)

    def _enable_forwarding(self) -> None:
        for key, value in SYSCTLS.items():
            path = self.proc_sys / key
            try:
                if path.read_text().strip() != value:
                    path.write_text(value)
            except OSError as exc:
                raise DatagramError(f"cannot set {key.replace('/', '.')} = {value}: {exc}") \
                    from None

    def _forget_flows(self, spec: Mapping[str, Any], down: set[str]) -> None:
        """Drop the conntrack entries of flows towards members now down: their next datagram
        is a new flow, balanced among the living."""
        if not down:
            return
        pools = {pool["id"]: pool for pool in spec["pools"]}
        for listener in nftables.datagram_listeners(spec):
            pool = pools.get(listener["default_pool_id"] or "")
            for member in pool["members"] if pool else []:
                if member["id"] not in down:
                    continue
                family = "ipv6" if ":" in member["address"] else "ipv4"
                command = [self.conntrack, "-D", "-f", family,
                           "-p", listener["protocol"].lower(),
                           "--reply-src", member["address"],
                           "--reply-port-src", str(member["protocol_port"])]
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    subprocess.run(command, capture_output=True, timeout=CONNTRACK_TIMEOUT,
                                   check=False)

    # --- stats ---------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Counters and statuses in the shape of `HAProxy.stats()`; empty without datagram
        listeners. Raises DatagramError when the counters cannot be read."""
        result: dict[str, dict[str, dict[str, Any]]] = {"listeners": {}, "pools": {},
                                                        "members": {}}
        with self._lock:
            spec = self._spec
            health = self._checker.health() if self._checker else {}
        if spec is None:
            return result
        counters = self._counters()
        lb = spec["load_balancer"]
        pools = {pool["id"]: pool for pool in spec["pools"]}
        for listener in nftables.datagram_listeners(spec):
            if not (listener["enabled"] and lb["enabled"]):
                continue
            lid = listener["id"]
            result["listeners"][lid] = {
                "status": "OPEN", "stot": counters.get(f"new-{lid}", (0, 0))[0],
                "bin": counters.get(f"in-{lid}", (0, 0))[1],
                "bout": counters.get(f"out-{lid}", (0, 0))[1], "scur": 0, "ereq": 0}
            pool = pools.get(listener["default_pool_id"] or "")
            if pool is None or not pool["enabled"]:
                continue
            checked = bool(pool["health_monitor"] and pool["health_monitor"]["enabled"])
            result["pools"][pool["id"]] = {
                "status": "UP" if nftables.available(pool, health) else "DOWN"}
            for member in pool["members"]:
                result["members"][member["id"]] = {
                    "status": _member_status(member, health.get(member["id"]), checked),
                    "pool_id": pool["id"]}
        return result

    def _counters(self) -> dict[str, tuple[int, int]]:
        """Counter name -> (packets, bytes)."""
        try:
            result = subprocess.run([self.nft, "-j", "list", "counters", "table", "inet",
                                     nftables.TABLE], capture_output=True, text=True,
                                    timeout=NFT_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatagramError(f"nft could not run: {exc}") from None
        if result.returncode != 0:
            raise DatagramError(f"nft could not list the counters: {result.stderr.strip()}")
        counters = {}
        for item in json.loads(result.stdout).get("nftables", []):
            counter = item.get("counter")
            if counter:
                counters[counter["name"]] = (int(counter["packets"]), int(counter["bytes"]))
        return counters


def _member_status(member: Mapping[str, Any], up: bool | None, checked: bool) -> str:
    """The member's state in HAProxy's words, which the controller already reads."""
    if not member["enabled"]:
        return "MAINT"
    if not checked or up is None:
        return "no check"
    if not up:
        return "DOWN"
    return "DRAIN" if member["weight"] == 0 else "UP"


def merge(into: dict[str, dict[str, dict[str, Any]]],
          more: Mapping[str, dict[str, dict[str, Any]]]) -> None:
    """Add a `stats()` reading to another (ids never collide: one object, one engine)."""
    for kind, rows in more.items():
        into.setdefault(kind, {}).update(rows)


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
