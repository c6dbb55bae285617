"""Tasks that attach and release the VIP through the network driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from ottava.db import loads
from ottava.db import models as m
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.network import Vip
from ottava.worker.tasks.base import WorkerTask


def vip_of(lb: m.LoadBalancer) -> Vip:
    return Vip(lb.vip_address or "", lb.vip_port_id or "", lb.vip_subnet_id or "",
               lb.vip_network_id or "")


def amphora_ref(amp: m.Amphora) -> AmphoraRef:
    return AmphoraRef(id=amp.id, load_balancer_id=amp.load_balancer_id,
                      compute_id=amp.compute_id, role=amp.role,
                      lb_network_ip=amp.lb_network_ip)


class PlugVip(WorkerTask):
    """Attach the load balancer's VIP to each amphora; on revert, detach it."""

    def execute(self, amphora_ids: list[str]) -> None:
        for amp, vip in self._targets(amphora_ids):
            plugged = self.deps.network.plug_vip(amphora_ref(amp), vip)
            with self.deps.db.transaction() as s:
                s.execute(update(m.Amphora).where(m.Amphora.id == amp.id).values(
                    vrrp_ip=plugged.vrrp_ip, vrrp_port_id=plugged.vrrp_port_id,
                    ha_ip=vip.address, ha_port_id=vip.port_id))

    def revert(self, amphora_ids: list[str], *args: Any, **kwargs: Any) -> None:
        for amp, vip in self._targets(amphora_ids):
            self.deps.network.unplug_vip(amphora_ref(amp), vip)

    def _targets(self, amphora_ids: list[str]) -> list[tuple[m.Amphora, Vip]]:
        with self.deps.db.reader() as s:
            lb = s.get(m.LoadBalancer, self.job.load_balancer_id, options=loads.BARE)
            assert lb is not None
            vip = vip_of(lb)
            return [(a, vip) for a in (s.get(m.Amphora, i) for i in amphora_ids) if a]


class DeallocateVip(WorkerTask):
    def execute(self) -> None:
        with self.deps.db.reader() as s:
            lb = s.get(m.LoadBalancer, self.job.load_balancer_id, options=loads.BARE)
            assert lb is not None
            vip = vip_of(lb)
        self.deps.network.deallocate_vip(lb.id, vip)
