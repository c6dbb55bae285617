"""The spares pool: amphorae booted ahead of need, so that creating a load balancer (or
replacing a failed amphora) skips the boot.

Each pass counts the READY spares and the spare boots under way, and asks for the difference
to `spare_amphora_pool_size`. Two housekeeping processes may both ask at once and overshoot by
a pass's worth; spares taken by creates bring the pool back down.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import UNFINISHED, AmphoraStatus


def top_up(db: Database, size: int, create_spare: Callable[[], None]) -> int:
    """Ask for as many spares as the pool lacks; returns how many were asked for."""
    if size <= 0:
        return 0
    with db.reader() as s:
        ready = s.scalar(select(func.count()).select_from(m.Amphora).where(
            m.Amphora.status == AmphoraStatus.READY, m.Amphora.load_balancer_id.is_(None))) or 0
        booting = s.scalar(select(func.count()).select_from(m.Operation).where(
            m.Operation.kind == "amphora.spare",
            m.Operation.state.in_(UNFINISHED))) or 0
    missing = max(0, size - ready - booting)
    for _ in range(missing):
        create_spare()
    return missing
