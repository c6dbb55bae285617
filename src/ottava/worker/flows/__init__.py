"""One flow per operation kind; `build` makes the one an operation's plan names and ends it
with the plan carried out."""

from __future__ import annotations

from collections.abc import Callable

from taskflow.patterns import linear_flow

from ottava.domain.operations import Action, Entity, OperationKind, child_kind
from ottava.worker.drivers import Job
from ottava.worker.flows import amphora, loadbalancer, update
from ottava.worker.tasks.database import FinishPlan

Builder = Callable[[Job], linear_flow.Flow]

FLOWS: dict[OperationKind, Builder] = {
    OperationKind.LOADBALANCER_CREATE: loadbalancer.create,
    OperationKind.LOADBALANCER_UPDATE: update.apply_desired_state,
    OperationKind.LOADBALANCER_DELETE: loadbalancer.delete,
    OperationKind.LOADBALANCER_FAILOVER: loadbalancer.failover,
    OperationKind.AMPHORA_FAILOVER: amphora.failover,
    OperationKind.AMPHORA_DELETE: amphora.delete,
    OperationKind.AMPHORA_CONFIG: amphora.configure,
    OperationKind.AMPHORA_CERT_ROTATE: amphora.rotate_certificate,
    OperationKind.AMPHORA_SPARE: amphora.spare,
    OperationKind.MEMBER_BATCH: update.apply_desired_state,
    # Every change below a load balancer only alters the desired state.
    **{child_kind(entity, action): update.apply_desired_state
       for entity in Entity if entity is not Entity.LOADBALANCER for action in Action},
}


def build(job: Job) -> linear_flow.Flow:
    """The flow of `job`'s operation, its tasks holding the job, ending with `FinishPlan`:
    the plan carried out in the commit that records the operation DONE."""
    return FLOWS[job.plan.kind](job).add(FinishPlan(job))
