"""Tasks that read and write the database: plans carried out, amphora rows, the LB tree.

A plan is carried out by the last task of its flow (`FinishPlan`), in the commit that records
the operation DONE; a flow that fails is marked failed by the runner once it has reverted
(`fail_plan`, in the commit that records it FAILED; see `ottava.worker.runner`).
"""

from __future__ import annotations

from typing import Any

from oslo_log import log as logging
from sqlalchemy import Row, delete, insert, select, update

from ottava.db import health
from ottava.db import models as m
from ottava.db.engine import Executor
from ottava.db.transitions import compare_and_set
from ottava.domain.lifecycles import (
    AMPHORA,
    OPERATING,
    PENDING,
    PROVISIONING,
    AmphoraStatus,
    Operating,
    Provisioning,
)
from ottava.domain.operations import FAILOVERS, Entity, OperationKind, Plan
from ottava.domain.topology import VRRP_PRIORITY, AmphoraRole, roles
from ottava.worker import keys
from ottava.worker.tasks.base import WorkerTask

LOG = logging.getLogger(__name__)


# Objects whose operating status is their admin state once active (no data plane report).
ADMIN_STATE_OPERATED = frozenset({Entity.HEALTHMONITOR, Entity.L7POLICY, Entity.L7RULE})


def fail_plan(session: Executor, p: Plan) -> None:
    """Targets of a failed operation to ERROR, its locked parents back to ACTIVE (only those
    still PENDING_*: idempotent)."""
    LOG.warning("Operation %s on load balancer %s failed; marking ERROR", p.kind,
                p.load_balancer_id)
    for entity, ident in p.activate + p.remove:
        compare_and_set(session, PROVISIONING, m.BY_ENTITY[entity], ident, Provisioning.ERROR,
                        PENDING)
    for entity, ident in p.unlock:
        compare_and_set(session, PROVISIONING, m.BY_ENTITY[entity], ident,
                        Provisioning.ACTIVE, [Provisioning.PENDING_UPDATE])
    if p.kind in FAILOVERS:
        # The amphorae it was replacing are still there: the health manager may try
        # again, one heartbeat timeout from now (not at once, not never).
        ids = ([p.amphora_id] if p.kind == OperationKind.AMPHORA_FAILOVER and p.amphora_id
               else [a.id for a in existing_amphorae(session, p.load_balancer_id or "")])
        session.execute(update(m.AmphoraHealth).where(m.AmphoraHealth.amphora_id.in_(ids))
                        .values(busy=False, last_update=health.now()))


def carry_out(session: Executor, p: Plan) -> None:
    """Targets of a successful operation ACTIVE (or removed), its locked parents unlocked."""
    pending = [Provisioning.PENDING_CREATE, Provisioning.PENDING_UPDATE]
    for entity, ident in p.activate:
        model = m.BY_ENTITY[entity]
        compare_and_set(session, PROVISIONING, model, ident, Provisioning.ACTIVE, pending)
        if entity in ADMIN_STATE_OPERATED:
            up = session.scalar(select(model.admin_state_up).where(model.id == ident))
            if up is not None:
                compare_and_set(session, OPERATING[entity], model, ident,
                                Operating.ONLINE if up else Operating.OFFLINE)
    for entity, ident in p.remove:
        if entity == Entity.LOADBALANCER:
            compare_and_set(session, PROVISIONING, m.LoadBalancer, ident,
                            Provisioning.DELETED, [Provisioning.PENDING_DELETE])
        else:
            remove_rows(session, m.BY_ENTITY[entity], [ident])
    for entity, ident in p.unlock:
        compare_and_set(session, PROVISIONING, m.BY_ENTITY[entity], ident,
                        Provisioning.ACTIVE, [Provisioning.PENDING_UPDATE])


class FinishPlan(WorkerTask):
    """Last task of every flow (`ottava.worker.flows.build` adds it): the plan carried out
    and the operation recorded DONE, in one commit."""

    def execute(self) -> None:
        self.job.finish(lambda conn: carry_out(conn, self.plan))


def remove_rows(session: Executor, model: Any, ids: list[str]) -> None:
    """Delete rows and their tags (children go by ON DELETE CASCADE; their tags here)."""
    if not ids:
        return
    doomed = list(ids)
    if model is m.Pool:
        doomed += session.scalars(select(m.Member.id).where(m.Member.pool_id.in_(ids))).all()
        doomed += session.scalars(select(m.HealthMonitor.id).where(
            m.HealthMonitor.pool_id.in_(ids))).all()
    if model is m.Listener:
        policies = session.scalars(select(m.L7Policy.id).where(
            m.L7Policy.listener_id.in_(ids))).all()
        doomed += policies
        doomed += session.scalars(select(m.L7Rule.id).where(
            m.L7Rule.l7policy_id.in_(policies))).all()
    if model is m.L7Policy:
        doomed += session.scalars(select(m.L7Rule.id).where(
            m.L7Rule.l7policy_id.in_(ids))).all()
    session.execute(delete(m.Tag).where(m.Tag.resource_id.in_(doomed)))
    session.execute(delete(model).where(model.id.in_(ids)))


class DeleteLoadBalancerTree(WorkerTask):
    """Remove every listener and pool (with their children) of a load balancer being deleted."""

    def execute(self) -> None:
        lb_id = self.job.load_balancer_id
        with self.deps.db.writing() as s:
            listeners = s.scalars(select(m.Listener.id).where(
                m.Listener.load_balancer_id == lb_id)).all()
            pools = s.scalars(select(m.Pool.id).where(m.Pool.load_balancer_id == lb_id)).all()
            # Listeners point at pools (default_pool_id): drop those links first.
            s.execute(update(m.Listener).where(m.Listener.load_balancer_id == lb_id)
                      .values(default_pool_id=None))
            remove_rows(s, m.Listener, list(listeners))
            remove_rows(s, m.Pool, list(pools))
            s.execute(delete(m.ListenerStatistics).where(
                m.ListenerStatistics.listener_id.in_(listeners)))


