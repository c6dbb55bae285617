"""A parsed list request: filters, tag filters, sort order and page; shared by API and storage."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class SortKey:
    attr: str
    descending: bool = False


@dataclasses.dataclass
class ListQuery:
    """What a client asked a list endpoint for, in model terms (attributes, not API names)."""

    filters: dict[str, Any] = dataclasses.field(default_factory=dict)
    tags_all: list[str] = dataclasses.field(default_factory=list)
    tags_any: list[str] = dataclasses.field(default_factory=list)
    not_tags_all: list[str] = dataclasses.field(default_factory=list)
    not_tags_any: list[str] = dataclasses.field(default_factory=list)
    sort: list[SortKey] = dataclasses.field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False
    # Restricts the list to one project unless None (the caller may read every project).
    project_id: str | None = None


@dataclasses.dataclass
class Page:
    items: list[Any]
    # Whether the page was cut at `limit` (so a "next" link is due).
    full: bool
