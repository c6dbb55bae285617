"""Load balancer flows: create, update, delete, failover."""

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
        subflows.new_amphorae(deps, keys.AMPHORA_IDS),
        BuildSpec(deps),
        ApplySpec(deps),
        FinishPlan(deps),
    )


def update(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("update-load-balancer").add(
        FailPlanOnRevert(deps),
        ListAmphorae(deps),
        BuildSpec(deps),
        ApplySpec(deps),
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
    """Replace every amphora: new ones boot and serve before the old ones go."""
    return linear_flow.Flow("failover-load-balancer").add(
        FailPlanOnRevert(deps),
        ListAmphorae(deps, provides=keys.REPLACEMENT_IDS),
        subflows.new_amphorae(deps, keys.AMPHORA_IDS),
        BuildSpec(deps),
        ApplySpec(deps),
        DeleteAmphorae(deps, name="delete-replaced-amphorae",
                       rebind={keys.AMPHORA_IDS: keys.REPLACEMENT_IDS}),
        FinishPlan(deps),
    )
