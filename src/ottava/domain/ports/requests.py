"""What the periodic parts may ask of the service layer, and how operations reach workers.

The health manager needs only failovers and configuration pushes, housekeeping only
certificate rotations and spare boots; each depends on its Protocol here, which
`ottava.service.amphorae.AmphoraService` implements, not on the whole set of services. Every
request records an operation and casts it like an API change, so it takes the same locks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Casts an operation id to the workers, after the transaction that recorded it has committed.
Dispatch = Callable[[str], None]


class FailoverRequests(Protocol):
    def failover(self, amphora_id: str) -> None:
        """Replace the amphora (Conflict while its load balancer is busy)."""
        ...

    def repair(self, amphora_id: str) -> None:
        """Push the desired state to a drifted amphora again (Conflict while busy)."""
        ...


class MaintenanceRequests(Protocol):
    def rotate_certificate(self, amphora_id: str) -> None: ...

    def create_spare(self) -> None: ...
