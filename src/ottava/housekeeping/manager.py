"""Housekeeping's loop: each job (reconcile, purge, spares, certificates) on its own interval,
in one thread, until stopped.

`ottava housekeeping` runs one; `ottava standalone` runs one in-process. Every job is safe to
run in several processes at once (each change is a compare-and-set or an idempotent delete).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from oslo_config import cfg
from oslo_log import log as logging

from ottava.db.engine import Database
from ottava.housekeeping import certificates, purge, spares
from ottava.housekeeping.reconciler import Reconciler

LOG = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, conf: cfg.ConfigOpts, db: Database,
                 dispatch: Callable[[str], None],
                 rotate: Callable[[str], None] | None = None,
                 create_spare: Callable[[], None] | None = None) -> None:
        """`rotate(amphora_id)` submits a certificate rotation, `create_spare()` the boot of a
        spare amphora (None: not done here)."""
        hk = conf.house_keeping
        self.reconciler = Reconciler(db, dispatch, hk.operation_lease)
        self.jobs: list[tuple[str, float, Callable[[], object]]] = [
            ("reconcile", hk.reconcile_interval, self.reconciler.run_once),
            ("purge", hk.cleanup_interval,
             lambda: purge.purge(db, hk.load_balancer_expiry_age, hk.amphora_expiry_age)),
        ]
        if create_spare is not None and hk.spare_amphora_pool_size > 0:
            self.jobs.append(("spares", hk.spare_check_interval, lambda: spares.top_up(
                db, hk.spare_amphora_pool_size, create_spare)))
        if rotate is not None:
            self.jobs.append(("certificates", hk.cert_interval, lambda: certificates.
                              rotate_expiring(db, rotate, hk.cert_expiry_buffer)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        due = {name: time.monotonic() + interval for name, interval, _ in self.jobs}
        while not self._stop.is_set():
            now = time.monotonic()
            for name, interval, job in self.jobs:
                if now >= due[name]:
                    due[name] = now + interval
                    try:
                        job()
                    except Exception:  # one failed pass; the next one tries again
                        LOG.exception("Housekeeping job %s failed", name)
            self._stop.wait(max(0.05, min(due.values()) - time.monotonic()))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
