"""Load balancers: create (with the fully populated graph), update, delete, failover, reads."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ottava.db import loads
from ottava.db import models as m
from ottava.db import repository as repo
from ottava.domain import rules
from ottava.domain.errors import Invalid
from ottava.domain.lifecycles import DELETABLE, Operating, Provisioning
from ottava.domain.operations import Entity, OperationKind, Plan, Ref
from ottava.domain.ports.certificates import CertificateStore
from ottava.domain.ports.network import NetworkCatalog, Vip, VipRequest
from ottava.service import quotas, tls
from ottava.service.base import (
    Operations,
    apply,
    complete,
    lock_load_balancer,
    reload,
    retry_deadlocks,
)
from ottava.service.healthmonitors import HealthMonitorService
from ottava.service.l7 import L7PolicyService, L7RuleService
from ottava.service.listeners import ListenerService, listener_stats
from ottava.service.members import MemberService, check_subnets
from ottava.service.pools import PoolService


class LoadBalancerService(Operations):
    @retry_deadlocks
    def create(self, values: dict[str, Any], token: str | None = None) -> m.LoadBalancer:
        """A load balancer (with the listeners and pools of a fully populated create).

        The owner is `values["project_id"]`, chosen and authorized by the API; `token` is
        the caller's, with which the TLS references of the graph are granted to Ottava. What the
        network must answer (subnets, the VIP) is asked before the transaction that writes
        the load balancer opens; if that transaction fails, the VIP is released again."""
        listeners_in = values.pop("listeners", None) or []
        pools_in = values.pop("pools", None) or []
        values.pop("tenant_id", None)
        project = values.get("project_id")
        if not project:
            raise Invalid("Validation failure: Missing project ID")
        counts = graph_counts(listeners_in, pools_in)
        catalog = self.deps.catalog.as_user(token)  # what the caller may use, as Octavia
        self.check_vip_request(catalog, values)
        check_vip_guards(catalog, values)
        check_subnets(catalog, graph_members(listeners_in, pools_in))
        check_graph_references(self.deps.certificates, listeners_in, pools_in, project, token)
        with self.db.reader() as s:
            self.resolve_provider(s, values)
            values["topology"] = self.topology(s, values.get("flavor_id"))
        quotas.precheck(self.db, self.settings.quotas, project, counts)
        lb_id = m.new_id()
        vip = self.deps.plumbing.allocate_vip(VipRequest(
            load_balancer_id=lb_id, project_id=project, subnet_id=values.get("vip_subnet_id"),
            network_id=values.get("vip_network_id"), port_id=values.get("vip_port_id"),
            address=values.get("vip_address"),
        ))
        allocated = [vip]  # what goes back to the network if the create fails
        try:
            values["additional_vips"] = self.additional_vips(
                catalog, lb_id, project, values.get("additional_vips") or [], vip, allocated)
            with self.change() as change:
                s = change.session
                quotas.enforce(s, self.db, self.settings.quotas, project, counts)
                lb = m.LoadBalancer(**{
                    **{k: v for k, v in values.items() if k != "tags"},
                    "id": lb_id, "provisioning_status": Provisioning.PENDING_CREATE,
                    "operating_status": Operating.OFFLINE,
                    "vip_address": vip.address, "vip_port_id": vip.port_id,
                    "vip_subnet_id": vip.subnet_id, "vip_network_id": vip.network_id,
                })
                lb.tags = values.get("tags", [])
                if not (listeners_in or pools_in):
                    complete(lb)  # answered as it is: nothing below it to read back
                s.add(lb)
                s.flush()
                children = Graph(self, s, lb).build(listeners_in, pools_in)
                change.submit(Plan(
                    kind=OperationKind.LOADBALANCER_CREATE,
                    load_balancer_id=lb.id, topology=lb.topology,
                    activate=((Entity.LOADBALANCER, lb.id), *children),
                ), lb.id)
                s.flush()
                return self.full_graph(s, lb.id) if (listeners_in or pools_in) else lb
        except BaseException:
            for held in allocated:
                self.deps.plumbing.deallocate_vip(lb_id, held)
            raise

    def additional_vips(self, catalog: NetworkCatalog, lb_id: str, project: str,
                        wanted: list[dict[str, Any]], primary: Vip, allocated: list[Vip]
                        ) -> list[dict[str, Any]]:
        """Addresses on further subnets of the VIP network, on the VIP's port (v2.26)."""
        subnets = [v["subnet_id"] for v in wanted]
        if len(set(subnets)) != len(subnets) or primary.subnet_id in subnets:
            raise Invalid("Validation failure: Duplicate VIP subnet(s) specified. Only one IP "
                          "can be bound per subnet.")
        out = []
        for item in wanted:
            subnet = catalog.find_subnet(item["subnet_id"])
            if subnet is None:
                raise Invalid(f"Subnet {item['subnet_id']} not found.")
            extra = self.deps.plumbing.allocate_vip(VipRequest(
                load_balancer_id=lb_id, project_id=project, subnet_id=subnet.id,
                network_id=primary.network_id, port_id=primary.port_id,
                address=item.get("ip_address")))
            allocated.append(extra)
            out.append({"subnet_id": subnet.id, "ip_address": extra.address,
                        "port_id": primary.port_id})
        return out

    def resolve_provider(self, s: Session, values: dict[str, Any]) -> None:
        providers = self.settings.providers
        flavor_provider = None
        if values.get("flavor_id"):
            flavor = s.get(m.Flavor, values["flavor_id"])
            if flavor is None:
                raise Invalid("Validation failure: Invalid flavor_id.")
            if not flavor.enabled:
                raise Invalid("The selected flavor is not allowed in this deployment: "
                              f"{flavor.id}")
            profile = s.get(m.FlavorProfile, flavor.flavor_profile_id)
            flavor_provider = profile.provider_name if profile else None
        provider = values.get("provider") or flavor_provider or providers.default
        if provider not in providers.enabled:
            raise Invalid(f"Provider '{provider}' is not enabled.")
        if flavor_provider and flavor_provider != provider:
            raise Invalid(f"Flavor '{values['flavor_id']}' is not compatible with provider "
                          f"'{provider}'")
        values["provider"] = provider
        if values.get("availability_zone") is not None:  # "" names no zone either
            zone = s.get(m.AvailabilityZone, values["availability_zone"])
            if zone is None:
                raise Invalid("Validation failure: Invalid availability zone.")
            if not zone.enabled:
                raise Invalid("The selected availability_zone is not allowed in this "
                              f"deployment: {zone.name}")

    def check_vip_request(self, catalog: NetworkCatalog, values: dict[str, Any]) -> None:
        rules_ = self.settings.vip
        port, network, subnet = (values.get("vip_port_id"), values.get("vip_network_id"),
                                 values.get("vip_subnet_id"))
        if not (port or network or subnet):
            raise Invalid("Validation failure: VIP must contain one of: vip_port_id, "
                          "vip_network_id, vip_subnet_id.")
        for given, allowed, name in ((port, rules_.allow_port_id, "vip_port_id"),
                                     (network, rules_.allow_network_id, "vip_network_id"),
                                     (subnet, rules_.allow_subnet_id, "vip_subnet_id")):
            if given and not allowed:
                raise Invalid(f"The selected {name} is not allowed in this deployment: {given}")
        if subnet and catalog.find_subnet(subnet) is None:
            raise Invalid(f"Subnet {subnet} not found.")
        if network and catalog.find_network(network) is None:
            raise Invalid(f"Network {network} not found.")
        if port:
            found = catalog.find_port(port)
            if found is None:
                raise Invalid(f"Port {port} not found.")
            if found.device_id:
                raise Invalid(f"Validation failure: Port {port} is already used by device "
                              f"{found.device_id} ")
        if rules_.valid_networks and network and network not in rules_.valid_networks:
            raise Invalid(f"Validation failure: Network {network} is not in the list of "
                          "allowed VIP networks.")

    def topology(self, s: Session, flavor_id: str | None) -> str:
        default = self.settings.default_topology
        if not flavor_id:
            return default
        flavor = s.get(m.Flavor, flavor_id)
        profile = s.get(m.FlavorProfile, flavor.flavor_profile_id) if flavor else None
        try:
            data = json.loads(profile.flavor_data) if profile else {}
        except ValueError:
            data = {}
        return str(data.get("loadbalancer_topology", default))

    def full_graph(self, s: Session, lb_id: str) -> m.LoadBalancer:
        s.flush()
        # Not populate_existing: listeners are reached twice (under the load balancer and as
        # pools' default_of), and the second, narrower load must not undo the first.
        s.expire_all()
        return s.scalars(
            select(m.LoadBalancer).where(m.LoadBalancer.id == lb_id).options(*loads.GRAPH)
        ).one()

    @retry_deadlocks
    def update(self, ident: str, values: dict[str, Any], token: str | None = None
               ) -> m.LoadBalancer:
        """`token`: the caller's, with which the security groups and QoS policy it names are
        looked up."""
        if values.get("vip_qos_policy_id") or values.get("vip_sg_ids"):
            check_vip_guards(self.deps.catalog.as_user(token), values)
        with self.change() as change:
            s = change.session
            lb = repo.get(s, m.LoadBalancer, ident, "Load Balancer")
            lock_load_balancer(s, lb.id)
            apply(lb, values)
            change.submit(Plan(kind=OperationKind.LOADBALANCER_UPDATE, load_balancer_id=lb.id,
                               activate=((Entity.LOADBALANCER, lb.id),)), lb.id)
            return reload(s, m.LoadBalancer, ident)

    @retry_deadlocks
    def delete(self, ident: str, cascade: bool) -> None:
        with self.change() as change:
            s = change.session
            lb = repo.get(s, m.LoadBalancer, ident, "Load Balancer", render=True)
            if not cascade and (lb.listeners or lb.pools):
                raise Invalid(f"Cannot delete Load Balancer {ident} - it has children")
            lock_load_balancer(s, lb.id, Provisioning.PENDING_DELETE, DELETABLE)
            change.submit(Plan(kind=OperationKind.LOADBALANCER_DELETE, load_balancer_id=lb.id,
                               remove=((Entity.LOADBALANCER, lb.id),)), lb.id)

    @retry_deadlocks
    def failover(self, ident: str) -> None:
        with self.change() as change:
            s = change.session
            lb = repo.get(s, m.LoadBalancer, ident, "Load Balancer")
            lock_load_balancer(s, lb.id, Provisioning.PENDING_UPDATE, DELETABLE)
            change.submit(Plan(kind=OperationKind.LOADBALANCER_FAILOVER, load_balancer_id=lb.id,
                               topology=lb.topology,
                               activate=((Entity.LOADBALANCER, lb.id),)), lb.id)

    def stats(self, ident: str) -> dict[str, int]:
        with self.db.reader() as s:
            lb = repo.get(s, m.LoadBalancer, ident, "Load Balancer", render=True)
            return listener_stats(s, [li.id for li in lb.listeners])

    def status_tree(self, ident: str) -> m.LoadBalancer:
        with self.db.reader() as s:
            repo.get(s, m.LoadBalancer, ident, "Load Balancer")
            pool_parts = (
                selectinload(m.Pool.members),
                selectinload(m.Pool.health_monitor),
            )
            return s.scalars(
                select(m.LoadBalancer).where(m.LoadBalancer.id == ident).options(
                    selectinload(m.LoadBalancer.listeners).options(
                        selectinload(m.Listener.default_pool).options(*pool_parts),
                        selectinload(m.Listener.l7policies)
                        .selectinload(m.L7Policy.redirect_pool).options(*pool_parts),
                    )
                )
            ).one()


