"""Tasks that boot and remove amphorae through the compute driver."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row, select, update

from ottava.db import health, rows
from ottava.db import models as m
from ottava.db.engine import Executor
from ottava.db.transitions import compare_and_set
from ottava.domain import topology
from ottava.domain.lifecycles import AMPHORA, AmphoraStatus
from ottava.domain.ports.compute import Placement
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.network import amphora_ref, vips_of


def placement_of(db: Executor, load_balancer_id: str | None) -> Placement:
    """Where the load balancer's flavor profile and availability zone profile place its
    amphorae (Octavia's `compute_flavor`, `amp_image_tag`, `compute_zone`); a pair spreads."""
    lb = db.execute(select(m.LoadBalancer.topology, m.LoadBalancer.flavor_id,
                           m.LoadBalancer.availability_zone)
                    .where(m.LoadBalancer.id == load_balancer_id)).one_or_none() \
        if load_balancer_id else None
    if lb is None:
        return Placement()  # a spare: the deployment's defaults
    flavor_data = _json_object(db.scalar(
        select(m.FlavorProfile.flavor_data)
        .join(m.Flavor, m.Flavor.flavor_profile_id == m.FlavorProfile.id)
        .where(m.Flavor.id == lb.flavor_id))) if lb.flavor_id else {}
    zone_data = _json_object(db.scalar(
        select(m.AvailabilityZoneProfile.availability_zone_data)
        .join(m.AvailabilityZone, m.AvailabilityZone.availability_zone_profile_id
              == m.AvailabilityZoneProfile.id)
        .where(m.AvailabilityZone.name == lb.availability_zone))) \
        if lb.availability_zone else {}
    return Placement(compute_flavor=flavor_data.get("compute_flavor") or None,
                     image_tag=flavor_data.get("amp_image_tag") or None,
                     zone=zone_data.get("compute_zone") or None,
                     spread=lb.topology == topology.Topology.ACTIVE_STANDBY)


def boot_facts(db: Executor, amphora_id: str, load_balancer_id: str | None
               ) -> tuple[Row[str | None, str] | None, Placement]:
    """What booting an amphora reads: its instance and status, and where to place it."""
    amp = db.execute(select(m.Amphora.compute_id, m.Amphora.status)
                     .where(m.Amphora.id == amphora_id)).one_or_none()
    return amp, placement_of(db, load_balancer_id)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}  # the API checked it when it was stored
    return found if isinstance(found, dict) else {}


class BootAmphorae(WorkerTask):
    """Boot an instance for each amphora row and mark it `ready_as` once the compute driver
    says it runs: ALLOCATED for a load balancer's (those with an agent, which sends
    heartbeats, also get a health record dated now, so one that never reports is failed over
    like one that stopped reporting), READY for a spare. A spare taken by a create is booted
    already: it is only marked. On revert, remove what was booted.

    Booting and marking are one task, each amphora's row written once: the compute driver's
    create is idempotent (by name), so a run cut between the boot and the write boots
    nothing new when it runs again."""

    def __init__(self, job: Any, ready_as: AmphoraStatus = AmphoraStatus.ALLOCATED,
                 **kwargs: Any) -> None:
        super().__init__(job, **kwargs)
        self.ready_as = ready_as

    def execute(self, amphora_ids: list[str]) -> None:
        for amphora_id in amphora_ids:
            amp, placement = self.deps.db.read(boot_facts, amphora_id,
                                               self.plan.load_balancer_id)
            compute_id = amp.compute_id if amp is not None else None
            booted_before = compute_id is not None and amp is not None \
                and amp.status != AmphoraStatus.BOOTING
            if booted_before and compute_id and self.deps.compute.is_running(compute_id):
                self._mark(amphora_id)  # a spare, booted already
                continue
            # The certificate is issued here, not in a task of its own, so that no private key
            # ever lands in TaskFlow's persisted results.
            boot, expiry = (self.deps.agent_boot(amphora_id) if self.deps.agent_boot
                            else (None, None))
            booted = self.deps.compute.create_amphora(amphora_id,
                                                        self.plan.load_balancer_id, boot,
                                                        placement)
            self._mark(amphora_id, compute_id=booted.compute_id,
                       lb_network_ip=booted.lb_network_ip, image_id=booted.image_id,
                       compute_flavor=booted.compute_flavor, cached_zone=booted.zone,
                       cert_expiration=expiry.replace(tzinfo=None) if expiry else None)

    def _mark(self, amphora_id: str, **booted: Any) -> None:
        """Only while the amphora is this operation's: a spare's boot run again after a
        crash finds it taken by a create (claimed by the create's operation), and leaves it
        to that one."""
        with self.deps.db.writing() as c:
            mine = compare_and_set(c, AMPHORA, m.Amphora, amphora_id, self.ready_as,
                                   where=[m.Amphora.claimed_by == self.job.operation_id],
                                   **booted)
            if mine and self.ready_as == AmphoraStatus.ALLOCATED \
                    and self.deps.agent_boot is not None:
                health.record_heard(c, [amphora_id], health.now())

    def revert(self, amphora_ids: list[str], *args: Any, **kwargs: Any) -> None:
        # Only the instances of amphorae still this operation's (see `_mark`).
        compute_ids = self.deps.db.read(lambda c: list(c.scalars(
            select(m.Amphora.compute_id).where(
                m.Amphora.id.in_(amphora_ids),
                m.Amphora.claimed_by == self.job.operation_id))))
        for compute_id in compute_ids:
            if compute_id:
                self.deps.compute.delete_amphora(compute_id)


