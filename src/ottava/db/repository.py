"""Queries shared by the service layer: get-or-404, filtered/sorted/paged lists, counts."""

from __future__ import annotations

import dataclasses
import functools
import types
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, exists, func, not_, select
from sqlalchemy.orm import Session

from ottava.db import loads
from ottava.db import models as m
from ottava.domain.errors import Invalid, NotFound
from ottava.domain.lifecycles import Provisioning
from ottava.domain.query import ListQuery, Page

T = TypeVar("T")


def get(
    session: Session, model: type[T], ident: str, title: str, *, render: bool = False,
    key: str = "id", project_id: str | None = None, parent: tuple[str, str] | None = None,
) -> T:
    """The row with `ident`, or NotFound. Deleted load balancers count as not found, and so
    do rows of another project (`project_id`) or under another parent (`parent`: the
    attribute naming the parent, and its id)."""
    column = getattr(model, key)
    stmt = select(model).where(column == ident)
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
    session: Session, model: Any, ident: str, title: str, project_id: str | None = None,
    parent: tuple[str, str] | None = None,
) -> Record:
    """As `get`, as a read-only Record for rendering (cheaper than an ORM object)."""
    record = load_records(session, model, model.id, [ident]).get(ident)
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
    session: Session, model: Any, query: ListQuery, where: list[Any] | None = None
) -> Page:
    """One page of `model` rows matching `query`, in its sort order, eagerly loaded for render.

    The ordered ids are read first, then the page's rows: a marker is found by its position in
    that order, which stays correct with NULLs in sort keys on every backend, and the rows are
    loaded with a constant number of queries whatever the page size.
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
    ids = list(session.scalars(select(key_column).where(*conditions).order_by(*order)))
    start = 0
    if query.marker is not None:
        if query.marker not in ids:
            if session.scalar(select(func.count()).where(key_column == query.marker)) == 0:
                raise Invalid(f"Invalid marker: {query.marker}")
            return Page(items=[], full=False)
        start = ids.index(query.marker) + 1
    chosen = ids[start:] if query.limit is None else ids[start : start + query.limit]
    full = query.limit is not None and len(chosen) == query.limit
    if query.page_reverse:
        chosen.reverse()
    records = load_records(session, model, key_column, chosen)
    return Page(items=[records[i] for i in chosen if i in records], full=full)


class Record(types.SimpleNamespace):
    """A read-only row with its children's ids: what the API renders in a list."""


def load_records(session: Session, model: Any, key_column: Any, ids: list[Any]
                 ) -> dict[Any, Record]:
    """Rows of `model` with these keys as Records, in a fixed number of queries."""
    if not ids:
        return {}
    statements = _record_statements(model, key_column)
    ids_param = {"ids": list(ids)}
    result = session.execute(statements.rows, ids_param)
    names = list(result.keys())
    key_index = names.index(key_column.key)
    records = {row[key_index]: Record(**dict(zip(names, row, strict=True))) for row in result}
    if statements.tags is not None:
        for record in records.values():
            record.tags = []
        for resource_id, tag in session.execute(statements.tags, ids_param):
            records[resource_id].tags.append(tag)
    for (name, _child, _parent, extra, many), stmt in zip(
            loads.LIST_CHILDREN.get(model, []), statements.children, strict=True):
        for record in records.values():
            setattr(record, name, [] if many else None)
        for row in session.execute(stmt, ids_param):
            item = Record(id=row[0], **{c: row[2 + i] for i, c in enumerate(extra)})
            if many:
                getattr(records[row[1]], name).append(item)
            else:
                setattr(records[row[1]], name, item)
    return records


@dataclasses.dataclass(frozen=True)
class _RecordStatements:
    rows: Any
    tags: Any
    children: tuple[Any, ...]


@functools.cache
def _record_statements(model: Any, key_column: Any) -> _RecordStatements:
    """The queries of `load_records` for `model`, built once: building a statement and its
    cache key costs more than SQLAlchemy's cached compilation it then finds (a quarter of a
    GET of one load balancer). `ids` is an expanding parameter."""
    ids: Any = bindparam("ids", expanding=True)
    tags = (select(m.Tag.resource_id, m.Tag.tag).where(m.Tag.resource_id.in_(ids))
            .order_by(m.Tag.resource_id, m.Tag.tag)) if model in m.TAGGED else None
    children = []
    for _name, child, parent_column, extra, _many in loads.LIST_CHILDREN.get(model, []):
        parent = getattr(child, parent_column)
        children.append(select(child.id, parent, *(getattr(child, c) for c in extra))
                        .where(parent.in_(ids)).order_by(child.id))
    return _RecordStatements(select(*model.__table__.columns).where(key_column.in_(ids)),
                             tags, tuple(children))


def count(session: Session, model: Any, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where)) or 0
