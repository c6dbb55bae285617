"""The API's field tables against the database's columns: every value the request schemas
accept fits the column it is stored in, so no valid-looking request can reach the database
with something it refuses (which would be a 5xx)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from sqlalchemy import JSON, BigInteger, Integer, String

from ottava.api import fields as f
from ottava.api import schemas
from ottava.api.app import ROUTES
from ottava.db import models as m

STORED = [(r.resource, r.model) for r in ROUTES if getattr(r, "model", None) is not None]
STORED.append((f.QUOTA, m.Quota))
# Fields the service places itself rather than copying the request's value.
PLACED = {"l7policy.position": "renumbered by the service: null puts the policy last"}
INT_RANGE = {Integer: (-(2**31), 2**31 - 1), BigInteger: (-(2**63), 2**63 - 1)}


def column(model: Any, fld: f.Field) -> Any | None:
    attr = getattr(model, fld.attr or "", None)
    columns = getattr(getattr(attr, "property", None), "columns", None)
    return columns[0] if columns else None


def stored_fields() -> list[Any]:
    cases = []
    for resource, model in STORED:
        for fld in resource.fields:
            if (fld.post or fld.put) and column(model, fld) is not None:
                cases.append(pytest.param(resource, model, fld,
                                          id=f"{resource.key}.{fld.name}"))
    return cases


def accepts(fld: f.Field, value: Any) -> bool:
    try:
        pydantic.TypeAdapter(fld.type).validate_python(value)
    except pydantic.ValidationError:
        return False
    return True


@pytest.mark.parametrize(("resource", "model", "fld"), stored_fields())
def test_every_accepted_value_fits_its_column(resource: f.Resource, model: Any,
                                              fld: f.Field) -> None:
    col = column(model, fld)
    assert col is not None
    kind = type(col.type)
    if kind in INT_RANGE:
        low, high = INT_RANGE[kind]
        assert not accepts(fld, high + 1), f"{fld.name} accepts {high + 1}"
        assert not accepts(fld, low - 1), f"{fld.name} accepts {low - 1}"
    elif isinstance(col.type, String) and not isinstance(col.type, JSON):
        length = col.type.length
        if length is not None:
            assert not accepts(fld, "x" * (length + 1)), f"{fld.name} accepts {length + 1}"


@pytest.mark.parametrize(("resource", "model", "fld"), stored_fields())
def test_a_null_never_reaches_a_not_null_column(resource: f.Resource, model: Any,
                                                fld: f.Field) -> None:
    col = column(model, fld)
    if (not fld.put or col is None or col.nullable or isinstance(col.type, JSON)
            or f"{resource.key}.{fld.name}" in PLACED):
        return  # JSON stores a null as the document `null`, not as SQL NULL
    try:
        stored = schemas.for_update(resource, {fld.name: None})[fld.name]
    except Exception as error:  # refused: what we want
        assert "Mandatory field missing" in str(error)
        return
    assert stored is not None, f"PUT {resource.key}.{fld.name}=null would store NULL"


def test_the_checks_above_can_fail() -> None:
    assert accepts(f.Field("weight", int), 2**40)
    assert not accepts(f.MEMBER.field("weight"), 2**40)
