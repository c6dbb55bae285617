"""Housekeeping: its jobs (reconcile, purge, spares, certificates), each a periodic job on
its own interval (`ottava.periodic`).

`ottava housekeeping` runs one; `ottava standalone` runs one in-process. Every job is safe to
run in several processes at once (each change is a compare-and-set or an idempotent delete).
"""

from __future__ import annotations

from ottava.db.engine import Database
from ottava.domain.ports.requests import Dispatch, MaintenanceRequests
from ottava.housekeeping import certificates, purge, spares
from ottava.housekeeping.reconciler import Reconciler
from ottava.periodic import Periodic, PeriodicPart
from ottava.settings import HousekeepingSettings


class Housekeeping(PeriodicPart):
    def __init__(self, settings: HousekeepingSettings, db: Database, dispatch: Dispatch,
                 requests: MaintenanceRequests | None = None) -> None:
        """`requests` submits certificate rotations and spare boots (None: not done here)."""
        self.reconciler = Reconciler(db, dispatch, settings.operation_lease)
        jobs = [
            Periodic("reconcile", settings.reconcile_interval, self.reconciler.run_once),
            Periodic("purge", settings.cleanup_interval, lambda: purge.purge(
                db, settings.load_balancer_expiry_age, settings.amphora_expiry_age)),
        ]
        if requests is not None and settings.spare_pool_size > 0:
            jobs.append(Periodic("spares", settings.spare_check_interval, lambda: spares.top_up(
                db, settings.spare_pool_size, requests.create_spare)))
        if requests is not None:
            jobs.append(Periodic("certificates", settings.cert_interval, lambda: certificates.
                                 rotate_expiring(db, requests.rotate_certificate,
                                                 settings.cert_expiry_buffer)))
        self.jobs = jobs

    def periodics(self) -> list[Periodic]:
        return list(self.jobs)
