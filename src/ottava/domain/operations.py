"""The plan of an asynchronous operation: what it is, and what to finish, unlock or fail when
its flow ends.

The API writes a plan with the desired state (`Operation.payload`, as JSON); the worker parses
it once into this typed value, builds the operation's flow from it and hands it to every task,
so no task reads JSON. The flow applies the data-plane change and then carries the plan out.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Entity(enum.StrEnum):
    """The provisioned objects, by the names plans and operation kinds use."""

    LOADBALANCER = "loadbalancer"
    LISTENER = "listener"
    POOL = "pool"
    MEMBER = "member"
    HEALTHMONITOR = "healthmonitor"
    L7POLICY = "l7policy"
    L7RULE = "l7rule"


class OperationKind(enum.StrEnum):
    LOADBALANCER_CREATE = "loadbalancer.create"
    LOADBALANCER_UPDATE = "loadbalancer.update"
    LOADBALANCER_DELETE = "loadbalancer.delete"
    LOADBALANCER_FAILOVER = "loadbalancer.failover"
    LISTENER_CREATE = "listener.create"
    LISTENER_UPDATE = "listener.update"
    LISTENER_DELETE = "listener.delete"
    POOL_CREATE = "pool.create"
    POOL_UPDATE = "pool.update"
    POOL_DELETE = "pool.delete"
    MEMBER_CREATE = "member.create"
    MEMBER_UPDATE = "member.update"
    MEMBER_DELETE = "member.delete"
    MEMBER_BATCH = "member.batch"
    HEALTHMONITOR_CREATE = "healthmonitor.create"
    HEALTHMONITOR_UPDATE = "healthmonitor.update"
    HEALTHMONITOR_DELETE = "healthmonitor.delete"
    L7POLICY_CREATE = "l7policy.create"
    L7POLICY_UPDATE = "l7policy.update"
    L7POLICY_DELETE = "l7policy.delete"
    L7RULE_CREATE = "l7rule.create"
    L7RULE_UPDATE = "l7rule.update"
    L7RULE_DELETE = "l7rule.delete"
    AMPHORA_FAILOVER = "amphora.failover"
    AMPHORA_DELETE = "amphora.delete"
    AMPHORA_CONFIG = "amphora.config"
    AMPHORA_CERT_ROTATE = "amphora.cert_rotate"
    AMPHORA_SPARE = "amphora.spare"


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


def child_kind(entity: Entity, action: Action) -> OperationKind:
    """The kind of a create, update or delete of one object below a load balancer."""
    return OperationKind(f"{entity}.{action}")


FAILOVERS = frozenset({OperationKind.AMPHORA_FAILOVER, OperationKind.LOADBALANCER_FAILOVER})

Ref = tuple[Entity, str]  # (entity, id), e.g. (Entity.MEMBER, "5f0…")


@dataclasses.dataclass(frozen=True)
class Plan:
    kind: OperationKind
    load_balancer_id: str | None  # None: an amphora of no load balancer (a spare)
    # Objects that become ACTIVE on success (and ERROR on failure).
    activate: tuple[Ref, ...] = ()
    # Objects removed on success (and ERROR on failure); a load balancer becomes DELETED.
    remove: tuple[Ref, ...] = ()
    # Locked parents: ACTIVE again whatever the outcome.
    unlock: tuple[Ref, ...] = ()
    # The amphora an amphora operation (failover, push, rotation, delete) names.
    amphora_id: str | None = None
    # The load balancer's topology where the flow depends on it (a create, its failover):
    # a SINGLE one's flow configures no VRRP. None where the plan does not say (then it does).
    topology: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind), "load_balancer_id": self.load_balancer_id,
            "activate": [list(r) for r in self.activate],
            "remove": [list(r) for r in self.remove],
            "unlock": [list(r) for r in self.unlock],
            "amphora_id": self.amphora_id, "topology": self.topology,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        """The plan an operation record holds (records written before the amphora id had a
        field of its own keep it under "extra")."""
        def refs(name: str) -> tuple[Ref, ...]:
            return tuple((Entity(e), str(i)) for e, i in data.get(name) or [])

        amphora_id = data.get("amphora_id") or (data.get("extra") or {}).get("amphora_id")
        return cls(kind=OperationKind(data["kind"]),
                   load_balancer_id=data.get("load_balancer_id") or None,
                   activate=refs("activate"), remove=refs("remove"), unlock=refs("unlock"),
                   amphora_id=amphora_id, topology=data.get("topology"))
