"""The admin amphora API (list, show, stats, config push, failover, delete) and the
requests the health manager and housekeeping make of amphorae (`FailoverRequests`,
`MaintenanceRequests` in `ottava.domain.ports.requests`)."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain.errors import Conflict, NotFound
from ottava.domain.lifecycles import DELETABLE, AmphoraStatus, Provisioning
from ottava.domain.operations import Entity, OperationKind, Plan
from ottava.domain.query import ListQuery, Page
from ottava.service.base import Operations, lock_load_balancer, retry_deadlocks
from ottava.service.listeners import STAT_NAMES


class AmphoraService(Operations):
    def get(self, ident: str) -> m.Amphora:
        with self.db.reader() as s:
            amp = repo.get(s, m.Amphora, ident, "Amphora")
            if amp.status == AmphoraStatus.DELETED:
                raise NotFound("Amphora", ident)
            return amp

    def list(self, query: ListQuery) -> Page:
        project = query.filters.pop("project_id", None)
        where = [m.Amphora.status != AmphoraStatus.DELETED]
        if project is not None:
            where.append(m.Amphora.load_balancer_id.in_(
                select(m.LoadBalancer.id).where(m.LoadBalancer.project_id == project)))
        with self.db.reader() as s:
            return repo.list_page(s, m.Amphora, query, where)

    def stats(self, ident: str) -> builtins.list[dict[str, Any]]:
        amp = self.get(ident)
        with self.db.reader() as s:
            rows = s.scalars(select(m.ListenerStatistics).where(
                m.ListenerStatistics.amphora_id == ident)).all()
            return [{"id": ident, "loadbalancer_id": amp.load_balancer_id,
                     "listener_id": row.listener_id,
                     **{n: getattr(row, n) for n in STAT_NAMES}} for row in rows]

    def _operation(self, ident: str, kind: OperationKind,
                   lb_allowed: frozenset[Provisioning] | None) -> None:
        with self.change() as change:
            s = change.session
            amp = repo.get(s, m.Amphora, ident, "Amphora")
            if amp.status == AmphoraStatus.DELETED:
                raise NotFound("Amphora", ident)
            lb_id = amp.load_balancer_id
            if lb_allowed is not None:
                if lb_id is None:
                    raise Conflict(f"Amphora {ident} has no load balancer.")
                lock_load_balancer(s, lb_id, Provisioning.PENDING_UPDATE, lb_allowed)
            locked = lb_allowed is not None and lb_id is not None
            change.submit(Plan(kind=kind, load_balancer_id=lb_id,
                               activate=((Entity.LOADBALANCER, lb_id),) if locked and lb_id
                               else (), amphora_id=ident), ident)

    @retry_deadlocks
    def configure(self, ident: str) -> None:
        """The admin API's push (Octavia's: the load balancer's status is not touched)."""
        self._operation(ident, OperationKind.AMPHORA_CONFIG, None)

    def repair(self, ident: str) -> None:
        """The health manager's push to a drifted amphora. The load balancer is locked like
        for any change: a push racing an update could otherwise land last with the older
        document, and the amphora would then match a stale recorded hash."""
        self._operation(ident, OperationKind.AMPHORA_CONFIG, frozenset({Provisioning.ACTIVE}))

    @retry_deadlocks
    def failover(self, ident: str) -> None:
        self._operation(ident, OperationKind.AMPHORA_FAILOVER, DELETABLE)

    def create_spare(self) -> None:
        """Housekeeping's request: one more amphora booted for the spares pool."""
        with self.change() as change:
            change.submit(Plan(kind=OperationKind.AMPHORA_SPARE, load_balancer_id=None), "spare")

    def rotate_certificate(self, ident: str) -> None:
        """Housekeeping's request: a new certificate for the amphora's agent."""
        self._operation(ident, OperationKind.AMPHORA_CERT_ROTATE, None)

    @retry_deadlocks
    def delete(self, ident: str) -> None:
        amp = self.get(ident)
        if amp.status != AmphoraStatus.ERROR:
            raise Conflict(f"Amphora {ident} is not in ERROR status and cannot be deleted.")
        self._operation(ident, OperationKind.AMPHORA_DELETE, None)
