"""The one compare-and-set for provisioning statuses.

`UPDATE … SET provisioning_status = new WHERE id = … AND provisioning_status IN (expected)` is
atomic on every backend: on SQLite the write lock is held from BEGIN IMMEDIATE, on MariaDB and
PostgreSQL the row lock is taken by the UPDATE. Whoever changes the row first wins; the other
sees zero rows updated and answers 409.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ottava.db import models
from ottava.domain.states import is_allowed

StatusModel = (
    type[models.LoadBalancer]
    | type[models.Listener]
    | type[models.Pool]
    | type[models.Member]
    | type[models.HealthMonitor]
    | type[models.L7Policy]
    | type[models.L7Rule]
)


class TransitionNotAllowed(ValueError):
    pass


def compare_and_set(
    session: Session,
    model: StatusModel,
    ident: str,
    new: str,
    expected: Iterable[str] | None = None,
) -> bool:
    """Move `model` row `ident` to `new` if its status is one of `expected`.

    With `expected` left out, any status from which the transition table allows `new`. Returns
    whether the row changed; raises TransitionNotAllowed for a transition the table forbids.
    """
    from ottava.domain.states import Provisioning

    candidates = list(expected) if expected is not None else [s.value for s in Provisioning]
    allowed = [old for old in candidates if is_allowed(old, new)]
    if expected is not None and len(allowed) != len(candidates):
        bad = sorted(set(candidates) - set(allowed))
        raise TransitionNotAllowed(f"{model.__name__}: {bad} -> {new}")
    if not allowed:
        return False
    result = session.execute(
        update(model)
        .where(model.id == ident, model.provisioning_status.in_(allowed))
        .values(provisioning_status=new)
        .execution_options(synchronize_session="fetch")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def current(session: Session, model: StatusModel, ident: str) -> str | None:
    return session.scalar(select(model.provisioning_status).where(model.id == ident))
