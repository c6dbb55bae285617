"""One flow per operation kind; `build` picks the one an operation's plan names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ottava.worker.drivers import WorkerDeps
from ottava.worker.flows import amphora, children, loadbalancer

Builder = Callable[[WorkerDeps], Any]

FLOWS: dict[str, Builder] = {
    "loadbalancer.create": loadbalancer.create,
    "loadbalancer.update": loadbalancer.update,
    "loadbalancer.delete": loadbalancer.delete,
    "loadbalancer.failover": loadbalancer.failover,
    "amphora.failover": amphora.failover,
    "amphora.delete": amphora.delete,
    "amphora.config": amphora.configure,
    "member.batch": children.change,
    **{
        f"{entity}.{action}": children.change
        for entity in ("listener", "pool", "member", "healthmonitor", "l7policy", "l7rule")
        for action in ("create", "update", "delete")
    },
}


def build(kind: str, deps: WorkerDeps) -> Any:
    return FLOWS[kind](deps)