class CreateAmphoraRows(WorkerTask):
    """Amphorae for the load balancer: as the topology needs (one, or two for HA), or, in a
    failover, one for each amphora being replaced, in the same role. A ready spare is taken
    when there is one (it is booted already); otherwise a new row is made.

    Every amphora it takes or makes is marked with the operation's id, so running this again
    after a crash (between its commit and TaskFlow recording its result) finds them instead
    of taking more."""

    default_provides = keys.AMPHORA_IDS

    def execute(self, replacement_ids: list[str] | None = None) -> list[str]:
        lb_id, operation_id = self.job.load_balancer_id, self.job.operation_id
        with self.deps.db.writing() as c:
            mine = list(c.scalars(select(m.Amphora.id).where(
                m.Amphora.claimed_by == operation_id).order_by(m.Amphora.role)))
            if mine:
                return mine
            topology = c.scalar(select(m.LoadBalancer.topology)
                                .where(m.LoadBalancer.id == lb_id))
            assert topology is not None, lb_id
            wanted = roles(topology)
            if replacement_ids:
                replaced = dict(c.execute(select(m.Amphora.id, m.Amphora.role).where(
                    m.Amphora.id.in_(replacement_ids))).tuples().all())
                wanted = [AmphoraRole(replaced[i] or AmphoraRole.STANDALONE)
                          for i in replacement_ids if i in replaced]
            ids = []
            for role in wanted:
                values = {"load_balancer_id": lb_id, "role": role, "claimed_by": operation_id,
                          "vrrp_priority": VRRP_PRIORITY.get(role)}
                ids.append(take_spare(c, values) or new_amphora_row(c, values))
            return ids

    def revert(self, result: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(result, list):
            return
        with self.deps.db.writing() as c:
            compare_and_set(c, AMPHORA, m.Amphora, result, AmphoraStatus.DELETED,
                            where=[m.Amphora.claimed_by == self.job.operation_id])


def new_amphora_row(db: Executor, values: dict[str, Any]) -> str:
    """A new PENDING_CREATE amphora row with `values`; its id."""
    ident = m.new_id()
    db.execute(insert(m.Amphora).values(id=ident, status=AmphoraStatus.PENDING_CREATE,
                                        **values))
    return ident


def take_spare(session: Executor, values: dict[str, Any]) -> str | None:
    """Give a READY spare amphora `values`, moving it to PENDING_CREATE (a compare-and-set:
    two creates never take the same one); its id, or None when there is none to take."""
    for ident in session.scalars(select(m.Amphora.id).where(
            m.Amphora.status == AmphoraStatus.READY, m.Amphora.load_balancer_id.is_(None))
            .order_by(m.Amphora.created_at).limit(5)):
        taken = compare_and_set(session, AMPHORA, m.Amphora, ident,
                                AmphoraStatus.PENDING_CREATE, [AmphoraStatus.READY],
                                where=[m.Amphora.load_balancer_id.is_(None)], **values)
        if taken:
            LOG.info("Amphora %s taken from the spares", ident)
            return str(ident)
    return None


def existing_amphorae(session: Executor, lb_id: str) -> list[Row[Any]]:
    """The load balancer's amphorae being made or in service (not those gone): their ids and
    statuses."""
    return list(session.execute(select(m.Amphora.id, m.Amphora.status).where(
        m.Amphora.load_balancer_id == lb_id,
        m.Amphora.status.in_([AmphoraStatus.ALLOCATED, AmphoraStatus.BOOTING,
                              AmphoraStatus.PENDING_CREATE, AmphoraStatus.ERROR,
                              AmphoraStatus.FAILOVER_STOPPED]))))


class ListServingAmphorae(WorkerTask):
    """The load balancer's amphorae in service that are not being replaced."""

    default_provides = keys.SERVING_IDS

    def execute(self, replacement_ids: list[str] | None = None) -> list[str]:
        leaving = set(replacement_ids or ())
        return [a.id for a in self.deps.db.read(existing_amphorae, self.job.load_balancer_id)
                if a.status == AmphoraStatus.ALLOCATED and a.id not in leaving]


class ListAmphorae(WorkerTask):
    """The ids of the load balancer's current amphorae."""

    default_provides = keys.AMPHORA_IDS

    def execute(self) -> list[str]:
        return [a.id for a in self.deps.db.read(existing_amphorae, self.job.load_balancer_id)]


class CreateSpareRow(WorkerTask):
    """The row of one spare amphora (no load balancer), marked with the operation's id."""

    default_provides = keys.AMPHORA_IDS

    def execute(self) -> list[str]:
        operation_id = self.job.operation_id
        with self.deps.db.writing() as c:
            mine = list(c.scalars(select(m.Amphora.id).where(
                m.Amphora.claimed_by == operation_id)))
            if mine:
                return mine
            return [new_amphora_row(c, {"load_balancer_id": None,
                                        "claimed_by": operation_id})]

    def revert(self, result: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(result, list):
            with self.deps.db.writing() as c:  # unless a create took it meanwhile
                compare_and_set(c, AMPHORA, m.Amphora, result, AmphoraStatus.DELETED,
                                where=[m.Amphora.claimed_by == self.job.operation_id])
