"""Every service, built once over the same dependencies."""

from __future__ import annotations

from ottava.service.amphorae import AmphoraService
from ottava.service.base import Deps
from ottava.service.catalog import (
    AvailabilityZoneProfileService,
    AvailabilityZoneService,
    FlavorProfileService,
    FlavorService,
)
from ottava.service.healthmonitors import HealthMonitorService
from ottava.service.l7 import L7PolicyService, L7RuleService
from ottava.service.listeners import ListenerService
from ottava.service.loadbalancers import LoadBalancerService
from ottava.service.members import MemberService
from ottava.service.pools import PoolService
from ottava.service.quotas import QuotaService
from ottava.service.reads import ReadService


class Services:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.reads = ReadService(deps)
        self.loadbalancers = LoadBalancerService(deps)
        self.listeners = ListenerService(deps)
        self.pools = PoolService(deps)
        self.members = MemberService(deps)
        self.healthmonitors = HealthMonitorService(deps)
        self.l7policies = L7PolicyService(deps)
        self.l7rules = L7RuleService(deps)
        self.quotas = QuotaService(deps)
        self.flavors = FlavorService(deps)
        self.flavorprofiles = FlavorProfileService(deps)
        self.availability_zones = AvailabilityZoneService(deps)
        self.availability_zone_profiles = AvailabilityZoneProfileService(deps)
        self.amphorae = AmphoraService(deps)
