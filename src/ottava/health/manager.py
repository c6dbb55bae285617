"""The health manager: heartbeat receiver, batch writer and failover watchdog, run together.

`ottava health-manager` runs one; `ottava standalone` runs one in-process. Failovers and
drift repairs are submitted through the service layer like any API request, so they take the
same locks and leave the same operation records (and the reconciler covers them).
"""

from __future__ import annotations

import threading

from oslo_config import cfg
from oslo_log import log as logging

from ottava.db.engine import Database
from ottava.health.ingest import Ingest
from ottava.health.receiver import Receiver, ReceiverProcesses
from ottava.health.watchdog import Breaker, Watchdog
from ottava.service.container import Services

LOG = logging.getLogger(__name__)


class HealthManager:
    def __init__(self, conf: cfg.ConfigOpts, db: Database, services: Services,
                 key: bytes) -> None:
        hm = conf.health_manager
        self.ingest = Ingest(db, repair=services.amphorae.repair,
                             drift_repair_interval=hm.drift_repair_interval)
        self.receiver: Receiver | ReceiverProcesses
        if hm.receiver_processes:
            # Batches come up often (a fraction of a flush interval), so a flush finds the
            # heartbeats of the whole interval and none waits for the next one.
            self.receiver = ReceiverProcesses(hm.bind_ip, hm.bind_port, key,
                                              hm.receiver_processes,
                                              min(0.1, hm.health_update_interval / 2),
                                              self.ingest.offer_batch)
        else:
            self.receiver = Receiver(hm.bind_ip, hm.bind_port, key, self.ingest.offer)
        self.watchdog = Watchdog(
            db, services.amphorae.failover, timeout=hm.heartbeat_timeout,
            interval=hm.health_check_interval,
            breaker=Breaker(hm.failover_threshold, hm.failover_threshold_ratio,
                            hm.failover_threshold_minimum))
        self.flush_interval = hm.health_update_interval
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.receiver.address
        return str(host), int(port)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            self.ingest.flush()
        self.ingest.flush()

    def start(self) -> None:
        self.receiver.start()
        self._flusher = threading.Thread(target=self._flush_loop, name="heartbeat-writer",
                                         daemon=True)
        self._flusher.start()
        self.watchdog.start()
        LOG.info("Health manager receiving heartbeats on %s:%d", *self.address)

    def stop(self) -> None:
        self._stop.set()
        self.watchdog.stop()
        self.receiver.stop()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
