"""The health manager's queries: who reported, what their load balancers hold, batched writes.

Every write here takes many rows at once (one statement per table per batch) and is an upsert
in the database's own dialect, so a flush of thousands of heartbeats is a handful of
statements. Rows are sorted by key before writing, so two health managers writing overlapping
batches take row locks in the same order (no deadlock on PostgreSQL or MariaDB).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, delete, or_, select, update
from sqlalchemy.orm import Session

from ottava.db import models as m
from ottava.db.engine import Executor
from ottava.db.transitions import compare_and_set
from ottava.domain.health import Changes, LoadBalancerSnapshot, PoolSnapshot
from ottava.domain.lifecycles import AMPHORA, IN_SERVICE, OPERATING, AmphoraStatus, Provisioning

CHUNK = 500  # ids per IN (...) list


def now() -> datetime.datetime:
    """UTC, naive, to the microsecond (liveness is judged in fractions of a second)."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclasses.dataclass(frozen=True)
class AmphoraPlace:
    """An amphora as the health manager needs it: its load balancer's state, in one row."""

    amphora_id: str
    status: str
    load_balancer_id: str | None
    lb_provisioning_status: str | None
    spec_hash: str | None


def places(session: Session, amphora_ids: Sequence[str]) -> dict[str, AmphoraPlace]:
    out: dict[str, AmphoraPlace] = {}
    for part in chunks(amphora_ids):
        rows = session.execute(
            select(m.Amphora.id, m.Amphora.status, m.Amphora.load_balancer_id,
                   m.LoadBalancer.provisioning_status, m.LoadBalancer.spec_hash)
            .outerjoin(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
            .where(m.Amphora.id.in_(part), m.Amphora.status != AmphoraStatus.DELETED))
        for row in rows:
            out[row[0]] = AmphoraPlace(*row)
    return out


def listener_ids(session: Session, lb_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(lb_ids):
        found.update(session.scalars(select(m.Listener.id).where(
            m.Listener.load_balancer_id.in_(part))))
    return found


def snapshots(session: Session, lb_ids: Sequence[str]) -> dict[str, LoadBalancerSnapshot]:
    """The objects and operating statuses of each load balancer, in four queries per chunk."""
    out: dict[str, LoadBalancerSnapshot] = {}
    for part in chunks(lb_ids):
        for lb_id, enabled, prov, status, spec_hash in session.execute(
                select(m.LoadBalancer.id, m.LoadBalancer.admin_state_up,
                       m.LoadBalancer.provisioning_status, m.LoadBalancer.operating_status,
                       m.LoadBalancer.spec_hash).where(m.LoadBalancer.id.in_(part))):
            out[lb_id] = LoadBalancerSnapshot(lb_id, enabled, prov, status, spec_hash, {}, {})
        for ident, lb_id, status in session.execute(
                select(m.Listener.id, m.Listener.load_balancer_id, m.Listener.operating_status)
                .where(m.Listener.load_balancer_id.in_(part))):
            out[lb_id].listeners[ident] = status
        pool_lb: dict[str, str] = {}
        for ident, lb_id, status in session.execute(
                select(m.Pool.id, m.Pool.load_balancer_id, m.Pool.operating_status)
                .where(m.Pool.load_balancer_id.in_(part))):
            out[lb_id].pools[ident] = PoolSnapshot(status, {})
            pool_lb[ident] = lb_id
        if pool_lb:
            for ident, pool_id, status in session.execute(
                    select(m.Member.id, m.Member.pool_id, m.Member.operating_status)
                    .where(m.Member.pool_id.in_(list(pool_lb)))):
                out[pool_lb[pool_id]].pools[pool_id].members[ident] = status
    return out


def apply_statuses(session: Session, changes: Changes) -> None:
    """Write operating statuses, one row at a time in (entity, id) order: two health
    managers writing overlapping changes lock rows in the same order (no deadlock).
    Statuses change rarely, so there are few rows."""
    for (entity, ident), status in sorted(changes.items()):
        compare_and_set(session, OPERATING[entity], m.BY_ENTITY[entity], ident, status)


def upsert(session: Executor, table: Table, rows: list[dict[str, Any]], keys: Sequence[str],
           columns: Iterable[str]) -> None:
    """INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE `columns`, for many rows in one statement."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: tuple(r[k] for k in keys))
    dialect = (session.get_bind() if isinstance(session, Session) else session).dialect.name
    if dialect in ("sqlite", "postgresql"):
        from sqlalchemy.dialects import postgresql, sqlite

        stmt: Any = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                          set_={c: stmt.excluded[c] for c in columns})
    else:
        from sqlalchemy.dialects.mysql import insert as mysql_insert
        stmt = mysql_insert(table)
        stmt = stmt.on_duplicate_key_update({c: stmt.inserted[c] for c in columns})
    session.execute(stmt, rows)


def record_heard(session: Executor, amphora_ids: Iterable[str], now: datetime.datetime) -> None:
    upsert(session, m.AmphoraHealth.__table__,  # type: ignore[arg-type]
           [{"amphora_id": i, "last_update": now, "busy": False} for i in amphora_ids],
           ["amphora_id"], ["last_update"])


def record_stats(session: Session, rows: list[dict[str, Any]]) -> None:
    upsert(session, m.ListenerStatistics.__table__,  # type: ignore[arg-type]
           rows, ["listener_id", "amphora_id"], m.STAT_COLUMNS)


def stale(session: Session, before: datetime.datetime,
          retry_before: datetime.datetime | None = None
          ) -> tuple[list[str], int, list[str]]:
    """Amphorae in service (ALLOCATED, or FAILOVER_STOPPED by the breaker) not heard from
    since `before` and not being failed over — or marked as being failed over but silent
    since `retry_before` too, while their load balancer is not locked (the health manager
    that marked them died before submitting); how many amphorae are in service with a
    health record at all; and the FAILOVER_STOPPED ones that have been heard from since."""
    in_service = (select(m.AmphoraHealth.amphora_id, m.AmphoraHealth.last_update,
                         m.AmphoraHealth.busy, m.Amphora.status)
                  .join(m.Amphora, m.Amphora.id == m.AmphoraHealth.amphora_id)
                  .join(m.LoadBalancer, m.LoadBalancer.id == m.Amphora.load_balancer_id)
                  .where(m.Amphora.status.in_(sorted(IN_SERVICE)),
                         m.LoadBalancer.provisioning_status.in_(
                             [Provisioning.ACTIVE, Provisioning.ERROR])))
    rows = session.execute(in_service).all()
    late = [ident for ident, last, busy, _ in rows
            if last < before and (not busy or (retry_before is not None and last < retry_before))]
    back = [ident for ident, last, _, status in rows
            if last >= before and status == AmphoraStatus.FAILOVER_STOPPED]
    return sorted(late), len(rows), sorted(back)


def set_status(session: Session, amphora_ids: Sequence[str], status: str,
               only_from: str) -> None:
    """Amphorae to `status`, those (still) in `only_from` only."""
    for part in chunks(sorted(amphora_ids)):
        compare_and_set(session, AMPHORA, m.Amphora, part, status, [only_from])


def mark_busy(session: Session, amphora_id: str, busy: bool = True,
              silent_since: datetime.datetime | None = None,
              retry_before: datetime.datetime | None = None) -> bool:
    """Compare-and-set of the busy flag; True when this caller changed it. With
    `silent_since`, only if the amphora has still not been heard from since then (a heartbeat
    written after the staleness check wins); a flag already set is taken over only when the
    amphora has been silent since `retry_before` as well."""
    where: list[Any] = [m.AmphoraHealth.amphora_id == amphora_id]
    if silent_since is not None:
        where.append(m.AmphoraHealth.last_update < silent_since)
    taken_over = (m.AmphoraHealth.last_update < retry_before) if retry_before is not None \
        else None
    free = m.AmphoraHealth.busy != busy
    where.append(free if taken_over is None else or_(free, taken_over))
    changed = session.execute(
        update(m.AmphoraHealth).where(*where).values(busy=busy)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def forget(session: Executor, amphora_ids: Sequence[str]) -> None:
    """Health records of amphorae that are gone."""
    for part in chunks(list(amphora_ids)):
        session.execute(delete(m.AmphoraHealth).where(m.AmphoraHealth.amphora_id.in_(part)))
