"""Load balancer flows: create, delete, failover (an update is `update.apply_desired_state`)."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.worker import keys
from ottava.worker.drivers import Job
from ottava.worker.flows import subflows
from ottava.worker.tasks.amphora import ApplySpec
from ottava.worker.tasks.compute import DeleteAmphorae
from ottava.worker.tasks.database import DeleteLoadBalancerTree, ListAmphorae
from ottava.worker.tasks.network import DeallocateVip


def create(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("create-load-balancer").add(
        subflows.new_amphorae(job),
        ApplySpec(job),
        subflows.serve(job),
    )


def delete(job: Job) -> linear_flow.Flow:
    """The amphorae are deleted without asking their agents to stop first: deleting them ends
    all they serve, and a dead agent (its failover not begun) must not hold the delete up
    for its connection retries, as Octavia's delete does not either."""
    return linear_flow.Flow("delete-load-balancer").add(
        ListAmphorae(job),
        DeleteAmphorae(job),
        DeallocateVip(job),
        DeleteLoadBalancerTree(job),
    )


def failover(job: Job) -> linear_flow.Flow:
    """Replace every amphora of the load balancer."""
    return linear_flow.Flow("failover-load-balancer").add(
        subflows.replace_amphorae(job, ListAmphorae(job, provides=keys.REPLACEMENT_IDS)),
    )
