"""A plan survives its trip through the operation's row, and the flow built from it follows
the load balancer's topology: a SINGLE one's create and failover configure no VRRP; a pair's,
and a plan that does not say (written before plans named it), do. Every flow ends with the
plan carried out (`FinishPlan`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ottava.domain.operations import Entity, OperationKind, Plan
from ottava.worker import flows
from ottava.worker.drivers import Job


def names(plan: Plan) -> list[str]:
    def walk(item: Any) -> list[str]:
        if hasattr(item, "iter_links"):
            return [name for child in item for name in walk(child)]
        return [item.name.rsplit(".", 1)[-1]]

    return walk(flows.build(Job(None, plan, "op")))  # type: ignore[arg-type]


def test_a_plan_reads_back_as_it_was_written() -> None:
    plan = Plan(kind=OperationKind.LOADBALANCER_CREATE, load_balancer_id="lb",
                activate=((Entity.LOADBALANCER, "lb"),), topology="ACTIVE_STANDBY")
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan
    older = {k: v for k, v in plan.to_json().items() if k != "topology"}
    assert Plan.from_json(older).topology is None


@pytest.mark.parametrize("kind", [OperationKind.LOADBALANCER_CREATE,
                                  OperationKind.LOADBALANCER_FAILOVER])
@pytest.mark.parametrize(("topology", "vrrp"), [("SINGLE", False),
                                                ("ACTIVE_STANDBY", True), (None, True)])
def test_vrrp_is_configured_only_where_the_topology_may_need_it(
        kind: OperationKind, topology: str | None, vrrp: bool) -> None:
    steps = names(Plan(kind=kind, load_balancer_id="lb", topology=topology))
    assert ("ConfigureVrrp" in steps) is vrrp
    assert steps[-1] == "FinishPlan"
    assert steps.count("FinishPlan") == 1


@pytest.mark.parametrize("kind", list(OperationKind))
def test_every_flow_ends_with_its_plan_carried_out(kind: OperationKind) -> None:
    steps = names(Plan(kind=kind, load_balancer_id="lb", amphora_id="amp"))
    assert steps[-1] == "FinishPlan" and steps.count("FinishPlan") == 1
