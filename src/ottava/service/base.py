"""What every resource service shares: dependencies, locking of parents, operations."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from oslo_config import cfg
from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import loads
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.status import compare_and_set
from ottava.domain.errors import Immutable, PendingState
from ottava.domain.operations import Plan, Ref
from ottava.domain.ports import NetworkDriver
from ottava.domain.states import DELETABLE, MUTABLE, Provisioning

Dispatch = Callable[[str], None]



@dataclasses.dataclass
class Deps:
    db: Database
    conf: cfg.ConfigOpts
    network: NetworkDriver
    dispatch: Dispatch


class Service:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db
        self.conf = deps.conf

    @contextlib.contextmanager
    def change(self) -> Iterator[Change]:
        """A transaction whose operations are handed to the workers once it has committed."""
        change = Change()
        with self.db.transaction() as session:
            change.session = session
            yield change
        for op_id in change.operations:
            self.deps.dispatch(op_id)

    def child_change(
        self, change: Change, kind: str, lb_id: str, target: Ref, parents: list[Ref],
        also_created: list[Ref] | None = None,
    ) -> None:
        """Lock the load balancer and `parents` for a change of `target`, and plan its end.

        `kind` ends in create, update or delete. A created target was inserted PENDING_CREATE;
        an updated or deleted one moves to PENDING_UPDATE or PENDING_DELETE here.
        `also_created`: objects created with the target (a policy's inline rules).
        """
        lock_load_balancer(change.session, lb_id)
        mark_pending(change.session, parents)
        deleting = kind.endswith(".delete")
        if kind.endswith(".update"):
            mark_pending(change.session, [target])
        elif deleting:
            mark_pending(change.session, [target], Provisioning.PENDING_DELETE)
        plan = Plan(
            kind=kind,
            load_balancer_id=lb_id,
            activate=[] if deleting else [target, *(also_created or [])],
            remove=[target] if deleting else [],
            unlock=[("loadbalancer", lb_id), *parents],
        )
        change.submit(plan, target[1])


@dataclasses.dataclass
class Change:
    """The session of one API change and the operations it has recorded."""

    session: Session = dataclasses.field(default=None)  # type: ignore[assignment]
    operations: list[str] = dataclasses.field(default_factory=list)

    def submit(self, plan: Plan, target_id: str) -> str:
        """Record `plan` in this transaction; it is dispatched after commit."""
        op = m.Operation(
            kind=plan.kind,
            target_id=target_id,
            load_balancer_id=plan.load_balancer_id,
            payload=plan.to_json(),
        )
        self.session.add(op)
        self.session.flush()
        self.operations.append(op.id)
        return op.id


def lock_load_balancer(
    session: Session, lb_id: str, new: str = Provisioning.PENDING_UPDATE,
    allowed: Iterable[str] = MUTABLE,
) -> None:
    """Take the load balancer for one operation, or answer 409 as Octavia does."""
    if compare_and_set(session, m.LoadBalancer, lb_id, new, allowed):
        return
    lb = session.get(m.LoadBalancer, lb_id)
    state = lb.provisioning_status if lb else "DELETED"
    if allowed == DELETABLE or new == Provisioning.PENDING_DELETE:
        raise PendingState(state, lb_id)
    raise Immutable("Load Balancer", lb_id)


def mark_pending(session: Session, refs: Iterable[Ref],
                 new: str = Provisioning.PENDING_UPDATE) -> None:
    """Set locked children of a taken load balancer to `new`."""
    for entity, ident in refs:
        compare_and_set(session, m.BY_ENTITY[entity], ident, new)


def require_mutable(obj: Any, title: str) -> None:
    if obj.provisioning_status not in MUTABLE:
        raise Immutable(title, obj.id)


PARENT_KEYS = ("loadbalancer_id", "listener_id", "pool_id", "tenant_id", "project_id")


def new_child(model: Any, values: dict[str, Any], parent: Any, operating: str,
              **fixed: Any) -> Any:
    """A new PENDING_CREATE row of `model` under `parent`, from checked API create values.

    Parent ids and owner aliases in the values are dropped: the owner is the parent's, the
    parent is given by the caller in `fixed`. Tags go through their proxy."""
    values = {k: v for k, v in values.items() if k not in PARENT_KEYS}
    tags = values.pop("tags", None) or []
    obj = model(**values, **fixed, project_id=parent.project_id,
                provisioning_status=Provisioning.PENDING_CREATE, operating_status=operating)
    obj.tags = tags
    return obj


def reload(session: Session, model: Any, ident: str) -> Any:
    """`model` row `ident` as it now stands in this transaction, loaded for rendering."""
    session.flush()
    return session.scalars(
        select(model)
        .where(model.id == ident)
        .options(*loads.for_render(model))
        .execution_options(populate_existing=True)
    ).one()


def apply(obj: Any, values: dict[str, Any]) -> None:
    """Copy API values onto a model object (tags through their proxy; tenant_id is an alias)."""
    for name, value in values.items():
        if name != "tenant_id":
            setattr(obj, name, value)
