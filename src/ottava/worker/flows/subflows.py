"""Sequences shared by several flows."""

from __future__ import annotations

from taskflow import task
from taskflow.patterns import linear_flow

from ottava.domain.topology import Topology
from ottava.worker import keys
from ottava.worker.drivers import Job
from ottava.worker.tasks.amphora import ApplySpec, ConfigureVrrp
from ottava.worker.tasks.compute import BootAmphorae, DeleteAmphorae
from ottava.worker.tasks.database import CreateAmphoraRows, ListServingAmphorae
from ottava.worker.tasks.network import GuardVip, PlugVip


def new_amphorae(job: Job) -> linear_flow.Flow:
    """Rows and running instances for new amphorae (see CreateAmphoraRows for how many),
    ALLOCATED to the load balancer."""
    return linear_flow.Flow("new-amphorae").add(
        CreateAmphoraRows(job),
        BootAmphorae(job),
    )


def serve(job: Job) -> linear_flow.Flow:
    """The new amphorae take the VIP only once their HAProxy runs the desired state (it
    binds the VIP before holding it), so the VIP never points at an amphora that would
    refuse connections; the network in front of them is told what to let through (before
    keepalived starts: a new partner's port must be in the pair's security group to hear
    VRRP), and a pair then gets its VRRP settings (a plan that does not name its topology
    gets the step, which does nothing for a SINGLE load balancer)."""
    flow = linear_flow.Flow("serve").add(PlugVip(job), GuardVip(job))
    if job.plan.topology != Topology.SINGLE:  # as Octavia, a flow per topology
        flow.add(ConfigureVrrp(job))
    return flow


def replace_amphorae(job: Job, replaced: task.Task) -> linear_flow.Flow:
    """Replace the amphorae `replaced` provides: the new ones boot and serve the desired
    state before the old ones are removed. The desired state is applied to every amphora
    that stays too (for a pair: the survivor's peers change)."""
    return linear_flow.Flow("replace-amphorae").add(
        replaced,
        new_amphorae(job),
        ListServingAmphorae(job),
        ApplySpec(job, name="apply-to-serving-amphorae",
                  rebind={keys.AMPHORA_IDS: keys.SERVING_IDS}),
        serve(job),
        DeleteAmphorae(job, name="delete-replaced-amphorae",
                       rebind={keys.AMPHORA_IDS: keys.REPLACEMENT_IDS}),
    )
