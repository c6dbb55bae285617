"""One row by its id, as a plain Core row (its columns as attributes): what the worker's
tasks read of a load balancer or an amphora, without an ORM session."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from ottava.db import models as m
from ottava.db.engine import Executor


def load_balancer(db: Executor, lb_id: str) -> Row[Any] | None:
    return db.execute(select(m.LoadBalancer.__table__).where(m.LoadBalancer.id == lb_id)
                      ).one_or_none()


def amphora(db: Executor, amphora_id: str) -> Row[Any] | None:
    return db.execute(select(m.Amphora.__table__).where(m.Amphora.id == amphora_id)
                      ).one_or_none()
