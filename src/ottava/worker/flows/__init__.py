"""One flow per operation kind; `build` picks the one an operation's plan names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ottava.worker.drivers import WorkerDeps
from ottava.worker.flows import amphora, loadbalancer, update

Builder = Callable[[WorkerDeps], Any]

FLOWS: dict[str, Builder] = {
    "loadbalancer.create": loadbalancer.create,
    "loadbalancer.update": update.apply_desired_state,
    "loadbalancer.delete": loadbalancer.delete,
    "loadbalancer.failover": loadbalancer.failover,
    "amphora.failover": amphora.failover,
    "amphora.delete": amphora.delete,
    "amphora.config": amphora.configure,
    "amphora.cert_rotate": amphora.rotate_certificate,
    "amphora.spare": amphora.spare,
    "member.batch": update.apply_desired_state,
    **{
        f"{entity}.{action}": update.apply_desired_state
        for entity in ("listener", "pool", "member", "healthmonitor", "l7policy", "l7rule")
        for action in ("create", "update", "delete")
    },
}


def build(kind: str, deps: WorkerDeps) -> Any:
    return FLOWS[kind](deps)
