"""Amphora flows: failover, delete and configuration push of one amphora (admin API, health
manager), certificate rotation and spare boots (housekeeping)."""

from __future__ import annotations

from typing import Any

from taskflow.patterns import linear_flow

from ottava.worker import keys
from ottava.worker.drivers import WorkerDeps
from ottava.worker.flows import subflows
from ottava.worker.tasks.amphora import ApplySpec
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.compute import (
    BootAmphorae,
    DeleteAmphorae,
    MarkAmphoraeReady,
    RotateCertificate,
)
from ottava.worker.tasks.database import BuildSpec, CreateSpareRow, FailPlanOnRevert, FinishPlan


class TargetAmphora(WorkerTask):
    """The amphora an admin operation names, as a one-element list."""

    def execute(self, plan: dict[str, Any]) -> list[str]:
        return [plan["extra"]["amphora_id"]]


def failover(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("failover-amphora").add(
        FailPlanOnRevert(deps),
        subflows.replace_amphorae(deps, TargetAmphora(deps, provides=keys.REPLACEMENT_IDS)),
        FinishPlan(deps),
    )


def delete(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("delete-amphora").add(
        TargetAmphora(deps, provides=keys.AMPHORA_IDS),
        DeleteAmphorae(deps),
    )


def configure(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("configure-amphora").add(
        FailPlanOnRevert(deps),
        TargetAmphora(deps, provides=keys.AMPHORA_IDS),
        BuildSpec(deps),
        ApplySpec(deps),
        FinishPlan(deps),
    )


def rotate_certificate(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("rotate-amphora-certificate").add(RotateCertificate(deps))


def spare(deps: WorkerDeps) -> linear_flow.Flow:
    """Boot one amphora for the spares pool."""
    return linear_flow.Flow("spare-amphora").add(
        CreateSpareRow(deps),
        BootAmphorae(deps),
        MarkAmphoraeReady(deps),
    )
