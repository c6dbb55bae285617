"""`json_list`: an aggregate gathering a column (or a tuple of columns) of every row of a group
into one JSON array, written in each back end's own words.

It lets one query carry a row together with its children's ids: a correlated subquery per
relation, each answering one JSON array (see `repository`). What each driver hands back
differs, and `decode` evens it out:

  PostgreSQL  json_agg(…)         a list (psycopg parses json), NULL over no rows
  SQLite      json_group_array(…) text, '[]' over no rows
  MariaDB     JSON_ARRAYAGG(…)    text, NULL over no rows

None of them is asked to order the array (SQLite 3.40, Debian 12's, cannot): callers sort.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from ottava.db.engine import json_loads


class json_list(FunctionElement[Any]):  # lower case, as SQL functions are in SQLAlchemy
    """json_list(column): ["a", "b"]; json_list(column, other): [["a", 1], ["b", 2]]."""

    inherit_cache = True
    type = NullType()  # decoded by `decode`: the drivers disagree on what they return


def _aggregate(function: str, pair: str) -> Any:
    def compile_for(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
        args = [compiler.process(arg, **kw) for arg in element.clauses]
        inner = args[0] if len(args) == 1 else f"{pair}({', '.join(args)})"
        return f"{function}({inner})"
    return compile_for


compiles(json_list, "postgresql")(_aggregate("json_agg", "json_build_array"))
compiles(json_list, "sqlite")(_aggregate("json_group_array", "json_array"))
compiles(json_list, "mysql")(_aggregate("JSON_ARRAYAGG", "JSON_ARRAY"))  # MariaDB ≥ 10.5


def decode(value: Any) -> list[Any]:
    """What a driver returned for a `json_list`, as a (new) list."""
    if value is None:
        return []
    if isinstance(value, str):
        decoded: list[Any] = json_loads(value)
        return decoded
    return list(value)
