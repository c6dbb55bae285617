"""The one compare-and-set of every lifecycle (`ottava.domain.lifecycles`).

`UPDATE … SET <state> = new WHERE id IN (…) AND <state> IN (expected)` is atomic on every
backend: on SQLite the write lock is held from BEGIN IMMEDIATE, on MariaDB and PostgreSQL the
row lock is taken by the UPDATE. Whoever changes a row first wins; the other sees zero rows
changed (and answers 409, or leaves the work to the winner). Before it writes anything the
transition is checked against the lifecycle's table: asking for one the table forbids is a
bug, raised as IllegalTransition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update

from ottava.db.engine import Executor
from ottava.domain.lifecycles import Lifecycle


def compare_and_set(
    session: Executor,
    lifecycle: Lifecycle,
    model: Any,
    ids: str | Sequence[str],
    new: str,
    expected: Iterable[str] | None = None,
    where: Iterable[Any] = (),
    **values: Any,
) -> int:
    """Move the rows `ids` of `model` to `new` where their state is one of `expected`, also
    setting `values` (columns or SQL expressions) and only where the extra conditions `where`
    hold; returns how many rows changed.

    With `expected` left out: every state from which the table allows `new`. An `expected`
    state from which the table forbids `new` raises IllegalTransition, whatever the rows hold.
    """
    if expected is None:
        sources = sorted(lifecycle.sources(new))
    else:
        sources = sorted(set(expected))
        lifecycle.check(sources, new)
    id_list = [ids] if isinstance(ids, str) else sorted(ids)
    if not id_list or not sources:
        return 0
    column = getattr(model, lifecycle.column)
    result = session.execute(
        update(model)
        .where(model.id.in_(id_list), column.in_(sources), *where)
        .values({lifecycle.column: new, **values})
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def current(session: Executor, lifecycle: Lifecycle, model: Any, ident: str) -> str | None:
    """The state row `ident` holds now, or None when there is no such row."""
    return session.scalar(select(getattr(model, lifecycle.column)).where(model.id == ident))