class DeleteAmphorae(WorkerTask):
    """Remove the instances of the given amphorae and mark their rows DELETED. Their VIPs
    and member subnets are unplugged first: a network whose amphora ports outlive the server
    (Neutron's, for ports attached after boot) would keep them otherwise."""

    def execute(self, amphora_ids: list[str]) -> None:
        for amphora_id in amphora_ids:
            amp, lb = self.deps.db.read(amphora_and_load_balancer, amphora_id)
            compute_id = amp.compute_id if amp is not None else None
            if amp is not None and lb is not None and compute_id:
                ref = amphora_ref(amp)
                for vip in vips_of(lb):
                    self.deps.network.unplug_vip(ref, vip)
                self.deps.network.set_member_subnets(ref, set())
            if compute_id:
                self.deps.compute.delete_amphora(compute_id)
            with self.deps.db.writing() as c:
                compare_and_set(c, AMPHORA, m.Amphora, amphora_id, AmphoraStatus.DELETED)
                health.forget(c, [amphora_id])
                # What it served stays counted; what it was serving is over.
                c.execute(update(m.ListenerStatistics)
                          .where(m.ListenerStatistics.amphora_id == amphora_id)
                          .values(active_connections=0))


def amphora_and_load_balancer(db: Executor, amphora_id: str
                              ) -> tuple[Row[Any] | None, Row[Any] | None]:
    """An amphora's row and its load balancer's (None for either that is not there)."""
    amp = rows.amphora(db, amphora_id)
    lb = rows.load_balancer(db, amp.load_balancer_id) \
        if amp is not None and amp.load_balancer_id else None
    return amp, lb


class RotateCertificate(WorkerTask):
    """Issue the amphora a new certificate and have its agent serve with it; the amphora's
    `cert_busy` flag (set by housekeeping when it asked) is cleared whatever happens."""

    def execute(self) -> None:
        amphora_id = self.plan.amphora_id
        assert amphora_id is not None
        try:
            if self.deps.agent_boot is None:
                return  # no agent, no certificate (noop amphorae)
            amp = self.deps.db.read(rows.amphora, amphora_id)
            if amp is None or amp.status not in (AmphoraStatus.ALLOCATED,
                                                 AmphoraStatus.READY,
                                                 AmphoraStatus.FAILOVER_STOPPED):
                return
            boot, expiry = self.deps.agent_boot(amphora_id)
            self.deps.amphora.rotate_certificate(amphora_ref(amp), boot.cert_pem,
                                                 boot.key_pem)
            with self.deps.db.writing() as c:
                c.execute(update(m.Amphora).where(m.Amphora.id == amphora_id).values(
                    cert_expiration=expiry.replace(tzinfo=None)))
        finally:
            with self.deps.db.writing() as c:
                c.execute(update(m.Amphora).where(m.Amphora.id == amphora_id)
                          .values(cert_busy=False))
