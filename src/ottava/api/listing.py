"""List requests: query parameters -> ListQuery, and the `<plural>_links` of a page."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

import falcon
from sqlalchemy.sql.sqltypes import JSON, BigInteger, Boolean, DateTime, Float, Integer

from ottava.api import fields as f
from ottava.domain.context import Caller
from ottava.domain.errors import Forbidden, Invalid
from ottava.domain.query import ListQuery, Page, SortKey
from ottava.settings import ApiSettings

TAG_PARAMS = {"tags": "tags_all", "tags-any": "tags_any", "not-tags": "not_tags_all",
              "not-tags-any": "not_tags_any"}
PAGING = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
TRUE = {"true", "1", "yes", "on", "t", "y"}
FALSE = {"false", "0", "no", "off", "f", "n"}


def _values(req: falcon.Request, name: str) -> list[str]:
    return req.get_param_as_list(name) or []


BAD_ARGUMENT = "One or more arguments are either duplicate or invalid"
_INT_RANGE = {BigInteger: 2**63 - 1, Integer: 2**31 - 1}


def column_type(model: Any, attr: str) -> Any | None:
    """The SQL type of `model.attr` when it is a scalar column one can filter and sort on;
    None for relationships, computed attributes and JSON documents."""
    column = getattr(model, attr, None)
    sql_type = getattr(getattr(column, "property", None), "columns", [None])[0]
    sql_type = getattr(sql_type, "type", None)
    if sql_type is None or isinstance(sql_type, JSON):
        return None
    return sql_type


def _convert(model: Any, attr: str, raw: str) -> Any:
    """The filter value `raw` as the column's type, or a 400: every value that reaches the
    database is one its column can hold."""
    kind = column_type(model, attr)
    if kind is None:
        raise Invalid(BAD_ARGUMENT)
    if isinstance(kind, Boolean):
        low = raw.lower()
        if low in TRUE:
            return True
        if low in FALSE:
            return False
        raise Invalid(f"Invalid boolean value for filter {attr}: {raw}")
    if isinstance(kind, Integer):
        try:
            number = int(raw)
        except ValueError:
            raise Invalid(f"Invalid integer value for filter {attr}: {raw}") from None
        limit = _INT_RANGE[BigInteger if isinstance(kind, BigInteger) else Integer]
        if not -limit - 1 <= number <= limit:
            raise Invalid(f"Invalid integer value for filter {attr}: {raw} is out of range")
        return number
    if isinstance(kind, Float):
        try:
            return float(raw)
        except ValueError:
            raise Invalid(f"Invalid number for filter {attr}: {raw}") from None
    if isinstance(kind, DateTime):
        try:
            moment = datetime.datetime.fromisoformat(raw)
        except ValueError:
            raise Invalid(f"Invalid date and time for filter {attr}: {raw}") from None
        # Stored naive, in UTC.
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
            except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
                raise Invalid(f"Invalid date and time for filter {attr}: {raw} is out of "
                              "range") from None
        return moment
    return raw


def parse(req: falcon.Request, resource: f.Resource, model: Any, settings: ApiSettings,
          caller: Caller, scoped: bool = True) -> tuple[ListQuery, list[str] | None]:
    """The ListQuery and the selected fields of a list request."""
    query = ListQuery()
    filters = resource.filters()
    for name in req.params:
        if name in PAGING or name in TAG_PARAMS:
            continue
        if name not in filters:
            raise Invalid(BAD_ARGUMENT)
        values = _values(req, name)
        attr = filters[name]
        if attr is None or len(values) != 1:
            raise Invalid(BAD_ARGUMENT)
        query.filters[attr] = _convert(model, attr, values[0])
    tagged = any(fld.name == "tags" for fld in resource.fields)
    for param, target in TAG_PARAMS.items():
        if not tagged:  # as Octavia: a collection without tags ignores tag filters
            continue
        tags = [t for v in _values(req, param) for t in v.split(",") if t]
        setattr(query, target, tags)
    if scoped:
        requested = query.filters.get("project_id")
        scope = caller.project_scope()
        if scope is not None:
            if requested is not None and requested != scope:
                raise Forbidden("Policy does not allow this request to be performed.")
            query.project_id = scope
    query.sort = _sort(req, resource, model)
    _page(req, query, settings)
    fields = _values(req, "fields") or None
    if fields:
        readable = {fld.name for fld in resource.readable()}
        fields = [name for name in fields if name in readable] or None
    return query, fields


def _sort(req: falcon.Request, resource: f.Resource, model: Any) -> list[SortKey]:
    pairs: list[tuple[str, str]] = []
    sort, sort_key, sort_dir = (req.get_param(n) for n in ("sort", "sort_key", "sort_dir"))
    if sort:
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key, (direction or "asc").lower()))
    elif sort_key:
        keys = sort_key.split(",")
        dirs = [d.strip().lower() for d in sort_dir.split(",")] if sort_dir else []
        dirs += ["asc"] * (len(keys) - len(dirs))
        pairs = list(zip(keys, dirs, strict=False))
    out = []
    for key, direction in pairs:
        try:
            fld = resource.field(key)
        except KeyError:
            raise Invalid(f"Invalid sort key {key}.") from None
        if (fld.attr is None or not fld.read or not fld.filterable
                or column_type(model, fld.attr) is None):
            raise Invalid(f"Invalid sort key {key}.")
        if direction not in ("asc", "desc"):
            raise Invalid(f"Invalid sort direction {direction}.")
        out.append(SortKey(fld.attr, direction == "desc"))
    return out


def _page(req: falcon.Request, query: ListQuery, settings: ApiSettings) -> None:
    cap = settings.pagination_max_limit
    raw = req.get_param("limit")
    limit = cap
    if raw is not None:
        if raw.lower() == "infinite":
            limit = None
        else:
            try:
                limit = int(raw)
            except ValueError:
                raise Invalid(f"Invalid limit value: {raw}") from None
            if limit <= 0:
                limit = None  # Octavia: zero or less asks for everything
        if cap is not None and limit is not None and limit > cap:
            limit = cap
    query.limit = limit
    query.marker = req.get_param("marker")
    reverse = req.get_param("page_reverse")
    query.page_reverse = (reverse or "").lower() == "true"


def links(req: falcon.Request, settings: ApiSettings, query: ListQuery, page: Page,
          key: str = "id") -> list[dict[str, str]]:
    """Octavia's next/previous links for a page."""
    base = (settings.base_uri or req.prefix).rstrip("/") + req.path
    keep: dict[str, str] = {}
    for name in ("sort", "sort_key", "sort_dir"):
        value = req.get_param(name)
        if value:
            keep[name] = value
    out = []
    items = page.items
    # Octavia links to a next page when this one is full, and also whenever no limit applied.
    if items and (page.full or query.limit is None):
        params = dict(keep, marker=getattr(items[-1], key))
        if query.limit is not None:
            params["limit"] = str(query.limit)
        out.append({"href": f"{base}?{urlencode(params)}", "rel": "next"})
    if query.marker and items:
        params = dict(keep, marker=getattr(items[0], key), page_reverse="True")
        if query.limit is not None:
            params["limit"] = str(query.limit)
        out.append({"href": f"{base}?{urlencode(params)}", "rel": "previous"})
    return out