def check_vip_guards(catalog: NetworkCatalog, values: dict[str, Any]) -> None:
    """The VIP's QoS policy and security groups exist for the caller (`catalog`), asked
    before any transaction opens."""
    policy = values.get("vip_qos_policy_id")
    if policy and catalog.find_qos_policy(policy) is None:
        raise Invalid(f"qos_policy {policy} not found.")
    for group in dict.fromkeys(values.get("vip_sg_ids") or []):
        if catalog.find_security_group(group) is None:
            raise Invalid(f"Security Group {group} not found.")


class Graph:
    """The listeners and pools of a fully populated create, built onto a new load balancer.

    The API has already applied each object's defaults (see `ottava.api.graph`).
    Every pool has a name and is defined once (at top level, as a listener's default pool or
    as a policy's redirect pool); elsewhere it is referenced as {"name": ...}.
    """

    def __init__(self, service: Operations, session: Session, lb: m.LoadBalancer):
        deps = service.deps
        self.session, self.lb = session, lb
        self.listeners = ListenerService(deps)
        self.pools = PoolService(deps)
        self.members = MemberService(deps)
        self.monitors = HealthMonitorService(deps)
        self.policies = L7PolicyService(deps)
        self.rules = L7RuleService(deps)
        self.by_name: dict[str, m.Pool] = {}
        self.refs: list[Ref] = []

    def build(self, listeners: list[dict[str, Any]], pools: list[dict[str, Any]]) -> list[Ref]:
        definitions = list(pools)
        for listener in listeners:
            if _defines(listener.get("default_pool")):
                definitions.append(listener["default_pool"])
            for policy in listener.get("l7policies") or []:
                if _defines(policy.get("redirect_pool")):
                    definitions.append(policy["redirect_pool"])
        for definition in definitions:
            self.define_pool(definition)
        for values in listeners:
            self.add_listener(values)
        self.session.flush()
        return self.refs

    def define_pool(self, values: dict[str, Any]) -> None:
        name = values.get("name")
        if not name:
            raise Invalid("Validation failure: Pools must be named when creating a fully "
                          "populated loadbalancer.")
        if name in self.by_name:
            raise Invalid(f"Validation failure: Pool name {name} is defined more than once.")
        members = values.pop("members", None) or []
        monitor = values.pop("healthmonitor", None)
        pool = self.pools.build(self.lb, values, None)
        self.session.add(pool)
        self.session.flush()
        self.by_name[name] = pool
        self.refs.append((Entity.POOL, pool.id))
        if monitor is not None:
            hm = self.monitors.build(pool, monitor)
            self.session.add(hm)
            self.session.flush()
            self.refs.append((Entity.HEALTHMONITOR, hm.id))
        seen: set[tuple[str, int]] = set()
        for member_values in members:
            member = self.members.build(pool, member_values, monitor is not None)
            key = (member.address, member.protocol_port)
            if key in seen:
                raise Invalid(f"Validation failure: Duplicate member {key[0]}:{key[1]} in "
                              f"pool {name}.")
            seen.add(key)
            self.session.add(member)
            self.session.flush()
            self.refs.append((Entity.MEMBER, member.id))

    def pool_named(self, ref: dict[str, Any]) -> m.Pool:
        name = ref.get("name")
        if name not in self.by_name:
            raise Invalid(f"Validation failure: Pool {name} is referenced but not defined.")
        return self.by_name[name]

    def add_listener(self, values: dict[str, Any]) -> None:
        default_pool = values.pop("default_pool", None)
        policies = values.pop("l7policies", None) or []
        listener = self.listeners.new(self.session, self.lb, values)
        self.session.add(listener)
        self.session.flush()
        self.refs.append((Entity.LISTENER, listener.id))
        if default_pool is not None:
            pool = self.pool_named(default_pool)
            if listener.protocol == "PROMETHEUS":
                raise Invalid("Validation failure: PROMETHEUS listeners cannot have a default "
                              "pool.")
            rules.check_pool_protocol(listener.protocol, pool.protocol)
            listener.default_pool_id = pool.id
        for position, policy_values in enumerate(policies, start=1):
            redirect = policy_values.pop("redirect_pool", None)
            rule_values = policy_values.pop("rules", None) or []
            if redirect is not None:
                pool = self.pool_named(redirect)
                rules.check_pool_protocol(listener.protocol, pool.protocol)
                policy_values["redirect_pool_id"] = pool.id
            policy_values["position"] = policy_values.get("position") or position
            policy = self.policies.build(listener, policy_values)
            self.session.add(policy)
            self.session.flush()
            self.refs.append((Entity.L7POLICY, policy.id))
            for values_ in rule_values:
                rule = self.rules.build(policy, values_)
                self.session.add(rule)
                self.session.flush()
                self.refs.append((Entity.L7RULE, rule.id))


