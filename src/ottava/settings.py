"""Ottava's settings as typed, frozen values, grouped by the part of a process that reads them.

`ottava.config` reads them once from the configuration files (Octavia's group and option
names) and `ottava.bootstrap` hands each part only its slice: the service layer gets
`ServiceSettings`, the health manager `HealthSettings`, and so on. Each process has one object
of its own (`ApiProcess`, `WorkerProcess`, `HealthManagerProcess`, `HousekeepingProcess`,
`Standalone`); the amphora agent's is `ottava.wire.agent.AgentConfig`, written by the compute
driver. Nothing here knows where the values came from, and nothing below the composition root
reads a configuration file.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

V = TypeVar("V")


def frozen_map(values: Mapping[str, V] | None = None) -> Mapping[str, V]:
    """A read-only copy of `values`, for dict-valued settings of frozen dataclasses."""
    return MappingProxyType(dict(values or {}))


@dataclasses.dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


# --- the service layer (what the API's use cases check and default) ----------------------


@dataclasses.dataclass(frozen=True)
class TlsDefaults:
    """TLS values filled in for TERMINATED_HTTPS listeners and TLS pools, and the limits
    every TLS request must keep."""

    listener_ciphers: str
    listener_versions: tuple[str, ...]
    listener_alpn: tuple[str, ...]
    pool_ciphers: str
    pool_versions: tuple[str, ...]
    pool_alpn: tuple[str, ...]
    prohibited_ciphers: str = ""
    minimum_version: str | None = None


@dataclasses.dataclass(frozen=True)
class ListenerTimeouts:
    """A listener's timeouts when the request leaves them out, in milliseconds."""

    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0

    def as_fields(self) -> dict[str, int]:
        """The defaults by the listener field they fill."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class VipRules:
    """Which ways of naming a VIP are allowed, and which addresses are never members."""

    reserved_ips: tuple[str, ...] = ("169.254.169.254",)
    allow_network_id: bool = True
    allow_subnet_id: bool = True
    allow_port_id: bool = True
    valid_networks: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Providers:
    enabled: Mapping[str, str]  # name -> description
    default: str = "amphora"


@dataclasses.dataclass(frozen=True)
class QuotaSettings:
    defaults: Mapping[str, int]  # quota column -> limit (-1: unlimited)
    # Octavia enforces no quota under auth_strategy = noauth (every caller is an admin).
    enforced: bool = False


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    tls: TlsDefaults
    listener_timeouts: ListenerTimeouts
    vip: VipRules
    providers: Providers
    quotas: QuotaSettings
    default_topology: str = "SINGLE"
    allow_tls_terminated_listeners: bool = True
    allow_ping_health_monitors: bool = True
    allow_prometheus_listeners: bool = True
    udp_connect_min_interval: int = 3  # seconds, the least delay of a UDP-CONNECT monitor
    # lb_algorithm values UDP and SCTP pools may take: what the amphorae can honour.
    datagram_algorithms: frozenset[str] = frozenset(
        {"ROUND_ROBIN", "SOURCE_IP", "SOURCE_IP_PORT"})


# --- the API process's HTTP side ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    bind: Endpoint
    auth_strategy: str = "noauth"  # noauth | keystone | testing
    default_project_id: str = "ottava"  # noauth requests without X-Project-Id
    base_uri: str | None = None  # links' base; the request's URL when None
    pagination_max_limit: int | None = 1000  # None: no cap
    healthcheck_enabled: bool = True
    max_request_body_size: int = 114_688  # bytes; larger bodies are answered 413
    providers: Providers = Providers(frozen_map({"amphora": "The Octavia Amphora driver."}))


# --- drivers, workers, amphorae --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServiceAuth:
    """How a controller process authenticates to other OpenStack services (Octavia's
    `[service_auth]`, keystoneauth's password plugin)."""

    auth_url: str
    username: str
    password: str
    project_name: str
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"


@dataclasses.dataclass(frozen=True)
class KeyManagerSettings:
    """Where TLS certificates are read from (Octavia's `[certificates]`): a Barbican, or the
    Barbican-compatible key manager of `ottava standalone`."""

    endpoint: str | None = None  # None: Barbican's endpoint from the service catalog
    region_name: str | None = None
    endpoint_type: str = "public"
    # None: no Keystone; each call names its project in X-Project-Id (Barbican's
    # unauthenticated mode, which the local key manager speaks).
    auth: ServiceAuth | None = None
    timeout: float = 10.0  # seconds one HTTP call may take


@dataclasses.dataclass(frozen=True)
class NovaSettings:
    """How the `nova` compute driver boots amphorae: Octavia's `[controller_worker] amp_*`
    options and `[nova]`."""

    image_tag: str = ""  # the newest active Glance image with this tag is booted
    image_owner_id: str | None = None  # only images of this project (None: any visible)
    flavor_id: str = ""
    boot_networks: tuple[str, ...] = ()  # network ids; the first is the management network
    security_groups: tuple[str, ...] = ()  # names or ids, on the management port
    ssh_key_name: str | None = None
    availability_zone: str | None = None
    region_name: str | None = None
    endpoint_type: str = "public"
    # A server not ACTIVE after active_retries * active_wait seconds has failed.
    active_retries: int = 30
    active_wait: float = 10.0
    # ACTIVE_STANDBY: a server group per load balancer keeps its amphorae apart.
    enable_anti_affinity: bool = False
    anti_affinity_policy: str = "anti-affinity"  # or "soft-anti-affinity"


@dataclasses.dataclass(frozen=True)
class NeutronSettings:
    """Where the `neutron` network driver finds Neutron (Octavia's `[neutron]`)."""

    region_name: str | None = None
    endpoint_type: str = "public"
    # Look subnets, networks, ports, security groups and QoS policies up as Ottava's service
    # user instead of as the caller ([networking] allow_invisible_resource_usage).
    allow_invisible_resource_usage: bool = False


@dataclasses.dataclass(frozen=True)
class DriverSettings:
    """Which driver of each capability a process loads, and what they are built with."""

    state_dir: pathlib.Path
    compute: str = "local"
    network: str = "local"
    amphora: str = "rest"
    certificates: str = "barbican"
    key_manager: KeyManagerSettings = KeyManagerSettings()
    nova: NovaSettings = NovaSettings()
    neutron: NeutronSettings = NeutronSettings()
    service_auth: ServiceAuth | None = None  # how cloud drivers reach Keystone's catalog
    agent_port: int = 9443  # the amphora agent's HTTPS port, dialled by the REST driver
    call_timeout: float = 60.0  # seconds one driver call may take
    call_retries: int = 3  # tries of a call that failed in a way worth retrying


@dataclasses.dataclass(frozen=True)
class AgentLogSettings:
    """Where amphorae send HAProxy's syslog lines (Octavia's log offloading)."""

    tenant_targets: tuple[str, ...] = ()  # "host:port": flow logs
    admin_targets: tuple[str, ...] = ()  # "host:port": HAProxy's own events
    protocol: str = "UDP"  # or "TCP"
    user_log_format: str = ""  # empty: the renderer's default, Octavia's format
    connection_logging: bool = True


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    """What every amphora's agent is born with, besides its identity and certificate."""

    port: int = 9443
    cert_validity: datetime.timedelta = datetime.timedelta(days=30)
    heartbeat_targets: tuple[str, ...] = ()  # "host:port" of every health manager
    heartbeat_interval: float = 10.0
    heartbeat_key: str | None = None  # None: the one generated in the state folder
    logs: AgentLogSettings = AgentLogSettings()


@dataclasses.dataclass(frozen=True)
class DatabaseRetry:
    """How long a worker rides out a database that does not answer (oslo.db's `[database]`
    db_max_retries, db_retry_interval, db_max_retry_interval): with these defaults about
    three minutes before a unit of work gives up."""

    max_retries: int = 20
    interval: float = 1.0  # seconds before the first retry; doubled each time after
    max_interval: float = 10.0


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    threads: int = 4  # operations one worker runs at once
    operation_lease: float = 30.0  # seconds a claim lasts unless renewed
    taskflow_persistence: str = "database"  # database | memory
    taskflow_engine: str = "serial"  # serial | parallel
    taskflow_max_workers: int = 5
    vrrp_advert_int: float = 1.0  # seconds between VRRP adverts of a pair
    # octavia.loadbalancer.*.end notifications (`ottava.worker.notifications`); sent only
    # when the process also has a notification transport and driver.
    event_notifications: bool = True
    database_retry: DatabaseRetry = DatabaseRetry()


# --- health manager and housekeeping ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FailoverBreaker:
    threshold: int | None = None
    ratio: float = 0.5
    minimum: int = 4


@dataclasses.dataclass(frozen=True)
class HealthSettings:
    bind: Endpoint
    heartbeat_key: str | None = None  # None: generated in the state folder
    heartbeat_timeout: float = 60.0
    heartbeat_max_age: float = 30.0  # older heartbeats are refused as stale
    check_interval: float = 3.0  # seconds between searches for stale amphorae
    flush_interval: float = 0.5  # seconds heartbeats gather before one batched write
    receiver_processes: int = 2  # 0: a thread of the health manager
    drift_repair_interval: float = 10.0
    breaker: FailoverBreaker = FailoverBreaker()


@dataclasses.dataclass(frozen=True)
class HousekeepingSettings:
    cleanup_interval: float = 30.0
    load_balancer_expiry_age: float = 604800.0
    amphora_expiry_age: float = 604800.0
    cert_interval: float = 3600.0
    cert_expiry_buffer: float = 1209600.0
    spare_pool_size: int = 0
    spare_check_interval: float = 30.0
    reconcile_interval: float = 5.0
    operation_lease: float = 30.0
    leftover_check_interval: float = 300.0  # cloud resources nothing stands behind
    leftover_grace: float = 600.0  # seconds one may exist before its row does


# --- one object per process ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Common:
    """What every controller process shares: its state folder, database and message topic,
    and where the processes without an API serve their /metrics."""

    state_dir: pathlib.Path
    database_url: str
    topic: str = "ottava_provisioning"
    metrics: MetricsSettings | None = None  # None: no /metrics port of their own


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    """`[metrics]`: the address the worker, health manager and housekeeping processes serve
    Prometheus' /metrics on (the API serves it on its own port; standalone only there)."""

    host: str = "127.0.0.1"
    worker_port: int = 9465
    health_manager_port: int = 9466
    housekeeping_port: int = 9467


@dataclasses.dataclass(frozen=True)
class Standalone:
    """Everything: `ottava standalone` runs every part in one process."""

    common: Common
    api: ApiSettings
    network_api: Endpoint
    key_manager_api: Endpoint | None  # the Barbican-compatible key manager; None: not served
    service: ServiceSettings
    drivers: DriverSettings
    worker: WorkerSettings
    agent: AgentSettings
    health: HealthSettings
    housekeeping: HousekeepingSettings
    # Where `ottava standalone` collects its amphorae's logs (None: it does not).
    log_collector: Endpoint | None = None

    def api_process(self) -> ApiProcess:
        return ApiProcess(self.common, self.api, self.service, self.drivers)

    def worker_process(self) -> WorkerProcess:
        return WorkerProcess(self.common, self.drivers, self.worker, self.agent)

    def health_manager_process(self) -> HealthManagerProcess:
        return HealthManagerProcess(self.common, self.health)

    def housekeeping_process(self) -> HousekeepingProcess:
        return HousekeepingProcess(self.common, self.housekeeping)


@dataclasses.dataclass(frozen=True)
class ApiProcess:
    common: Common
    api: ApiSettings
    service: ServiceSettings
    drivers: DriverSettings  # the network catalog and plumbing, for VIPs and subnets


@dataclasses.dataclass(frozen=True)
class WorkerProcess:
    common: Common
    drivers: DriverSettings
    worker: WorkerSettings
    agent: AgentSettings


@dataclasses.dataclass(frozen=True)
class HealthManagerProcess:
    common: Common
    health: HealthSettings


@dataclasses.dataclass(frozen=True)
class HousekeepingProcess:
    common: Common
    housekeeping: HousekeepingSettings
