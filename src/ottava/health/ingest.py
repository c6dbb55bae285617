"""Batched ingestion of heartbeats: liveness, listener statistics, operating status, drift.

`Ingest.offer` is called for every accepted heartbeat and only keeps the latest one per
amphora (a newer heartbeat supersedes an older one in the same batch). `flush` writes a batch
in one transaction:

1. liveness: `amphora_health.last_update` for every amphora the database knows (unknown or
   deleted amphorae are counted and ignored);
2. statistics: per (listener, amphora) totals, only where they changed since the last write;
3. operating status: derived (`ottava.domain.health.derive`) only for amphorae that run the
   desired configuration (heartbeat hash == the load balancer's `spec_hash`) and whose report
   changed since it was last derived, or was derived longer than `RESYNC` seconds ago;
4. drift: an amphora of an ACTIVE load balancer that runs another configuration than the
   desired one gets the desired one pushed again (at most every `drift_repair_interval`).

The caches only save work: losing them (a restart, another health manager) costs one full
derivation per amphora, never a wrong status.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_log import log as logging

from ottava.db import health as queries
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.health import derive
from ottava.domain.lifecycles import Provisioning
from ottava.wire.heartbeat import Heartbeat

LOG = logging.getLogger(__name__)

RESYNC = 30.0  # seconds after which an unchanged report is derived again anyway
PLACE_TTL = 10.0  # seconds an amphora's load balancer, spec hash and status are cached


@dataclasses.dataclass
class IngestCounters:
    flushes: int = 0
    heartbeats: int = 0  # accepted into a batch
    superseded: int = 0  # replaced by a newer one of the same amphora before a flush
    written: int = 0  # amphorae whose liveness was written
    unknown: int = 0  # amphorae the database does not know (or deleted)
    status_changes: int = 0
    stats_rows: int = 0
    drift_repairs: int = 0
    errors: int = 0


class Ingest:
    def __init__(self, db: Database, repair: Callable[[str], None] | None = None,
                 drift_repair_interval: float = 10.0) -> None:
        self.db = db
        self.repair = repair
        self.drift_repair_interval = drift_repair_interval
        self.counters = IngestCounters()
        self._lock = threading.Lock()
        self._batch: dict[str, Heartbeat] = {}
        self._derived: dict[str, tuple[int, float]] = {}  # amphora -> (report digest, when)
        self._stats: dict[tuple[str, str], tuple[int, ...]] = {}  # last written counters
        self._repaired: dict[str, float] = {}  # amphora -> when its config was last pushed
        self._mismatches: dict[str, int] = {}  # amphora -> heartbeats in a row with drift
        self._places: dict[str, tuple[queries.AmphoraPlace, float]] = {}
        self._seen: dict[str, float] = {}  # amphora -> when its last heartbeat was written
        # amphora -> when its last heartbeat arrived: read by the watchdog, because a write
        # can lag behind (a busy database, a starved writer thread) and lagging is not silence.
        self._heard: dict[str, float] = {}
        self._pruned = time.monotonic()

    def offer(self, heartbeat: Heartbeat) -> None:
        with self._lock:
            if self._batch.get(heartbeat["id"]) is not None:
                self.counters.superseded += 1
            self._batch[heartbeat["id"]] = heartbeat
            self._heard[heartbeat["id"]] = time.monotonic()
            self.counters.heartbeats += 1

    def heard_within(self, amphora_id: str, seconds: float) -> bool:
        """Whether a heartbeat of `amphora_id` arrived here in the last `seconds`, written to
        the database or not yet."""
        with self._lock:
            when = self._heard.get(amphora_id)
        return when is not None and time.monotonic() - when < seconds

    def offer_batch(self, batch: dict[str, Heartbeat], received: int) -> None:
        """The newest heartbeat of each amphora from a receiver process that already kept
        only the newest (`received` were accepted to make it)."""
        with self._lock:
            self.counters.superseded += received - len(batch) + len(
                batch.keys() & self._batch.keys())
            self._batch.update(batch)
            self._heard.update(dict.fromkeys(batch, time.monotonic()))
            self.counters.heartbeats += received

    def pending(self) -> int:
        with self._lock:
            return len(self._batch)

    def flush(self) -> int:
        """Write the current batch; returns how many amphorae it held."""
        with self._lock:
            batch, self._batch = self._batch, {}
        if not batch:
            return 0
        try:
            self._write(batch)
        except Exception:
            self.counters.errors += 1
            LOG.exception("Writing %d heartbeats failed; the next ones will retry", len(batch))
        self.counters.flushes += 1
        return len(batch)

    def _write(self, batch: dict[str, Heartbeat]) -> None:
        now, clock = queries.now(), time.monotonic()
        drifted: list[str] = []
        # Cache updates take effect only once the transaction has committed: after a failed
        # write the same heartbeats must be written and derived again.
        derived: dict[str, tuple[int, float]] = {}
        written: dict[tuple[str, str], tuple[int, ...]] = {}
        changes: dict[tuple[str, str], str] = {}
        # Everything is read first, outside the write transaction (on SQLite it holds the
        # database's one write lock): the writes are then three statements.
        with self.db.reader() as r:
            known = self._places_of(r, batch, clock)
            self.counters.unknown += len(batch) - len(known)
            lb_ids = sorted({p.load_balancer_id for p in known.values() if p.load_balancer_id})
            live_listeners = queries.listener_ids(r, lb_ids) if lb_ids else set()
            stats_rows = self._changed_stats(batch, known, live_listeners, written)
            to_derive: dict[str, list[str]] = {}
            for amp_id, place in known.items():
                hb = batch[amp_id]
                if place.load_balancer_id is None or hb.get("partial"):
                    continue  # a spare, or a report of liveness only: nothing to derive
                if hb["hash"] != place.spec_hash:
                    # Twice in a row while the load balancer is ACTIVE: a heartbeat sent just
                    # before a change was applied and read just after it is not drift, nor
                    # is anything seen while a change is under way.
                    if place.lb_provisioning_status != Provisioning.ACTIVE:
                        self._mismatches.pop(amp_id, None)
                        continue
                    seen_twice = self._mismatches.get(amp_id, 0) + 1
                    self._mismatches[amp_id] = seen_twice
                    if seen_twice >= 2:
                        drifted.append(amp_id)
                    continue  # a report about another configuration says nothing of this one
                self._mismatches.pop(amp_id, None)
                digest = _digest(hb)
                seen = self._derived.get(amp_id)
                if seen is None or seen[0] != digest or clock - seen[1] > RESYNC:
                    to_derive.setdefault(place.load_balancer_id, []).append(amp_id)
                    derived[amp_id] = (digest, clock)
            snaps = queries.snapshots(r, sorted(to_derive)) if to_derive else {}
        for lb_id, amp_ids in to_derive.items():
            snap = snaps.get(lb_id)
            if snap is None or snap.provisioning_status.startswith("PENDING"):
                for amp_id in amp_ids:  # derive again once it settles
                    derived.pop(amp_id, None)
                continue
            for amp_id in amp_ids:
                changes.update(derive(snap, batch[amp_id]["listeners"], batch[amp_id]["pools"]))
        with self.db.transaction() as s:
            queries.record_heard(s, known, now)
            queries.record_stats(s, stats_rows)
            queries.apply_statuses(s, changes)
        self.counters.written += len(known)
        self.counters.stats_rows += len(stats_rows)
        self.counters.status_changes += len(changes)
        self._derived.update(derived)
        self._stats.update(written)
        self._seen.update(dict.fromkeys(batch, clock))
        for amp_id in drifted:
            self._repair(amp_id, clock)
        if clock - self._pruned > RESYNC:
            self._prune(clock)

    def _prune(self, clock: float) -> None:
        """Forget amphorae not heard from for two RESYNC periods (deleted, replaced): the
        caches hold only what is alive."""
        self._pruned = clock
        with self._lock:
            self._heard = {a: when for a, when in self._heard.items()
                           if clock - when <= 2 * RESYNC}
        gone = {a for a, when in self._seen.items() if clock - when > 2 * RESYNC}
        if not gone:
            return
        for amp_id in gone:
            self.forget(amp_id)
            self._seen.pop(amp_id, None)
        self._stats = {k: v for k, v in self._stats.items() if k[1] not in gone}

    def _places_of(self, session: Any, batch: dict[str, Heartbeat], clock: float
                   ) -> dict[str, queries.AmphoraPlace]:
        """Where each amphora belongs, cached for PLACE_TTL seconds. An amphora whose report
        names another configuration than the cached one is looked up again at once: the
        cache must never make a change look like drift."""
        cache = self._places
        amphora_ids = list(batch)
        missing = [i for i in amphora_ids
                   if (entry := cache.get(i)) is None or clock - entry[1] > PLACE_TTL]
        fresh = queries.places(session, missing) if missing else {}
        for ident in missing:
            place = fresh.get(ident)
            if place is None:
                cache.pop(ident, None)
            else:
                cache[ident] = (place, clock)
        recheck = [i for i in amphora_ids if i in cache and i not in fresh
                   and cache[i][0].spec_hash != batch[i]["hash"]]
        if recheck:
            again = queries.places(session, recheck)
            for ident in recheck:
                if ident in again:
                    cache[ident] = (again[ident], clock)
                else:
                    cache.pop(ident, None)
        return {i: cache[i][0] for i in amphora_ids if i in cache}

    def _changed_stats(self, batch: dict[str, Heartbeat], known: dict[str, Any],
                       live_listeners: set[str], written: dict[tuple[str, str], tuple[int, ...]]
                       ) -> list[dict[str, Any]]:
        rows = []
        for amp_id in known:
            if batch[amp_id].get("partial"):
                continue
            for lid, report in batch[amp_id]["listeners"].items():
                if lid not in live_listeners:
                    continue  # deleted since, or not ours: a row would break the foreign key
                stats: Any = report["stats"]
                values = tuple(stats[c] for c in m.STAT_COLUMNS)
                if self._stats.get((lid, amp_id)) == values:
                    continue
                written[(lid, amp_id)] = values
                rows.append({"listener_id": lid, "amphora_id": amp_id,
                             **dict(zip(m.STAT_COLUMNS, values, strict=True))})
        return rows

    def _repair(self, amphora_id: str, clock: float) -> None:
        last = self._repaired.get(amphora_id)
        if self.repair is None or (last is not None
                                   and clock - last < self.drift_repair_interval):
            return
        self._repaired[amphora_id] = clock
        try:
            self.repair(amphora_id)
            self.counters.drift_repairs += 1
            LOG.info("Amphora %s runs another configuration than the desired one: pushing "
                     "it again", amphora_id)
        except Exception as exc:  # e.g. the load balancer became busy: next time
            LOG.info("Drift repair of amphora %s deferred: %s", amphora_id, exc)

    def forget(self, amphora_id: str) -> None:
        self._derived.pop(amphora_id, None)
        self._places.pop(amphora_id, None)
        self._repaired.pop(amphora_id, None)
        self._mismatches.pop(amphora_id, None)


def _digest(hb: Heartbeat) -> int:
    """What status derivation depends on in a heartbeat (not its counters), as one hash."""
    return hash((hb["hash"],
                 tuple(sorted((k, v["status"]) for k, v in hb["listeners"].items())),
                 tuple(sorted((k, v["status"], tuple(sorted(v["members"].items())))
                              for k, v in hb["pools"].items()))))
