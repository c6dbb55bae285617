"""What Prometheus reads of the health manager and of the fleet, at scrape time.

- `HealthCollector`: the health manager's own counters (heartbeats received, refused by
  reason, late; batches written; heartbeats of amphorae the database does not know; status
  changes; drift repairs; failovers requested), which its parts keep for their own work.
- `FleetCollector`: the fleet as the database holds it, so one scrape of any health manager
  (or of standalone's API) covers every load balancer whichever process received its
  heartbeats: amphorae by status, load balancers', pools' and members' statuses, and each
  listener's traffic from the statistics the heartbeats carry (summed over its amphorae),
  labelled with the project and the ids; and the database pool of this process.

A scrape costs five reads, whatever the fleet's size; nothing is cached between scrapes, so a
value is never older than the last heartbeat batch written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from oslo_log import log as logging
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import Provisioning

LOG = logging.getLogger(__name__)

LATE = "stale"  # the receiver's reason for a heartbeat sent too long ago
LB_LABELS = ["project_id", "loadbalancer_id"]
LISTENER_COUNTERS = (  # column, metric name, help
    ("bytes_in", "ottava_listener_bytes_in", "Bytes received by a listener."),
    ("bytes_out", "ottava_listener_bytes_out", "Bytes sent by a listener."),
    ("total_connections", "ottava_listener_connections",
     "Connections a listener accepted."),
    ("request_errors", "ottava_listener_request_errors",
     "Requests a listener answered with an error or could not serve."),
)


class HealthCollector:
    def __init__(self, manager: Any) -> None:
        """`manager`: an `ottava.health.manager.HealthManager`."""
        self.manager = manager

    def collect(self) -> Iterator[Any]:
        receiver, ingest = self.manager.receiver, self.manager.ingest
        yield CounterMetricFamily("ottava_heartbeats_received",
                                  "Heartbeat datagrams received.", value=receiver.received)
        refused = CounterMetricFamily(
            "ottava_heartbeats_refused",
            "Heartbeats dropped, by reason (signature, replayed, shape, …; late ones aside).",
            labels=["reason"])
        for reason, count in sorted(receiver.dropped.items()):
            if reason != LATE:
                refused.add_metric([reason], count)
        yield refused
        yield CounterMetricFamily("ottava_heartbeats_late",
                                  "Heartbeats dropped because they were sent too long ago.",
                                  value=receiver.dropped.get(LATE, 0))
        counters = ingest.counters
        for name, value, text in (
                ("ottava_heartbeat_batches_written", counters.flushes,
                 "Batches of heartbeats written to the database."),
                ("ottava_heartbeats_unknown_amphora", counters.unknown,
                 "Heartbeats of amphorae the database does not know (or deleted)."),
                ("ottava_operating_status_changes", counters.status_changes,
                 "Operating status changes derived from heartbeats."),
                ("ottava_drift_repairs", counters.drift_repairs,
                 "Configurations pushed again to amphorae that ran another one."),
                ("ottava_failovers_requested", self.manager.watchdog.submitted,
                 "Failovers the watchdog requested for silent amphorae.")):
            yield CounterMetricFamily(name, text, value=value)


class FleetCollector:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.failures = 0

    def collect(self) -> Iterator[Any]:
        # A database that does not answer must not take the rest of the page with it (the
        # heartbeat counters matter most then): the fleet's families are left out, counted.
        try:
            rows = self._read()
        except Exception as exc:  # any database failure; the scrape goes on without these
            self.failures += 1
            LOG.warning("Metrics: could not read the fleet from the database: %s", exc)
            rows = None
        yield CounterMetricFamily("ottava_fleet_read_failures",
                                  "Scrapes that could not read the fleet from the database.",
                                  value=self.failures)
        if rows is not None:
            yield from self._families(*rows)
        yield self._pool_connections()

    def _read(self) -> tuple[Sequence[Any], ...]:
        with self.db.reader() as s:
            amphorae = s.execute(select(m.Amphora.status, func.count())
                                 .group_by(m.Amphora.status)).all()
            lbs = s.execute(select(m.LoadBalancer.project_id, m.LoadBalancer.id,
                                   m.LoadBalancer.provisioning_status,
                                   m.LoadBalancer.operating_status)
                            .where(m.LoadBalancer.provisioning_status
                                   != Provisioning.DELETED)).all()
            listeners = s.execute(
                select(m.Listener.project_id, m.Listener.load_balancer_id, m.Listener.id,
                       *(func.sum(getattr(m.ListenerStatistics, c))
                         for c in ("active_connections",
                                   *(counter[0] for counter in LISTENER_COUNTERS))))
                .join(m.ListenerStatistics, m.ListenerStatistics.listener_id == m.Listener.id)
                .group_by(m.Listener.project_id, m.Listener.load_balancer_id, m.Listener.id)
            ).all()
            pools = s.execute(
                select(m.Pool.project_id, m.Pool.load_balancer_id, m.Pool.id,
                       m.Pool.operating_status)
                .where(m.Pool.provisioning_status != Provisioning.DELETED)).all()
            members = s.execute(
                select(m.Member.project_id, m.Pool.load_balancer_id, m.Member.pool_id,
                       m.Member.id, m.Member.operating_status)
                .join(m.Pool, m.Pool.id == m.Member.pool_id)).all()
        return amphorae, lbs, listeners, pools, members

    def _families(self, amphorae: Sequence[Any], lbs: Sequence[Any],
                  listeners: Sequence[Any], pools: Sequence[Any], members: Sequence[Any]
                  ) -> Iterator[Any]:
        by_status = GaugeMetricFamily("ottava_amphorae", "Amphorae by status.",
                                      labels=["status"])
        for status, count in sorted(amphorae):
            by_status.add_metric([status], count)
        yield by_status
        yield _one_hot("ottava_loadbalancer_provisioning_status",
                       "a load balancer's current provisioning status", [],
                       [(project, lb, prov) for project, lb, prov, _ in lbs])
        yield _one_hot("ottava_loadbalancer_operating_status",
                       "a load balancer's current operating status", [],
                       [(project, lb, oper) for project, lb, _, oper in lbs])
        yield from _listeners(listeners)
        yield _one_hot("ottava_pool_status",
                       "a pool's current operating status (ONLINE, DEGRADED, ERROR, …)",
                       ["pool_id"], pools)
        yield _one_hot("ottava_member_status",
                       "a member's current operating status (ONLINE, ERROR, NO_MONITOR, …)",
                       ["pool_id", "member_id"], members)

    def _pool_connections(self) -> Any:
        connections = self.db.engine.pool
        in_use = GaugeMetricFamily("ottava_db_pool_connections",
                                   "Database connections of this process, by state.",
                                   labels=["state"])
        # A pool without these (SQLite's static or null pools) counts nothing.
        checked_out = getattr(connections, "checkedout", lambda: 0)()
        idle = getattr(connections, "checkedin", lambda: 0)()
        in_use.add_metric(["in_use"], checked_out)
        in_use.add_metric(["idle"], idle)
        return in_use


def _one_hot(name: str, what: str, ids: list[str], rows: Sequence[Any]) -> Any:
    """A gauge that is 1 for each object's current status: rows of (project, load balancer,
    *ids, status)."""
    family = GaugeMetricFamily(name, f"1 for {what}.", labels=[*LB_LABELS, *ids, "status"])
    for project, *rest in rows:
        family.add_metric([project or "", *rest], 1)
    return family


def _listeners(rows: Sequence[Any]) -> Iterator[Any]:
    labels = [*LB_LABELS, "listener_id"]
    active = GaugeMetricFamily("ottava_listener_active_connections",
                               "Connections a listener holds open now.", labels=labels)
    counters = [CounterMetricFamily(name, text, labels=labels)
                for _, name, text in LISTENER_COUNTERS]
    for project, lb, listener, active_now, *totals in rows:
        key = [project or "", lb, listener]
        active.add_metric(key, int(active_now or 0))
        for family, total in zip(counters, totals, strict=True):
            family.add_metric(key, int(total or 0))
    yield active
    yield from counters
