"""The health manager: heartbeat receiver, batch writer and failover watchdog, run together
as the periodic jobs of one runner.

`ottava health-manager` runs one; `ottava standalone` runs one in-process. Failovers and
drift repairs are requested through `FailoverRequests` (the service layer's amphora
service), like any API request, so they take the same locks and leave the same operation
records (and the reconciler covers them).
"""

from __future__ import annotations

from oslo_log import log as logging

from ottava.db.engine import Database
from ottava.domain.ports.requests import FailoverRequests
from ottava.health.ingest import Ingest
from ottava.health.receiver import Receiver, ReceiverProcesses
from ottava.health.watchdog import Breaker, Watchdog
from ottava.periodic import Periodic, PeriodicPart
from ottava.settings import HealthSettings

LOG = logging.getLogger(__name__)


class HealthManager(PeriodicPart):
    def __init__(self, settings: HealthSettings, db: Database, key: bytes,
                 requests: FailoverRequests) -> None:
        self.ingest = Ingest(db, repair=requests.repair,
                             drift_repair_interval=settings.drift_repair_interval)
        self.receiver: Receiver | ReceiverProcesses
        bind = settings.bind
        if settings.receiver_processes:
            # Batches come up often (a fraction of a flush interval), so a flush finds the
            # heartbeats of the whole interval and none waits for the next one.
            self.receiver = ReceiverProcesses(bind.host, bind.port, key,
                                              settings.receiver_processes,
                                              min(0.1, settings.flush_interval / 2),
                                              self.ingest.offer_batch,
                                              max_age=settings.heartbeat_max_age)
        else:
            self.receiver = Receiver(bind.host, bind.port, key, self.ingest.offer,
                                     max_age=settings.heartbeat_max_age)
        breaker = settings.breaker
        self.watchdog = Watchdog(db, requests.failover, timeout=settings.heartbeat_timeout,
                                 interval=settings.check_interval,
                                 breaker=Breaker(breaker.threshold, breaker.ratio,
                                                 breaker.minimum),
                                 heard_within=self.ingest.heard_within)
        self.flush_interval = settings.flush_interval

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.receiver.address
        return str(host), int(port)

    def periodics(self) -> list[Periodic]:
        return [*self.receiver.periodics(),
                Periodic("heartbeat-writer", self.flush_interval, self.ingest.flush),
                *self.watchdog.periodics()]

    def start(self) -> None:
        super().start()
        LOG.info("Health manager receiving heartbeats on %s:%d", *self.address)

    def close(self) -> None:
        self.receiver.close()
        self.ingest.flush()  # what arrived last is written, not lost