def graph_counts(listeners: list[dict[str, Any]], pools: list[dict[str, Any]]
                 ) -> dict[str, int]:
    """How many objects of each quota kind a (fully populated) create writes."""
    counts = dict.fromkeys(quotas.COLUMNS, 0)
    counts["load_balancer"] = 1
    for listener in listeners:
        counts["listener"] += 1
        for policy in listener.get("l7policies") or []:
            counts["l7policy"] += 1
            counts["l7rule"] += len(policy.get("rules") or [])
    # A pool named by its name alone is defined elsewhere in the request.
    for pool in filter(_defines, graph_pools(listeners, pools)):
        counts["pool"] += 1
        counts["health_monitor"] += 1 if pool.get("healthmonitor") is not None else 0
        counts["member"] += len(pool.get("members") or [])
    return counts


def graph_pools(listeners: list[dict[str, Any]], pools: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """Every pool a fully populated create defines or names, wherever it stands."""
    definitions = list(pools)
    for listener in listeners:
        definitions.append(listener.get("default_pool") or {})
        definitions += [p.get("redirect_pool") or {} for p in listener.get("l7policies") or []]
    return definitions


def graph_members(listeners: list[dict[str, Any]], pools: list[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """Every member a fully populated create defines, wherever its pool is defined."""
    return [mb for pool in graph_pools(listeners, pools) for mb in pool.get("members") or []]


def check_graph_references(store: CertificateStore | None, listeners: list[dict[str, Any]],
                           pools: list[dict[str, Any]], project_id: str, token: str | None
                           ) -> None:
    """The TLS references of a fully populated create, checked as the single creates do."""
    for listener in listeners:
        tls.check_references(store, tls.LISTENER_REFERENCES, listener, None, project_id, token)
    for pool in graph_pools(listeners, pools):
        tls.check_references(store, tls.POOL_REFERENCES, pool, None, project_id, token)


def _defines(pool: dict[str, Any] | None) -> bool:
    return bool(pool) and any(key != "name" for key in pool)  # type: ignore[union-attr]


def vip_of(lb: m.LoadBalancer) -> Vip:
    return Vip(lb.vip_address or "", lb.vip_port_id or "", lb.vip_subnet_id or "",
               lb.vip_network_id or "")
