"""Tasks that push desired state to amphorae (and take it away) through the amphora driver."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select, update

from ottava.db import models as m
from ottava.db import rows, spec_graph
from ottava.db.engine import Executor
from ottava.domain import spec as domain_spec
from ottava.domain.lifecycles import AmphoraStatus
from ottava.domain.topology import DEFAULT_VRRP_PRIORITY, Topology
from ottava.worker.tasks.base import WorkerTask
from ottava.worker.tasks.network import amphora_ref


class ApplySpec(WorkerTask):
    """Make every given amphora run the desired-state document, then record its hash as the
    one the load balancer's amphorae run (heartbeats reporting another one are drift). Each
    amphora first gets a port on every subnet the members name (`set_member_subnets`).

    The document is built here from the rows as they stand (leaving out the amphorae being
    replaced, `replacement_ids`), not passed in by a task of its own: it is never kept in
    the flow's logbook, and a resumed flow applies the state the rows hold then.

    The document carries TLS references; they are fetched here, as the load balancer's
    project, and the certificates sent with the document (`spec.resolve`), so private keys
    live only in this call and on the amphorae. A reference that no longer resolves fails
    the task (the operation ends in ERROR, never ACTIVE without TLS)."""

    def execute(self, amphora_ids: list[str], replacement_ids: list[str] | None = None) -> None:
        lb_id = self.job.load_balancer_id
        # The desired state and the amphorae, in one read.
        graph, amphorae = self.deps.db.read(spec_graph.load, lb_id, amphora_ids)
        if not amphorae:
            return
        spec = domain_spec.build(graph, frozenset(replacement_ids or ()))
        project_id = graph.project_id
        document = self._resolved(spec, project_id) if domain_spec.references(spec) else spec
        subnets = domain_spec.member_subnets(spec)
        for amp in amphorae:
            self._reach_members(amp, subnets)
            self.deps.amphora.apply(amphora_ref(amp), document)
        with self.deps.db.writing() as c:
            c.execute(update(m.LoadBalancer).where(m.LoadBalancer.id == lb_id)
                      .values(spec_hash=document["hash"]))

    def _reach_members(self, amp: Any, subnets: set[str]) -> None:
        """A port on each member subnet (none left on one no member names), configured by
        the amphora's agent before HAProxy checks the members there."""
        ref = amphora_ref(amp)
        for port in self.deps.network.set_member_subnets(ref, subnets):
            self.deps.amphora.plug_interface(ref, port.mac, port.address, port.prefixlen, [],
                                             port.routes)

    def _resolved(self, spec: dict[str, Any], project_id: str | None) -> dict[str, Any]:
        store = self.deps.certificates
        if store is None:
            raise RuntimeError("this worker has no certificates driver to fetch TLS "
                               "references with")
        return domain_spec.resolve(spec, store, project_id)


class ConfigureVrrp(WorkerTask):
    """ACTIVE_STANDBY: give each amphora of the pair its keepalived settings, its peer being
    the other one in service (amphorae being replaced are left out). SINGLE: nothing."""

    def execute(self, amphora_ids: list[str], replacement_ids: list[str] | None = None) -> None:
        lb, serving = self.deps.db.read(pair_of, self.job.load_balancer_id)
        if lb is None or lb.topology != Topology.ACTIVE_STANDBY:
            return
        leaving = set(replacement_ids or [])
        pair = [a for a in serving if a.id not in leaving]
        vip = lb.vip_address or ""
        additional = [v["ip_address"] for v in lb.additional_vips or []
                      if v.get("ip_address")]
        vrid = int(lb.id.replace("-", "")[:8], 16) % 255 + 1
        # The amphora that stays learns its new peer before the new one starts keepalived:
        # a new one that heard nobody for three adverts would take the VIP as well.
        new = set(amphora_ids)
        pair.sort(key=lambda a: a.id in new)
        for amp in pair:
            config = {
                "router_id": amp.id, "vip": vip, "vrid": vrid,
                # The VIP network's interface: a VM's port plugged after boot, else eth0.
                "interface": amp.vrrp_interface or "eth0",
                "priority": amp.vrrp_priority or DEFAULT_VRRP_PRIORITY,
                "advert_int": self.deps.settings.vrrp_advert_int,
                "own_ip": amp.vrrp_ip or amp.lb_network_ip or "",
                "peer_ips": [o.vrrp_ip or o.lb_network_ip or "" for o in pair if o.id != amp.id],
                "additional_vips": additional}
            self.deps.amphora.configure_vrrp(amphora_ref(amp), config)


def pair_of(db: Executor, lb_id: str) -> tuple[Row[Any] | None, list[Row[Any]]]:
    """The load balancer's row and, for an ACTIVE_STANDBY one, its amphorae in service."""
    lb = rows.load_balancer(db, lb_id)
    if lb is None or lb.topology != Topology.ACTIVE_STANDBY:
        return lb, []
    return lb, list(db.execute(select(m.Amphora.__table__).where(
        m.Amphora.load_balancer_id == lb.id, m.Amphora.status == AmphoraStatus.ALLOCATED)))
