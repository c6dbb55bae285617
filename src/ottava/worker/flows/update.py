"""The flow of any change that only alters configuration: push the new desired state, finish.

A load balancer update and every change below it (listeners, pools, members one at a time or
in a batch, monitors, L7 policies and rules) go this way, because an amphora always receives
the whole load balancer's desired state; the network's openings in front of the amphorae
follow the listeners (GuardVip).
"""

from __future__ import annotations

from taskflow.patterns import linear_flow

from ottava.worker.drivers import Job
from ottava.worker.tasks.amphora import ApplySpec
from ottava.worker.tasks.database import ListAmphorae
from ottava.worker.tasks.network import GuardVip


def apply_desired_state(job: Job) -> linear_flow.Flow:
    return linear_flow.Flow("apply-desired-state").add(
        ListAmphorae(job),
        ApplySpec(job),
        GuardVip(job),
    )
