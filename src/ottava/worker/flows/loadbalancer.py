"""Load balancer flows: create, delete, failover (an update is `update.apply_desired_state`)."""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.worker import keys
from ottava.worker.drivers import WorkerDeps
from ottava.worker.flows import subflows
from ottava.worker.tasks.amphora import ApplySpec, RemoveSpec
from ottava.worker.tasks.compute import DeleteAmphorae
from ottava.worker.tasks.database import (
    BuildSpec,
    DeleteLoadBalancerTree,
    FailPlanOnRevert,
    FinishPlan,
    ListAmphorae,
)
from ottava.worker.tasks.network import DeallocateVip


def create(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("create-load-balancer").add(
        FailPlanOnRevert(deps),
        subflows.new_amphorae(deps),
        BuildSpec(deps),
        ApplySpec(deps),
        subflows.serve(deps),
        FinishPlan(deps),
    )


def delete(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("delete-load-balancer").add(
        FailPlanOnRevert(deps),
        ListAmphorae(deps),
        RemoveSpec(deps),
        DeleteAmphorae(deps),
        DeallocateVip(deps),
        DeleteLoadBalancerTree(deps),
        FinishPlan(deps),
    )


def failover(deps: WorkerDeps) -> linear_flow.Flow:
    """Replace every amphora of the load balancer."""
    return linear_flow.Flow("failover-load-balancer").add(
        FailPlanOnRevert(deps),
        subflows.replace_amphorae(deps, ListAmphorae(deps, provides=keys.REPLACEMENT_IDS)),
        FinishPlan(deps),
    )
