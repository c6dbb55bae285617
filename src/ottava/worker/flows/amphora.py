"""Amphora flows: failover, delete and configuration push of one amphora (admin API, health
manager), certificate rotation and spare boots (housekeeping)."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.domain.lifecycles import AmphoraStatus
from ottava.worker import keys
from ottava.worker.drivers import Job
from ottava.worker.flows import subflows
from ottava.worker.tasks.amphora import ApplySpec
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.compute import BootAmphorae, DeleteAmphorae, RotateCertificate
from ottava.worker.tasks.database import CreateSpareRow


class TargetAmphora(WorkerTask):
    """The amphora an admin operation names, as a one-element list."""

    def execute(self) -> list[str]:
        assert self.plan.amphora_id is not None, self.plan
        return [self.plan.amphora_id]


def failover(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("failover-amphora").add(
        subflows.replace_amphorae(job, TargetAmphora(job, provides=keys.REPLACEMENT_IDS)),
    )


def delete(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("delete-amphora").add(
        TargetAmphora(job, provides=keys.AMPHORA_IDS),
        DeleteAmphorae(job),
    )


def configure(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("configure-amphora").add(
        TargetAmphora(job, provides=keys.AMPHORA_IDS),
        ApplySpec(job),
    )


def rotate_certificate(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("rotate-amphora-certificate").add(RotateCertificate(job))


def spare(job: Job) -> linear_flow.Flow:
    """Boot one amphora for the spares pool."""
    return linear_flow.Flow("spare-amphora").add(
        CreateSpareRow(job),
        BootAmphorae(job, ready_as=AmphoraStatus.READY),
    )
