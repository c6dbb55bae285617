"""What every service shares: its dependencies, the change transaction that records
operations, and the locking of a load balancer and the parents of a changed object.

Each change runs in one transaction and records one operation (`Change.submit`); the
operation is cast to the workers only once the transaction has committed. Nothing in a
change transaction calls a driver: lookups and allocations happen before it opens (see
`ottava.service.loadbalancers`), so no network answer holds the database's write lock.

Two changes that lock the same rows in opposite orders (an API create inserting a member,
whose foreign key share-locks its pool, while a worker finishing the load balancer holds it
and wants the pool) deadlock on MariaDB and PostgreSQL; the database rolls one of them back.
Every public change of a service is wrapped in `retry_deadlocks`: such a change is whole
and safe to run again, so the client gets the answer it would have had a moment later, not
a 503.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ottava.db import loads
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.db.transitions import compare_and_set
from ottava.domain.errors import Deadlock, Immutable, LostRace, PendingState
from ottava.domain.lifecycles import DELETABLE, MUTABLE, PROVISIONING, Provisioning
from ottava.domain.operations import Entity, Plan, Ref
from ottava.domain.ports.certificates import CertificateStore
from ottava.domain.ports.network import NetworkCatalog, NetworkPlumbing
from ottava.domain.ports.requests import Dispatch
from ottava.settings import ServiceSettings

F = TypeVar("F", bound=Callable[..., Any])

DEADLOCK_TRIES = 4
DEADLOCK_PAUSE_S = (0.005, 0.05)  # a random pause between tries, so the two part ways


def retry_deadlocks(change: F) -> F:
    """Run `change` again (up to DEADLOCK_TRIES in all) when the database rolled it back to
    break a deadlock, or refused a key a concurrent change took after this one checked
    (`LostRace`: run again, its checks see the other change and answer as they would have);
    the last one is raised (409)."""
    @functools.wraps(change)
    def retried(*args: Any, **kwargs: Any) -> Any:
        for _ in range(DEADLOCK_TRIES - 1):
            try:
                return change(*args, **kwargs)
            except (Deadlock, LostRace):
                time.sleep(random.uniform(*DEADLOCK_PAUSE_S))
        return change(*args, **kwargs)

    return retried  # type: ignore[return-value]


@dataclasses.dataclass(frozen=True)
class Deps:
    """What the services are built over; each service reads only the parts it needs."""

    db: Database
    dispatch: Dispatch
    settings: ServiceSettings
    catalog: NetworkCatalog  # subnets, networks and ports the API validates against
    plumbing: NetworkPlumbing  # VIP allocation
    # TLS references are checked through it before a listener or pool is written; None in
    # processes that create neither (the health manager, housekeeping).
    certificates: CertificateStore | None = None


class Operations:
    """A service whose changes record operations for the workers."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.db = deps.db
        self.settings = deps.settings

    @contextlib.contextmanager
    def change(self) -> Iterator[Change]:
        """A transaction whose operations are handed to the workers once it has committed."""
        change = Change()
        with self.db.transaction() as session:
            change.session = session
            yield change
        for op_id in change.operations:
            self.deps.dispatch(op_id)


@dataclasses.dataclass
class Change:
    """The session of one API change and the operations it has recorded."""

    session: Session = dataclasses.field(default=None)  # type: ignore[assignment]
    operations: list[str] = dataclasses.field(default_factory=list)

    def submit(self, plan: Plan, target_id: str) -> str:
        """Record `plan` in this transaction; it is dispatched after commit."""
        op = m.Operation(
            kind=str(plan.kind),
            target_id=target_id,
            load_balancer_id=plan.load_balancer_id or "",
            payload=plan.to_json(),
        )
        self.session.add(op)
        self.session.flush()
        self.operations.append(op.id)
        return op.id


def lock_load_balancer(
    session: Session, lb_id: str, new: Provisioning = Provisioning.PENDING_UPDATE,
    allowed: Collection[Provisioning] = MUTABLE,
) -> None:
    """Take the load balancer for one operation, or answer 409 as Octavia does."""
    if compare_and_set(session, PROVISIONING, m.LoadBalancer, lb_id, new, allowed):
        return
    lb = session.get(m.LoadBalancer, lb_id)
    state = lb.provisioning_status if lb else Provisioning.DELETED
    if allowed == DELETABLE or new == Provisioning.PENDING_DELETE:
        raise PendingState(state, lb_id)
    raise Immutable("Load Balancer", lb_id)


def mark_pending(session: Session, refs: Iterable[Ref],
                 new: Provisioning = Provisioning.PENDING_UPDATE) -> None:
    """Set locked children of a taken load balancer to `new`."""
    for entity, ident in refs:
        compare_and_set(session, PROVISIONING, m.BY_ENTITY[entity], ident, new)


def require_mutable(obj: Any, title: str) -> None:
    if obj.provisioning_status not in MUTABLE:
        raise Immutable(title, obj.id)


def unlock_refs(lb_id: str, parents: Iterable[Ref]) -> tuple[Ref, ...]:
    """What an operation on a child of `lb_id` hands back ACTIVE whatever its outcome."""
    return ((Entity.LOADBALANCER, lb_id), *parents)


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


def complete(obj: Any) -> Any:
    """A new row as the database will hold it, without reading it back: every column the
    caller left unset and the model gives no default is None, as its INSERT will make it
    (left unset, the ORM would read them back after the flush), and the row's collections
    are empty. For the answer to a create of a row with nothing below it."""
    state = sa_inspect(obj)
    for attr in state.mapper.column_attrs:
        column = attr.columns[0]
        if attr.key not in state.dict and column.default is None \
                and column.server_default is None:
            setattr(obj, attr.key, None)
    for rel in state.mapper.relationships:
        if rel.uselist and rel.key not in state.dict:
            setattr(obj, rel.key, [])
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
