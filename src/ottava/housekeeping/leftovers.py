"""Leftovers: what a cloud driver made for an amphora or load balancer that is gone.

A worker that dies between making a server or port and recording it, or a delete that failed
half-way, leaves cloud resources no row stands behind. `sweep` lists what each inventory
(`ottava.domain.ports.inventory`) made and removes every one whose amphora or load balancer
has no live row (none, or DELETED) once it is older than `grace` seconds. Removing twice is
harmless, so several housekeeping processes may sweep at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from oslo_log import log as logging
from sqlalchemy import select

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import AmphoraStatus, Provisioning
from ottava.domain.ports.inventory import Inventory, Made

LOG = logging.getLogger(__name__)


def sweep(db: Database, inventories: Iterable[Inventory], grace: float) -> list[Made]:
    """Remove what nothing stands behind; what was removed."""
    removed = []
    for inventory in inventories:
        candidates = [made for made in inventory.made() if made.age >= grace]
        if not candidates:
            continue
        alive_amphorae, alive_lbs = _alive(db, candidates)
        for made in candidates:
            # Judged by the amphora it serves if it names one, else by the load balancer.
            if made.amphora_id is not None:
                if made.amphora_id in alive_amphorae:
                    continue
            elif made.load_balancer_id is None or made.load_balancer_id in alive_lbs:
                continue  # alive, or names nothing: not ours to judge
            LOG.warning("Removing %s %s (amphora %s, load balancer %s): nothing stands "
                        "behind it", made.kind, made.ident, made.amphora_id,
                        made.load_balancer_id)
            inventory.unmake(made)
            removed.append(made)
    return removed


def _alive(db: Database, candidates: list[Made]) -> tuple[set[str], set[str]]:
    amphora_ids = {m_.amphora_id for m_ in candidates if m_.amphora_id}
    lb_ids = {m_.load_balancer_id for m_ in candidates if m_.load_balancer_id}
    with db.reader() as s:
        amphorae = set(s.scalars(select(m.Amphora.id).where(
            m.Amphora.id.in_(amphora_ids), m.Amphora.status != AmphoraStatus.DELETED))) \
            if amphora_ids else set()
        lbs = set(s.scalars(select(m.LoadBalancer.id).where(
            m.LoadBalancer.id.in_(lb_ids),
            m.LoadBalancer.provisioning_status != Provisioning.DELETED))) if lb_ids else set()
    return amphorae, lbs
