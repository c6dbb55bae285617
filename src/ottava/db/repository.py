"""Queries shared by the service layer: get-or-404, filtered/sorted/paged lists, counts."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, and_, bindparam, exists, func, not_, select
from sqlalchemy.orm import Session

from ottava.db import json_list, loads
from ottava.db import models as m
from ottava.domain.errors import Invalid, NotFound
from ottava.domain.lifecycles import Provisioning
from ottava.domain.query import ListQuery, Page

T = TypeVar("T")


def get(
    session: Session, model: type[T], ident: str, title: str, *, render: bool = False,
    key: str = "id", project_id: str | None = None, parent: tuple[str, str] | None = None,
    lock: bool = False,
) -> T:
    """The row with `ident`, or NotFound. Deleted load balancers count as not found, and so
    do rows of another project (`project_id`) or under another parent (`parent`: the
    attribute naming the parent, and its id). `lock`: locked to the end of the transaction
    (a concurrent change of it waits, then finds it as this one left it)."""
    column = getattr(model, key)
    stmt = select(model).where(column == ident)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    if render:
        stmt = stmt.options(*loads.for_render(model))
    obj = session.scalar(stmt)
    if obj is None or getattr(obj, "provisioning_status", None) == Provisioning.DELETED:
        raise NotFound(title, ident)
    if project_id is not None and getattr(obj, "project_id", project_id) != project_id:
        raise NotFound(title, ident)
    if parent is not None and getattr(obj, parent[0]) != parent[1]:
        raise NotFound(title, ident)
    return obj


def get_record(
    session: Session | Connection, model: Any, ident: str, title: str,
    project_id: str | None = None, parent: tuple[str, str] | None = None,
) -> Record:
    """As `get`, as a read-only Record for rendering (cheaper than an ORM object)."""
    rows = _core(session).execute(_by_id(model), {"id": ident})
    record = next(iter(_records(model, rows)), None)
    if record is None or getattr(record, "provisioning_status", None) == Provisioning.DELETED:
        raise NotFound(title, ident)
    if project_id is not None and getattr(record, "project_id", project_id) != project_id:
        raise NotFound(title, ident)
    if parent is not None and getattr(record, parent[0]) != parent[1]:
        raise NotFound(title, ident)
    return record


def _tag_exists(model: Any, tags: list[str]) -> Any:
    return exists().where(m.Tag.resource_id == model.id, m.Tag.tag.in_(tags))


def _conditions(model: Any, query: ListQuery) -> list[Any]:
    where: list[Any] = []
    if hasattr(model, "provisioning_status"):
        where.append(model.provisioning_status != Provisioning.DELETED)
    if query.project_id is not None and hasattr(model, "project_id"):
        where.append(model.project_id == query.project_id)
    for attr, value in query.filters.items():
        column = getattr(model, attr)
        where.append(column.is_(None) if value is None else column == value)
    if query.tags_all:
        where.append(and_(*(_tag_exists(model, [tag]) for tag in query.tags_all)))
    if query.tags_any:
        where.append(_tag_exists(model, query.tags_any))
    if query.not_tags_all:
        where.append(not_(and_(*(_tag_exists(model, [tag]) for tag in query.not_tags_all))))
    if query.not_tags_any:
        where.append(not_(_tag_exists(model, query.not_tags_any)))
    return where


def list_page(
    session: Session | Connection, model: Any, query: ListQuery, where: list[Any] | None = None
) -> Page:
    """One page of `model` rows matching `query`, in its sort order, as Records for render.

    Without a marker the page is one ordered, limited query. With one, the ordered ids are
    read first and the marker found by its position in that order, which stays correct with
    NULLs in sort keys on every backend. Either way the page's relations (tags, children's
    ids) come in the same query as its rows (see `_columns`).
    """
    conditions = _conditions(model, query) + list(where or [])
    key_column = model.id if hasattr(model, "id") else model.name
    order = []
    for key in query.sort:
        column = getattr(model, key.attr)
        descending = key.descending != query.page_reverse
        order.append(column.desc() if descending else column.asc())
    if hasattr(model, "created_at") and "created_at" not in [k.attr for k in query.sort]:
        order.append(model.created_at.desc() if query.page_reverse else model.created_at.asc())
    if key_column.key not in [k.attr for k in query.sort]:
        order.append(key_column.desc() if query.page_reverse else key_column.asc())
    if query.marker is None:
        rows = select(*_columns(model)).where(*conditions).order_by(*order)
        if query.limit is not None:
            rows = rows.limit(query.limit)
        items = _records(model, _core(session).execute(rows))
        full = query.limit is not None and len(items) == query.limit
    else:
        ids = list(session.scalars(select(key_column).where(*conditions).order_by(*order)))
        if query.marker not in ids:
            if session.scalar(select(func.count()).where(key_column == query.marker)) == 0:
                raise Invalid(f"Invalid marker: {query.marker}")
            return Page(items=[], full=False)
        start = ids.index(query.marker) + 1
        chosen = ids[start:] if query.limit is None else ids[start : start + query.limit]
        full = query.limit is not None and len(chosen) == query.limit
        records = load_records(session, model, key_column, chosen)
        items = [records[i] for i in chosen if i in records]
    if query.page_reverse:
        items.reverse()
    return Page(items=items, full=full)


class Record:
    """A read-only row with its children's ids: what the API renders in a list.

    A plain object whose attributes are one dict: `_record` makes one from a row by handing
    it the dict, three times cheaper than keyword arguments (a list of a thousand makes a
    thousand and more)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Record({self.__dict__!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable while it is being built


def _record(values: dict[str, Any]) -> Record:
    record = Record.__new__(Record)
    record.__dict__ = values
    return record


def load_records(session: Session | Connection, model: Any, key_column: Any, ids: list[Any]
                 ) -> dict[Any, Record]:
    """Rows of `model` with these keys as Records, in one query."""
    if not ids:
        return {}
    rows = _core(session).execute(_by_keys(model, key_column), {"ids": list(ids)})
    return {getattr(r, key_column.key): r for r in _records(model, rows)}


def _core(session: Session | Connection) -> Any:
    """The session's connection (or the Core connection given): plain column selects run
    on it skip the ORM's result processing (a third of reading a thousand rows), in the
    session's transaction."""
    return session.connection() if isinstance(session, Session) else session


def _records(model: Any, rows: Any) -> list[Record]:
    """`rows` (a result of `_columns(model)`) as Records, in their order."""
    names = tuple(rows.keys())
    rows = rows.all()  # one fetch; iterating the result fetches row by row
    relations = _RELATIONS.get(model, ())
    records = []
    for row in rows:
        values = dict(zip(names, row, strict=True))
        for name, one, carried in relations:
            array = values[name]
            if array is None or array == "[]":  # most are empty: made, not parsed
                values[name] = None if one else []
            else:
                values[name] = carried(json_list.decode(array))
        records.append(_record(values))
    return records


class _Relation(NamedTuple):
    """A relation a Record carries, read as one JSON array (see `_columns`)."""

    name: str
    kind: str  # "tags": strings; "many": a list of children; "one": a child or None
    parent: Any  # the column of the child (or tag) naming its parent
    values: tuple[Any, ...]  # the tag; or the child's id, then the one column it carries
    extra: str | None = None  # that column's name

    def array(self, model: Any) -> Any:
        """The correlated subquery answering the array for each row of `model`."""
        return (select(json_list.json_list(*self.values)).where(self.parent == model.id)
                .scalar_subquery().label(self.name))

    def carried(self, items: list[Any]) -> Any:
        """The array as the Record carries it: tags sorted, children as Records by id."""
        if self.kind == "tags":
            items.sort()
            return items
        if self.extra is None:
            items.sort()
            children = [_record({"id": ident}) for ident in items]
        else:
            items.sort(key=lambda pair: pair[0])
            children = [_record({"id": ident, self.extra: value}) for ident, value in items]
        if self.kind == "one":
            return children[0] if children else None
        return children


def _relations(model: Any) -> list[_Relation]:
    tags = ([_Relation("tags", "tags", m.Tag.resource_id, (m.Tag.tag,))]
            if model in m.TAGGED else [])
    return tags + [
        _Relation(name, "many" if many else "one", getattr(child, parent),
                  (child.id, *(getattr(child, column) for column in extra)),
                  extra[0] if extra else None)
        for name, child, parent, extra, many in loads.LIST_CHILDREN.get(model, [])]


# Per model, what `_records` needs of each relation: (its name, whether it is one child,
# how its array is carried).
_RELATIONS: dict[Any, tuple[tuple[str, bool, Any], ...]] = {
    model: tuple((r.name, r.kind == "one", r.carried) for r in _relations(model))
    for model in {*m.TAGGED, *loads.LIST_CHILDREN}
}
assert all(len(extra) <= 1 for children in loads.LIST_CHILDREN.values()
           for *_rest, extra, _many in children), "a child carries at most one extra column"


@functools.cache
def _columns(model: Any) -> tuple[Any, ...]:
    """What a Record of `model` is read from: every column of its row, then one JSON array
    per relation (its tags, each kind of child's ids), each a correlated subquery on the
    parent's index. A row and its relations thus come in one query and one round trip,
    for one row or a page of a thousand. Built once: see `_by_keys`."""
    return (*model.__table__.columns, *(r.array(model) for r in _relations(model)))


@functools.cache
def _by_keys(model: Any, key_column: Any) -> Any:
    """The query of `load_records` for `model`, built once: building a statement and its
    cache key costs more than SQLAlchemy's cached compilation it then finds (a quarter of a
    GET of one load balancer). `ids` is an expanding parameter."""
    return select(*_columns(model)).where(key_column.in_(bindparam("ids", expanding=True)))


@functools.cache
def _by_id(model: Any) -> Any:
    """The query of `get_record`: one id, bound as it is (an expanding parameter is
    rewritten into the statement's text at every execution)."""
    return select(*_columns(model)).where(model.id == bindparam("id"))


def count(session: Session, model: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
