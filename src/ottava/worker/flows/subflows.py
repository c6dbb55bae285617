"""Sequences shared by several flows."""

from __future__ import annotations

from taskflow import task
from taskflow.patterns import linear_flow

from ottava.worker import keys
from ottava.worker.drivers import WorkerDeps
from ottava.worker.tasks.amphora import ApplySpec, ConfigureVrrp
from ottava.worker.tasks.compute import BootAmphorae, DeleteAmphorae, MarkAmphoraeAllocated
from ottava.worker.tasks.database import BuildSpec, CreateAmphoraRows
from ottava.worker.tasks.network import PlugVip


def new_amphorae(deps: WorkerDeps) -> linear_flow.Flow:
    """Rows, instances and VIP for new amphorae (see CreateAmphoraRows for how many)."""
    return linear_flow.Flow("new-amphorae").add(
        CreateAmphoraRows(deps),
        BootAmphorae(deps),
        PlugVip(deps),
        MarkAmphoraeAllocated(deps),
    )


def replace_amphorae(deps: WorkerDeps, replaced: task.Task) -> linear_flow.Flow:
    """Replace the amphorae `replaced` provides: the new ones boot and serve the desired
    state before the old ones are removed."""
    return linear_flow.Flow("replace-amphorae").add(
        replaced,
        new_amphorae(deps),
        BuildSpec(deps),
        ApplySpec(deps),
        ConfigureVrrp(deps),
        DeleteAmphorae(deps, name="delete-replaced-amphorae",
                       rebind={keys.AMPHORA_IDS: keys.REPLACEMENT_IDS}),
    )
