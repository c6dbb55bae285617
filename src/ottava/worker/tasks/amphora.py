"""Tasks that push desired state to amphorae (and take it away) through the amphora driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from ottava.db import models as m
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.network import amphora_ref


class ApplySpec(WorkerTask):
    """Make every given amphora run the desired-state document, then record its hash as the
    one the load balancer's amphorae run (heartbeats reporting another one are drift)."""

    def execute(self, amphora_ids: list[str], spec: dict[str, Any]) -> None:
        amphorae = self._amphorae(amphora_ids)
        for amp in amphorae:
            self.deps.call(self.deps.amphora.apply, amphora_ref(amp), spec)
        if amphorae:
            with self.deps.db.transaction() as s:
                s.execute(update(m.LoadBalancer)
                          .where(m.LoadBalancer.id == amphorae[0].load_balancer_id)
                          .values(spec_hash=spec["hash"]))

    def _amphorae(self, amphora_ids: list[str]) -> list[m.Amphora]:
        with self.deps.db.reader() as s:
            return [a for a in (s.get(m.Amphora, i) for i in amphora_ids) if a is not None]


class RemoveSpec(ApplySpec):
    """Stop serving the load balancer on every given amphora."""

    def execute(self, amphora_ids: list[str]) -> None:  # type: ignore[override]
        for amp in self._amphorae(amphora_ids):
            self.deps.call(self.deps.amphora.remove, amphora_ref(amp))
