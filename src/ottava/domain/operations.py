"""The plan of an asynchronous operation: what to finish, unlock or fail when its flow ends.

The API writes a plan with the desired state; the worker's flow applies the data plane change
and then carries the plan out. It is plain JSON so that flows can be persisted and resumed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

Ref = tuple[str, str]  # (entity name, id), e.g. ("member", "5f0…")


@dataclasses.dataclass
class Plan:
    kind: str
    load_balancer_id: str
    # Objects that become ACTIVE on success (and ERROR on failure).
    activate: list[Ref] = dataclasses.field(default_factory=list)
    # Objects removed on success (and ERROR on failure); a load balancer becomes DELETED.
    remove: list[Ref] = dataclasses.field(default_factory=list)
    # Locked parents: ACTIVE again whatever the outcome.
    unlock: list[Ref] = dataclasses.field(default_factory=list)
    # Extra values the flow needs (e.g. the amphora of an amphora failover).
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            kind=data["kind"],
            load_balancer_id=data["load_balancer_id"],
            activate=[tuple(r) for r in data.get("activate", [])],
            remove=[tuple(r) for r in data.get("remove", [])],
            unlock=[tuple(r) for r in data.get("unlock", [])],
            extra=dict(data.get("extra", {})),
        )
