"""What a cloud driver made, so that housekeeping can remove what nothing stands behind.

A driver that makes things in a cloud (servers, server groups, ports, security groups) names
each after the amphora or load balancer it serves. `made()` lists them; housekeeping removes, with
`unmake`, each one whose amphora or load balancer has no live row and that is older than a
grace period (a VIP port exists a moment before its load balancer's row is committed). The
local and noop drivers keep nothing to sweep and do not implement it.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class Made:
    kind: str  # "server", "server group", "port", "security group"
    ident: str  # the cloud's id
    # What it serves: an amphora (a server, an amphora's port), judged by the amphora's row;
    # else a load balancer (a VIP port, a server group, a security group), judged by the
    # load balancer's.
    amphora_id: str | None = None
    load_balancer_id: str | None = None
    age: float = 0.0  # seconds since it was made (0 when the cloud does not say)


@runtime_checkable
class Inventory(Protocol):
    def made(self) -> list[Made]: ...

    def unmake(self, made: Made) -> None:
        """Remove it; removing what is gone already succeeds."""
        ...
