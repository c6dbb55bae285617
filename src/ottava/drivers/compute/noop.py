"""Compute driver that boots nothing: amphorae exist only as database rows."""

from __future__ import annotations

import uuid

from ottava.domain.ports.compute import AgentBootConfig, Booted, Placement
from ottava.settings import DriverSettings


class NoopComputeDriver:
    def __init__(self, settings: DriverSettings | None = None) -> None:
        # Keeps the set of "running" ids, and where each amphora was asked to be placed
        # (tests look); needs no setting.
        self._running: set[str] = set()
        self.placements: dict[str, Placement | None] = {}

    def create_amphora(self, amphora_id: str, load_balancer_id: str | None,
                       boot: AgentBootConfig | None = None,
                       placement: Placement | None = None) -> Booted:
        # No instance, so nothing to place: `placement` is only remembered.
        self.placements[amphora_id] = placement
        compute_id = str(uuid.uuid4())  # a UUID, like a Nova server's (clients parse it)
        self._running.add(compute_id)
        return Booted(compute_id=compute_id, lb_network_ip="127.0.0.1", compute_flavor="noop")

    def delete_amphora(self, compute_id: str) -> None:
        self._running.discard(compute_id)

    def is_running(self, compute_id: str) -> bool:
        return compute_id in self._running
