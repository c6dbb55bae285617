"""Tasks that attach, guard and release the VIPs (the load balancer's `vip_address` and its
`additional_vips`) through the network driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from ottava.db import loads
from ottava.db import models as m
from ottava.domain import access, topology
from ottava.domain.lifecycles import AmphoraStatus
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import Vip, VipAccess
from ottava.worker.tasks.base import WorkerTask


def vip_of(lb: m.LoadBalancer) -> Vip:
    return Vip(lb.vip_address or "", lb.vip_port_id or "", lb.vip_subnet_id or "",
               lb.vip_network_id or "")


def vips_of(lb: m.LoadBalancer) -> list[Vip]:
    """Every VIP of the load balancer, its `vip_address` first; additional VIPs share its
    port and network."""
    primary = vip_of(lb)
    return [primary] + [
        Vip(extra.get("ip_address") or "", extra.get("port_id") or primary.port_id,
            extra.get("subnet_id") or "", primary.network_id)
        for extra in lb.additional_vips or [] if extra.get("ip_address")]


def amphora_ref(amp: m.Amphora) -> AmphoraRef:
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
            with self.deps.db.transaction() as s:
                s.execute(update(m.Amphora).where(m.Amphora.id == amp.id).values(
                    vrrp_ip=plugged.vrrp_ip, vrrp_port_id=plugged.vrrp_port_id,
                    ha_ip=primary.address, ha_port_id=primary.port_id,
                    vrrp_interface=interface))

    def revert(self, amphora_ids: list[str], *args: Any, **kwargs: Any) -> None:
        amphorae, vips = self._targets(amphora_ids)
        for amp in amphorae:
            for vip in vips:
                self.deps.network.unplug_vip(amphora_ref(amp), vip)

    def _targets(self, amphora_ids: list[str]) -> tuple[list[m.Amphora], list[Vip]]:
        with self.deps.db.reader() as s:
            lb = s.get(m.LoadBalancer, self.job.load_balancer_id, options=loads.BARE)
            assert lb is not None
            return [a for a in (s.get(m.Amphora, i) for i in amphora_ids) if a], vips_of(lb)


class GuardVip(WorkerTask):
    """Make the network let through to the VIP what the listeners open now (their ports, to
    their `allowed_cidrs`), VRRP within a pair, and shape the ports with the VIP's QoS policy:
    on the VIP port and on every serving amphora's port on the VIP network."""

    def execute(self) -> None:
        with self.deps.db.reader() as s:
            lb = s.scalars(select(m.LoadBalancer).where(
                m.LoadBalancer.id == self.job.load_balancer_id)
                .options(*loads.BARE, selectinload(m.LoadBalancer.listeners)
                         .options(*loads.BARE))).one_or_none()
            if lb is None or not lb.vip_port_id:
                return
            ports = tuple(sorted(p for p in s.scalars(select(m.Amphora.vrrp_port_id).where(
                m.Amphora.load_balancer_id == lb.id,
                m.Amphora.status == AmphoraStatus.ALLOCATED)) if p))
            user_groups = tuple(lb.vip_sg_ids or ())
            wanted = VipAccess(
                load_balancer_id=lb.id, vip_port_id=lb.vip_port_id, amphora_port_ids=ports,
                addresses=tuple(v.address for v in vips_of(lb)),
                openings=() if user_groups else access.openings(lb.listeners),
                pair=lb.topology == topology.Topology.ACTIVE_STANDBY,
                user_groups=user_groups, qos_policy_id=lb.vip_qos_policy_id)
        self.deps.network.set_vip_access(wanted)


class DeallocateVip(WorkerTask):
    """Give every VIP of the load balancer back to the network."""

    def execute(self) -> None:
        with self.deps.db.reader() as s:
            lb = s.get(m.LoadBalancer, self.job.load_balancer_id, options=loads.BARE)
            assert lb is not None
            vips = vips_of(lb)
        for vip in vips:
            self.deps.network.deallocate_vip(lb.id, vip)
