"""Housekeeping: its jobs (reconcile, purge, spares, certificates, and the cloud drivers'
leftovers), each a periodic job on its own interval (`ottava.periodic`).

`ottava housekeeping` runs one; `ottava standalone` runs one in-process. Every job is safe to
run in several processes at once (each change is a compare-and-set or an idempotent delete).
`collect` gives Prometheus what the jobs did (see `ottava.metrics`).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily

from ottava.db.engine import Database
from ottava.domain.ports.inventory import Inventory, Made
from ottava.domain.ports.requests import Dispatch, MaintenanceRequests
from ottava.housekeeping import certificates, leftovers, purge, spares
from ottava.housekeeping.reconciler import Reconciler
from ottava.periodic import Periodic, PeriodicPart
from ottava.settings import HousekeepingSettings


class Housekeeping(PeriodicPart):
    def __init__(self, settings: HousekeepingSettings, db: Database, dispatch: Dispatch,
                 requests: MaintenanceRequests | None = None,
                 inventories: Sequence[Inventory] = ()) -> None:
        """`requests` submits certificate rotations and spare boots (None: not done here);
        `inventories`: the cloud drivers whose leftovers are swept."""
        self.reconciler = Reconciler(db, dispatch, settings.operation_lease)
        self.purged: collections.Counter[str] = collections.Counter()
        self.leftovers: collections.Counter[str] = collections.Counter()  # removed, by kind
        jobs = [
            Periodic("reconcile", settings.reconcile_interval, self.reconciler.run_once),
            Periodic("purge", settings.cleanup_interval, lambda: self._count(purge.purge(
                db, settings.load_balancer_expiry_age, settings.amphora_expiry_age))),
        ]
        if requests is not None and settings.spare_pool_size > 0:
            jobs.append(Periodic("spares", settings.spare_check_interval, lambda: spares.top_up(
                db, settings.spare_pool_size, requests.create_spare)))
        if requests is not None:
            jobs.append(Periodic("certificates", settings.cert_interval, lambda: certificates.
                                 rotate_expiring(db, requests.rotate_certificate,
                                                 settings.cert_expiry_buffer)))
        if inventories:
            jobs.append(Periodic("leftovers", settings.leftover_check_interval,
                                 lambda: self._count_leftovers(leftovers.sweep(
                                     db, inventories, settings.leftover_grace))))
        self.jobs = jobs

    def periodics(self) -> list[Periodic]:
        return list(self.jobs)

    def _count_leftovers(self, removed: list[Made]) -> None:
        self.leftovers.update(made.kind for made in removed)

    def _count(self, purged: purge.Purged) -> purge.Purged:
        self.purged.update({"load_balancer": purged.load_balancers,
                            "amphora": purged.amphorae, "operation": purged.operations})
        return purged

    def collect(self) -> Iterator[Any]:
        """The reconciler's, the purge's and the leftover sweep's work so far, for
        Prometheus."""
        redriven = CounterMetricFamily(
            "ottava_reconciler_redriven",
            "Orphaned operations the reconciler handed to a worker again, by how.",
            labels=["how"])
        redriven.add_metric(["requeued"], self.reconciler.requeued)
        redriven.add_metric(["recast"], self.reconciler.recast)
        yield redriven
        purged = CounterMetricFamily("ottava_purged_rows",
                                     "Rows the purge removed, by what they were.",
                                     labels=["kind"])
        for kind in ("load_balancer", "amphora", "operation"):
            purged.add_metric([kind], self.purged[kind])
        yield purged
        removed = CounterMetricFamily(
            "ottava_leftovers_removed",
            "Cloud resources removed because their amphora or load balancer was gone.",
            labels=["kind"])
        for kind in ("server", "server group", "port"):
            removed.add_metric([kind], self.leftovers[kind])
        yield removed
