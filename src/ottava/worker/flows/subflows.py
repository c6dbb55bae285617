"""Sequences shared by several flows."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.worker.drivers import WorkerDeps
from ottava.worker.tasks.compute import BootAmphorae, MarkAmphoraeAllocated
from ottava.worker.tasks.database import CreateAmphoraRows
from ottava.worker.tasks.network import PlugVip


def new_amphorae(deps: WorkerDeps, provides: str) -> linear_flow.Flow:
    """Rows, instances and VIP for the amphorae the load balancer's topology needs."""
    return linear_flow.Flow("new-amphorae").add(
        CreateAmphoraRows(deps, provides=provides),
        BootAmphorae(deps),
        PlugVip(deps),
        MarkAmphoraeAllocated(deps),
    )
