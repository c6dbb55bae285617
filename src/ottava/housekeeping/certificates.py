"""Certificate rotation: amphorae whose agent certificate expires within the buffer get a new
one, pushed to the running agent (no restart, no downtime).

Each amphora is flagged `cert_busy` (a compare-and-set) before its rotation is submitted, so
two housekeeping processes never rotate the same one; the rotation clears the flag when done.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from oslo_log import log as logging
from sqlalchemy import select, update

from ottava.db import health
from ottava.db import models as m
from ottava.db.engine import Database
from ottava.domain.lifecycles import UNFINISHED, AmphoraStatus

LOG = logging.getLogger(__name__)

# Spares too: a spare kept past its certificate's life would be unreachable when taken.
ROTATED = (AmphoraStatus.ALLOCATED, AmphoraStatus.READY, AmphoraStatus.FAILOVER_STOPPED)


def rotate_expiring(db: Database, submit: Callable[[str], None], buffer: float) -> list[str]:
    """Submit a rotation for every amphora whose certificate expires within `buffer` s."""
    cutoff = health.now() + datetime.timedelta(seconds=buffer)
    with db.transaction() as s:
        # A flag whose rotation is not queued or running was left by a housekeeper that
        # died between setting it and submitting: clear it, or it would stay set for good.
        s.execute(update(m.Amphora).where(
            m.Amphora.cert_busy.is_(True),
            m.Amphora.id.not_in(select(m.Operation.target_id).where(
                m.Operation.kind == "amphora.cert_rotate",
                m.Operation.state.in_(UNFINISHED)))).values(cert_busy=False))
    with db.reader() as s:
        due = list(s.scalars(select(m.Amphora.id).where(
            m.Amphora.status.in_(ROTATED), m.Amphora.cert_busy.is_(False),
            m.Amphora.cert_expiration.is_not(None), m.Amphora.cert_expiration < cutoff)))
    submitted = []
    for ident in due:
        with db.transaction() as s:
            taken = s.execute(update(m.Amphora).where(
                m.Amphora.id == ident, m.Amphora.cert_busy.is_(False)).values(cert_busy=True)
            ).rowcount  # type: ignore[attr-defined]
        if not taken:
            continue
        try:
            submit(ident)
        except Exception as exc:
            LOG.warning("Certificate rotation of amphora %s not started: %s", ident, exc)
            with db.transaction() as s:
                s.execute(update(m.Amphora).where(m.Amphora.id == ident)
                          .values(cert_busy=False))
            continue
        LOG.info("Rotating the certificate of amphora %s", ident)
        submitted.append(ident)
    return submitted
