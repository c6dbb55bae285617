"""Failover of amphorae that went quiet, with a circuit breaker against mass failover.

Every `health_check_interval` the watchdog looks for amphorae in service (ALLOCATED, of an
ACTIVE or ERROR load balancer) whose last heartbeat is older than `heartbeat_timeout`, leaving
out those whose heartbeat this health manager received within the timeout but has not written
yet (under load the database write can lag; lagging is not silence). Each one is marked busy
(a compare-and-set, so two health managers never fail the same amphora over twice) and its
failover is submitted as an ordinary operation. Nothing is judged before the
watchdog has itself been running for a whole timeout: after a controller restart, silence
only means that nobody was listening. A failover that cannot be
submitted (its load balancer is busy with another change) is unmarked and tried next time.

The breaker: when more amphorae are stale at once than `failover_threshold`, or more than
`failover_threshold_ratio` of them (once there are at least `failover_threshold_minimum`),
the likelier cause is on the controller's side (its network, its clock, a paused database),
and replacing healthy amphorae would make an outage of a blip. The watchdog then fails nothing
over, logs an error once, marks the silent amphorae FAILOVER_STOPPED (as Octavia does; the
admin amphora API shows it) and reports `tripped` until the share of stale amphorae drops.
Those that report again return to ALLOCATED; those still silent then are failed over.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from oslo_log import log as logging

from ottava.db import health as queries
from ottava.db.engine import Database
from ottava.domain.lifecycles import AmphoraStatus
from ottava.periodic import Periodic, PeriodicPart

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Breaker:
    threshold: int | None = None
    ratio: float = 0.5
    minimum: int = 4

    def trips(self, stale: int, total: int) -> bool:
        if self.threshold is not None and stale >= self.threshold:
            return True
        return total >= self.minimum and stale > self.ratio * total


class Watchdog(PeriodicPart):
    def __init__(self, db: Database, failover: Callable[[str], None], timeout: float,
                 interval: float, breaker: Breaker,
                 heard_within: Callable[[str, float], bool] | None = None) -> None:
        """`heard_within(amphora_id, seconds)`: whether this health manager's receiver had a
        heartbeat from it that recently; such an amphora is alive even when the database
        does not show it yet, and is never failed over."""
        self.db = db
        self.heard_within = heard_within
        self.failover = failover
        self.timeout = timeout
        self.interval = interval
        self.breaker = breaker
        self.tripped = False
        self.submitted = 0
        self.started_at = queries.now()
        self._deferred: set[str] = set()  # logged once at INFO while they wait

    def check(self) -> list[str]:
        """One pass: the amphorae whose failover was submitted."""
        before = queries.now() - datetime.timedelta(seconds=self.timeout)
        if before < self.started_at:
            return []  # we have not listened for a whole timeout yet: silence means nothing
        retry_before = before - datetime.timedelta(seconds=self.timeout)
        with self.db.reader() as s:
            stale, total, back = queries.stale(s, before, retry_before)
        if self.heard_within is not None:  # their heartbeats are only waiting to be written
            stale = [a for a in stale if not self.heard_within(a, self.timeout)]
        if back:
            with self.db.transaction() as s:
                queries.set_status(s, back, AmphoraStatus.ALLOCATED,
                                   only_from=AmphoraStatus.FAILOVER_STOPPED)
        if stale and self.breaker.trips(len(stale), total):
            if not self.tripped:
                LOG.error("%d of %d amphorae stopped sending heartbeats at once: automatic "
                          "failover is suspended until they report again or fewer are "
                          "stale (check the controller's network first); they are "
                          "FAILOVER_STOPPED meanwhile", len(stale), total)
            with self.db.transaction() as s:  # the admin amphora API shows why
                queries.set_status(s, stale, AmphoraStatus.FAILOVER_STOPPED,
                                   only_from=AmphoraStatus.ALLOCATED)
            self.tripped = True
            return []
        if self.tripped:
            LOG.warning("Failover circuit breaker reset (%d of %d stale)", len(stale), total)
            self.tripped = False
        started = []
        for amphora_id in stale:
            with self.db.transaction() as s:
                if not queries.mark_busy(s, amphora_id, silent_since=before,
                                         retry_before=retry_before):
                    continue  # it reported meanwhile, or another health manager took it
            try:
                self.failover(amphora_id)
            except Exception as exc:  # busy load balancer, or gone: try again next pass
                (LOG.info if amphora_id not in self._deferred else LOG.debug)(
                    "Failover of amphora %s not started yet: %s", amphora_id, exc)
                self._deferred.add(amphora_id)
                with self.db.transaction() as s:
                    queries.mark_busy(s, amphora_id, busy=False)
                continue
            self._deferred.discard(amphora_id)
            LOG.warning("Amphora %s sent no heartbeat for %.1f s: failing it over",
                        amphora_id, self.timeout)
            started.append(amphora_id)
        self.submitted += len(started)
        return started

    def periodics(self) -> list[Periodic]:
        return [Periodic("failover-watchdog", self.interval, self.check)]
