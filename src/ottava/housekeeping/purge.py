"""The purge: rows of deleted things, kept a while for the record, removed when they expire.

Load balancers in DELETED (with their amphorae's rows), amphorae in DELETED, and finished
operations, each older than its configured age (`[house_keeping] load_balancer_expiry_age`,
`amphora_expiry_age`; operations go with the load balancer age). Listeners, pools and the
rest are already gone when their load balancer is DELETED.
"""

from __future__ import annotations

import dataclasses
import datetime

from sqlalchemy import delete, func, select

from ottava.db import health
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import FINISHED, AmphoraStatus, Provisioning


@dataclasses.dataclass
class Purged:
    load_balancers: int = 0
    amphorae: int = 0
    operations: int = 0


def purge(db: Database, load_balancer_age: float, amphora_age: float) -> Purged:
    now = health.now()
    lb_cutoff = now - datetime.timedelta(seconds=load_balancer_age)
    amp_cutoff = now - datetime.timedelta(seconds=amphora_age)
    changed_at = func.coalesce(m.LoadBalancer.updated_at, m.LoadBalancer.created_at)
    out = Purged()
    with db.transaction() as s:
        lbs = list(s.scalars(select(m.LoadBalancer.id).where(
            m.LoadBalancer.provisioning_status == Provisioning.DELETED,
            changed_at < lb_cutoff)))
        for part in health.chunks(lbs):
            amps = list(s.scalars(select(m.Amphora.id).where(
                m.Amphora.load_balancer_id.in_(part))))
            health.forget(s, amps)
            s.execute(delete(m.Amphora).where(m.Amphora.load_balancer_id.in_(part)))
            s.execute(delete(m.Tag).where(m.Tag.resource_id.in_(part)))
            s.execute(delete(m.LoadBalancer).where(m.LoadBalancer.id.in_(part)))
        out.load_balancers = len(lbs)
        amp_changed = func.coalesce(m.Amphora.updated_at, m.Amphora.created_at)
        amps = list(s.scalars(select(m.Amphora.id).where(
            m.Amphora.status == AmphoraStatus.DELETED, amp_changed < amp_cutoff)))
        health.forget(s, amps)
        for part in health.chunks(amps):
            # Their statistics rows stay: they hold what the listener served through them.
            s.execute(delete(m.Amphora).where(m.Amphora.id.in_(part)))
        out.amphorae = len(amps)
        op_changed = func.coalesce(m.Operation.updated_at, m.Operation.created_at)
        out.operations = s.execute(delete(m.Operation).where(
            m.Operation.state.in_(FINISHED), op_changed < lb_cutoff)
        ).rowcount  # type: ignore[attr-defined]
    return out
