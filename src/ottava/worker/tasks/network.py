"""Tasks that attach, guard and release the VIPs (the load balancer's `vip_address` and its
`additional_vips`) through the network driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select, update

from ottava.db import models as m
from ottava.db import rows
from ottava.db.engine import Executor
from ottava.domain import access, topology
from ottava.domain.lifecycles import AmphoraStatus
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import Vip, VipAccess
from ottava.worker.tasks.base import WorkerTask


def vip_of(lb: Any) -> Vip:
    """The `vip_address` of `lb` (a load balancer's row or object)."""
    return Vip(lb.vip_address or "", lb.vip_port_id or "", lb.vip_subnet_id or "",
               lb.vip_network_id or "")


def vips_of(lb: Any) -> list[Vip]:
    """Every VIP of the load balancer, its `vip_address` first; additional VIPs share its
    port and network."""
    primary = vip_of(lb)
    return [primary] + [
        Vip(extra.get("ip_address") or "", extra.get("port_id") or primary.port_id,
            extra.get("subnet_id") or "", primary.network_id)
        for extra in lb.additional_vips or [] if extra.get("ip_address")]


def amphora_ref(amp: Any) -> AmphoraRef:
    """How drivers name the amphora `amp` (its row or object)."""
    return AmphoraRef(id=amp.id, load_balancer_id=amp.load_balancer_id,
                      compute_id=amp.compute_id, role=amp.role,
                      lb_network_ip=amp.lb_network_ip)


class PlugVip(WorkerTask):
    """Attach the load balancer's VIPs to each amphora; on revert, detach them."""

    def execute(self, amphora_ids: list[str]) -> None:
        amphorae, vips = self._targets(amphora_ids)
        for amp in amphorae:
            primary = vips[0]
            plugged = self.deps.network.plug_vip(amphora_ref(amp), primary)
            for extra in vips[1:]:
                self.deps.network.plug_vip(amphora_ref(amp), extra)
            interface = None  # the driver configured it (local): keepalived's eth0
            if plugged.mac is not None and plugged.prefixlen is not None:
                # A port the amphora must configure itself; in a pair the VIPs are
                # keepalived's to hold, the port only gets its own address.
                held = [] if topology.holds_vip_by_vrrp(amp.role) else [v.address for v in vips]
                interface = self.deps.amphora.plug_interface(
                    amphora_ref(amp), plugged.mac, plugged.vrrp_ip, plugged.prefixlen, held,
                    plugged.routes)
            with self.deps.db.writing() as c:
                c.execute(update(m.Amphora).where(m.Amphora.id == amp.id).values(
                    vrrp_ip=plugged.vrrp_ip, vrrp_port_id=plugged.vrrp_port_id,
                    ha_ip=primary.address, ha_port_id=primary.port_id,
                    vrrp_interface=interface))

    def revert(self, amphora_ids: list[str], *args: Any, **kwargs: Any) -> None:
        amphorae, vips = self._targets(amphora_ids)
        for amp in amphorae:
            for vip in vips:
                self.deps.network.unplug_vip(amphora_ref(amp), vip)

    def _targets(self, amphora_ids: list[str]) -> tuple[list[Row[Any]], list[Vip]]:
        lb, amphorae = self.deps.db.read(vip_targets, self.job.load_balancer_id, amphora_ids)
        return amphorae, vips_of(lb)


def vip_targets(db: Executor, lb_id: str, amphora_ids: list[str]
                ) -> tuple[Row[Any], list[Row[Any]]]:
    """The load balancer's row and those of `amphora_ids` (in that order)."""
    found = {a.id: a for a in db.execute(select(m.Amphora.__table__)
                                         .where(m.Amphora.id.in_(amphora_ids)))}
    lb = rows.load_balancer(db, lb_id)
    assert lb is not None, lb_id
    return lb, [found[i] for i in amphora_ids if i in found]


class GuardVip(WorkerTask):
    """Make the network let through to the VIP what the listeners open now (their ports, to
    their `allowed_cidrs`), VRRP within a pair, and shape the ports with the VIP's QoS policy:
    on the VIP port and on every serving amphora's port on the VIP network."""

    def execute(self) -> None:
        wanted = self.deps.db.read(vip_access, self.job.load_balancer_id)
        if wanted is not None:
            self.deps.network.set_vip_access(wanted)


def vip_access(db: Executor, lb_id: str) -> VipAccess | None:
    """What the network must let through to the load balancer's VIP now; None for one
    without a VIP port (or gone)."""
    lb = rows.load_balancer(db, lb_id)
    if lb is None or not lb.vip_port_id:
        return None
    ports = tuple(sorted(p for p in db.scalars(select(m.Amphora.vrrp_port_id).where(
        m.Amphora.load_balancer_id == lb.id,
        m.Amphora.status == AmphoraStatus.ALLOCATED)) if p))
    user_groups = tuple(lb.vip_sg_ids or ())
    listeners = [] if user_groups else db.execute(
        select(m.Listener.protocol, m.Listener.protocol_port, m.Listener.allowed_cidrs,
               m.Listener.provisioning_status).where(m.Listener.load_balancer_id == lb.id)
    ).all()
    return VipAccess(
        load_balancer_id=lb.id, vip_port_id=lb.vip_port_id, amphora_port_ids=ports,
        addresses=tuple(v.address for v in vips_of(lb)),
        openings=access.openings(listeners),
        pair=lb.topology == topology.Topology.ACTIVE_STANDBY,
        user_groups=user_groups, qos_policy_id=lb.vip_qos_policy_id)


class DeallocateVip(WorkerTask):
    """Give every VIP of the load balancer back to the network."""

    def execute(self) -> None:
        lb = self.deps.db.read(rows.load_balancer, self.job.load_balancer_id)
        assert lb is not None, self.job.load_balancer_id
        for vip in vips_of(lb):
            self.deps.network.deallocate_vip(lb.id, vip)
