"""Tasks that push desired state to amphorae (and take it away) through the amphora driver."""

from __future__ import annotations

from typing import Any

from ottava.db import models as m
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.network import amphora_ref


class ApplySpec(WorkerTask):
    """Make every given amphora run the desired-state document."""

    def execute(self, amphora_ids: list[str], spec: dict[str, Any]) -> None:
        for amp in self._amphorae(amphora_ids):
            self.deps.call(self.deps.amphora.apply, amphora_ref(amp), spec)

    def _amphorae(self, amphora_ids: list[str]) -> list[m.Amphora]:
        with self.deps.db.reader() as s:
            return [a for a in (s.get(m.Amphora, i) for i in amphora_ids) if a is not None]


class RemoveSpec(ApplySpec):
    """Stop serving the load balancer on every given amphora."""

    def execute(self, amphora_ids: list[str]) -> None:  # type: ignore[override]
        for amp in self._amphorae(amphora_ids):
            self.deps.call(self.deps.amphora.remove, amphora_ref(amp))
