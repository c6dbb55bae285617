"""The flow of any change below a load balancer: push the new desired state, then finish.

Listeners, pools, members (one or a batch), monitors, L7 policies and rules all change the
same way, because the amphora always receives the whole load balancer's desired state.
"""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.worker.drivers import WorkerDeps
from ottava.worker.tasks.amphora import ApplySpec
from ottava.worker.tasks.database import BuildSpec, FailPlanOnRevert, FinishPlan, ListAmphorae


def change(deps: WorkerDeps) -> linear_flow.Flow:
    return linear_flow.Flow("change-child").add(
        FailPlanOnRevert(deps),
        ListAmphorae(deps),
        BuildSpec(deps),
        ApplySpec(deps),
        FinishPlan(deps),
    )
