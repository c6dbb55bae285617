"""Tasks that boot and remove amphorae through the compute driver."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from ottava.db import health, loads
from ottava.db import models as m
from ottava.db.transitions import compare_and_set
from ottava.domain import topology
from ottava.domain.lifecycles import AMPHORA, AmphoraStatus
from ottava.domain.ports.compute import Placement
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.network import amphora_ref, vips_of


def placement_of(session: Session, load_balancer_id: str | None) -> Placement:
    """Where the load balancer's flavor profile and availability zone profile place its
    amphorae (Octavia's `compute_flavor`, `amp_image_tag`, `compute_zone`); a pair spreads."""
    lb = session.get(m.LoadBalancer, load_balancer_id, options=loads.BARE) \
        if load_balancer_id else None
    if lb is None:
        return Placement()  # a spare: the deployment's defaults
    flavor_data: dict[str, Any] = {}
    if lb.flavor_id:
        flavor = session.get(m.Flavor, lb.flavor_id)
        profile = session.get(m.FlavorProfile, flavor.flavor_profile_id) if flavor else None
        flavor_data = _json_object(profile.flavor_data if profile else None)
    zone_data: dict[str, Any] = {}
    if lb.availability_zone:
        zone = session.get(m.AvailabilityZone, lb.availability_zone)
        zone_profile = session.get(m.AvailabilityZoneProfile,
                                   zone.availability_zone_profile_id) if zone else None
        zone_data = _json_object(zone_profile.availability_zone_data if zone_profile else None)
    return Placement(compute_flavor=flavor_data.get("compute_flavor") or None,
                     image_tag=flavor_data.get("amp_image_tag") or None,
                     zone=zone_data.get("compute_zone") or None,
                     spread=lb.topology == topology.Topology.ACTIVE_STANDBY)


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
            with self.deps.db.reader() as s:
                amp = s.get(m.Amphora, amphora_id)
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
            with self.deps.db.reader() as s:
                placement = placement_of(s, self.plan.load_balancer_id)
            booted = self.deps.compute.create_amphora(amphora_id,
                                                        self.plan.load_balancer_id, boot,
                                                        placement)
            self._mark(amphora_id, compute_id=booted.compute_id,
                       lb_network_ip=booted.lb_network_ip, image_id=booted.image_id,
                       compute_flavor=booted.compute_flavor, cached_zone=booted.zone,
                       cert_expiration=expiry.replace(tzinfo=None) if expiry else None)

    def _mark(self, amphora_id: str, **booted: Any) -> None:
        with self.deps.db.transaction() as s:
            compare_and_set(s, AMPHORA, m.Amphora, amphora_id, self.ready_as, **booted)
            if self.ready_as == AmphoraStatus.ALLOCATED and self.deps.agent_boot is not None:
                health.record_heard(s, [amphora_id], health.now())

    def revert(self, amphora_ids: list[str], *args: Any, **kwargs: Any) -> None:
        with self.deps.db.reader() as s:
            compute_ids = [a.compute_id for a in (s.get(m.Amphora, i) for i in amphora_ids)
                           if a is not None and a.compute_id]
        for compute_id in compute_ids:
            self.deps.compute.delete_amphora(compute_id)


class DeleteAmphorae(WorkerTask):
    """Remove the instances of the given amphorae and mark their rows DELETED. Their VIPs
    and member subnets are unplugged first: a network whose amphora ports outlive the server
    (Neutron's, for ports attached after boot) would keep them otherwise."""

    def execute(self, amphora_ids: list[str]) -> None:
        for amphora_id in amphora_ids:
            with self.deps.db.reader() as s:
                amp = s.get(m.Amphora, amphora_id)
                compute_id = amp.compute_id if amp else None
                lb = s.get(m.LoadBalancer, amp.load_balancer_id, options=loads.BARE) \
                    if amp is not None and amp.load_balancer_id else None
                plugged = (amphora_ref(amp), vips_of(lb)) if amp is not None and lb else None
            if plugged is not None and compute_id:
                ref, vips = plugged
                for vip in vips:
                    self.deps.network.unplug_vip(ref, vip)
                self.deps.network.set_member_subnets(ref, set())
            if compute_id:
                self.deps.compute.delete_amphora(compute_id)
            with self.deps.db.transaction() as s:
                compare_and_set(s, AMPHORA, m.Amphora, amphora_id, AmphoraStatus.DELETED)
                health.forget(s, [amphora_id])
                # What it served stays counted; what it was serving is over.
                s.execute(update(m.ListenerStatistics)
                          .where(m.ListenerStatistics.amphora_id == amphora_id)
                          .values(active_connections=0))


class RotateCertificate(WorkerTask):
    """Issue the amphora a new certificate and have its agent serve with it; the amphora's
    `cert_busy` flag (set by housekeeping when it asked) is cleared whatever happens."""

    def execute(self) -> None:
        amphora_id = self.plan.amphora_id
        assert amphora_id is not None
        try:
            if self.deps.agent_boot is None:
                return  # no agent, no certificate (noop amphorae)
            with self.deps.db.reader() as s:
                amp = s.get(m.Amphora, amphora_id)
                if amp is None or amp.status not in (AmphoraStatus.ALLOCATED,
                                                     AmphoraStatus.READY,
                                                     AmphoraStatus.FAILOVER_STOPPED):
                    return
                ref = amphora_ref(amp)
            boot, expiry = self.deps.agent_boot(amphora_id)
            self.deps.amphora.rotate_certificate(ref, boot.cert_pem,
                           boot.key_pem)
            with self.deps.db.transaction() as s:
                s.execute(update(m.Amphora).where(m.Amphora.id == amphora_id).values(
                    cert_expiration=expiry.replace(tzinfo=None)))
        finally:
            with self.deps.db.transaction() as s:
                s.execute(update(m.Amphora).where(m.Amphora.id == amphora_id)
                          .values(cert_busy=False))
