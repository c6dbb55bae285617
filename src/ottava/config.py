"""The configuration file: Octavia's group and option names, read once into typed settings.

The only module that knows oslo.config. `load` registers every option (Ottava's and those of
the oslo libraries and keystonemiddleware, whose objects the composition root builds from the
same `ConfigOpts`), reads the files and applies overrides; `read` turns the result into the
frozen `ottava.settings.Standalone`, from which `ottava.bootstrap` hands each part its slice.
So `ottava.conf` reads like `octavia.conf`. `list_opts` feeds oslo-config-generator.
"""

from __future__ import annotations

import datetime
import os
import pathlib
from typing import Any

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_log import log as logging
from oslo_policy import opts as policy_opts

from ottava import settings as s
from ottava.domain import rules
from ottava.render import haproxy as haproxy_render

MOZILLA_INTERMEDIATE = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
)

default_opts = [
    cfg.StrOpt("state_path", help="Folder for the SQLite database, CA and amphora state."),
]

api_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1"),
    cfg.PortOpt("bind_port", default=9876),
    cfg.StrOpt("auth_strategy", default="noauth", choices=["noauth", "keystone", "testing"]),
    cfg.StrOpt("api_base_uri", help="Base URL for links; the request's URL when unset."),
    cfg.StrOpt("pagination_max_limit", default="1000"),
    cfg.BoolOpt("allow_pagination", default=True),
    cfg.BoolOpt("allow_sorting", default=True),
    cfg.BoolOpt("allow_filtering", default=True),
    cfg.BoolOpt("allow_field_selection", default=True),
    cfg.DictOpt(
        "enabled_provider_drivers",
        default={
            "amphora": "The Octavia Amphora driver.",
            "octavia": "Deprecated alias of the Octavia Amphora driver.",
        },
    ),
    cfg.StrOpt("default_provider_driver", default="amphora"),
    cfg.BoolOpt("allow_tls_terminated_listeners", default=True),
    cfg.BoolOpt("allow_ping_health_monitors", default=True),
    cfg.BoolOpt("allow_prometheus_listeners", default=True),
    cfg.IntOpt("udp_connect_min_interval_health_monitor", default=3),
    cfg.StrOpt("default_listener_ciphers", default=MOZILLA_INTERMEDIATE),
    cfg.StrOpt("default_pool_ciphers", default=MOZILLA_INTERMEDIATE),
    cfg.StrOpt("tls_cipher_prohibit_list", default=""),
    cfg.ListOpt("default_listener_tls_versions", default=["TLSv1.2", "TLSv1.3"]),
    cfg.ListOpt("default_pool_tls_versions", default=["TLSv1.2", "TLSv1.3"]),
    cfg.StrOpt("minimum_tls_version", choices=["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]),
    cfg.ListOpt("default_listener_alpn_protocols", default=["h2", "http/1.1", "http/1.0"]),
    cfg.ListOpt("default_pool_alpn_protocols", default=["h2", "http/1.1", "http/1.0"]),
    cfg.BoolOpt("healthcheck_enabled", default=True),
    cfg.StrOpt("default_project_id", default="ottava",
               help="Project of noauth requests that carry no X-Project-Id header."),
]

network_api_opts = [
    cfg.HostAddressOpt("bind_host", default="127.0.0.1"),
    cfg.PortOpt("bind_port", default=9696),
]

database_opts = [
    cfg.StrOpt("connection", secret=True, help="SQLAlchemy URL; SQLite in state_path if unset."),
    # oslo.db's names, so an octavia.conf keeps its meaning: how long a worker's unit of work
    # is retried while the database does not answer.
    cfg.IntOpt("db_max_retries", default=20, min=0,
               help="Retries of a worker's database work after a lost connection (0: none)."),
    cfg.FloatOpt("db_retry_interval", default=1.0, min=0.0,
                 help="Seconds before the first retry; doubled for each one after."),
    cfg.FloatOpt("db_max_retry_interval", default=10.0, min=0.0,
                 help="The longest wait between two retries, in seconds."),
]

worker_opts = [
    cfg.StrOpt("loadbalancer_topology", default="SINGLE", choices=["SINGLE", "ACTIVE_STANDBY"]),
    # The embedded default: amphorae are network namespaces on this host.
    cfg.StrOpt("compute_driver", default="local"),
    cfg.StrOpt("network_driver", default="local"),
    cfg.StrOpt("amphora_driver", default="rest"),
    # Barbican's API: the cloud's (found through [service_auth]) or, on one host, the key
    # manager `ottava standalone` serves ([key_manager_api]).
    cfg.StrOpt("certificates_driver", default="barbican",
               help="Where listeners' and pools' TLS certificates are fetched from."),
    cfg.IntOpt("workers", default=4, min=1, help="Operations run at once by one worker."),
    cfg.IntOpt("driver_call_timeout", default=60, help="Seconds a driver call may take."),
    cfg.IntOpt("driver_call_retries", default=3, help="Tries of a driver call that is retryable."),
    # Octavia's option and default; nothing leaves until [oslo_messaging_notifications]
    # names a driver (oslo.messaging's default is none), as in Octavia.
    cfg.BoolOpt("event_notifications", default=True,
                help="Send octavia.loadbalancer.{create,update,delete}.end notifications "
                     "when a load balancer operation succeeds; [oslo_messaging_notifications] "
                     "says by which driver, on which topics and over which transport."),
    # How the `nova` compute driver boots amphorae (Octavia's names and defaults).
    cfg.StrOpt("amp_image_tag", default="",
               help="Glance tag of the amphora image; the newest active one is booted."),
    cfg.StrOpt("amp_image_owner_id",
               help="Only amphora images owned by this project are booted."),
    cfg.StrOpt("amp_flavor_id", default="", help="Nova flavor of amphorae."),
    cfg.ListOpt("amp_boot_network_list", default=[],
                help="Networks every amphora boots on; the first is the management network "
                     "the controller reaches its agent on."),
    cfg.ListOpt("amp_secgroup_list", default=[],
                help="Security groups of the amphorae's management ports."),
    cfg.StrOpt("amp_ssh_key_name", help="Nova key pair put in every amphora."),
    cfg.IntOpt("amp_active_retries", default=30, min=1,
               help="Checks of a booting amphora before it is declared failed."),
    cfg.IntOpt("amp_active_wait_sec", default=10, min=1,
               help="Seconds between those checks."),
]

nova_opts = [
    cfg.StrOpt("region_name", help="Region of Nova and Glance in the service catalog."),
    cfg.StrOpt("endpoint_type", default="public",
               choices=["public", "internal", "admin"],
               help="Interface of Nova and Glance in the service catalog."),
    cfg.StrOpt("availability_zone", help="Availability zone amphorae boot in."),
    cfg.BoolOpt("enable_anti_affinity", default=False,
                help="Boot the two amphorae of an ACTIVE_STANDBY load balancer in a server "
                     "group of their own, so that they do not share a host."),
    cfg.StrOpt("anti_affinity_policy", default="anti-affinity",
               choices=["anti-affinity", "soft-anti-affinity"],
               help="The server group's policy: must not, or should not, share a host."),
]

neutron_opts = [
    cfg.StrOpt("region_name", help="Region of Neutron in the service catalog."),
    cfg.StrOpt("endpoint_type", default="public",
               choices=["public", "internal", "admin"],
               help="Interface of Neutron in the service catalog."),
]

haproxy_opts = [
    cfg.PortOpt("bind_port", default=9443, help="Port of the amphora agent's HTTPS API."),
    cfg.IntOpt("timeout_client_data", default=50000),
    cfg.IntOpt("timeout_member_connect", default=5000),
    cfg.IntOpt("timeout_member_data", default=50000),
    cfg.IntOpt("timeout_tcp_inspect", default=0),
    cfg.IntOpt("default_connection_limit", default=50000),
    cfg.BoolOpt("connection_logging", default=True,
                help="Log every connection (and HTTP request) of the amphorae's listeners to "
                     "[amphora_agent] tenant_log_targets."),
    cfg.StrOpt("user_log_format", default=haproxy_render.OCTAVIA_LOG_FORMAT,
               help="HAProxy log-format of tenant flow logs; {{ project_id }} and "
                    "{{ lb_id }} are replaced by the load balancer's."),
]

amphora_agent_opts = [
    cfg.ListOpt("tenant_log_targets", default=[],
                help="host:port syslog targets of the amphorae's tenant flow logs "
                     "(`ottava standalone`: its own collector when empty)."),
    cfg.ListOpt("admin_log_targets", default=[],
                help="host:port syslog targets of the amphorae's admin logs (HAProxy's own "
                     "events)."),
    cfg.StrOpt("log_protocol", default="UDP", choices=["UDP", "TCP"],
               help="How logs reach the targets."),
]

log_collector_opts = [
    cfg.BoolOpt("enabled", default=False,
                help="Receive the amphorae's logs (syslog over UDP and TCP) and keep them per "
                     "load balancer for `ottava logs` (`ottava standalone`'s default: on)."),
    cfg.PortOpt("bind_port", default=10514,
                help="Port of the collector, on [health_manager] bind_ip."),
]

networking_opts = [
    cfg.ListOpt("reserved_ips", default=["169.254.169.254"]),
    cfg.BoolOpt("allow_vip_network_id", default=True),
    cfg.BoolOpt("allow_vip_subnet_id", default=True),
    cfg.BoolOpt("allow_vip_port_id", default=True),
    cfg.ListOpt("valid_vip_networks", default=[]),
    cfg.BoolOpt("allow_invisible_resource_usage", default=False,
                help="Let a load balancer use subnets, networks, ports, security groups and "
                     "QoS policies its project cannot see (looked up as Ottava's service user "
                     "instead of with the caller's token)."),
]

QUOTA_NAMES = ("load_balancer", "listener", "member", "pool", "health_monitor", "l7policy",
               "l7rule")
quota_opts = [cfg.IntOpt(f"default_{name}_quota", default=-1) for name in QUOTA_NAMES]

certificate_opts = [
    cfg.IntOpt("cert_validity_time", default=2_592_000,
               help="Seconds an amphora agent's certificate is valid (30 days)."),
    # Where the `barbican` certificates driver reads listeners' and pools' certificates.
    cfg.StrOpt("endpoint",
               help="Barbican's URL. Unset: the service catalog's (with [service_auth]), or "
                    "the local key manager of `ottava standalone` (without)."),
    cfg.StrOpt("region_name", help="Region of Barbican's endpoint in the catalog."),
    cfg.StrOpt("endpoint_type", default="public", help="Interface of Barbican's endpoint."),
    cfg.IntOpt("timeout", default=10, min=1, help="Seconds one call to Barbican may take."),
]

key_manager_api_opts = [
    cfg.BoolOpt("enabled", default=True,
                help="`ottava standalone` serves a Barbican-compatible key manager API."),
    cfg.HostAddressOpt("bind_host", default="127.0.0.1"),
    cfg.PortOpt("bind_port", default=9311),
]

# keystoneauth's password plugin, as Octavia's [service_auth]: how controller processes
# authenticate to Barbican (and, later, Nova, Neutron, Glance).
service_auth_opts = [
    cfg.StrOpt("auth_url"),
    cfg.StrOpt("username"),
    cfg.StrOpt("password", secret=True),
    cfg.StrOpt("project_name"),
    cfg.StrOpt("user_domain_name", default="Default"),
    cfg.StrOpt("project_domain_name", default="Default"),
]

taskflow_opts = [
    cfg.StrOpt("persistence", default="database", choices=["database", "memory"],
               help="Where TaskFlow keeps flow progress: in the operation's row of the service "
                    "database (a crashed worker's flow is resumed), or in memory."),
    cfg.StrOpt("engine", default="serial", choices=["serial", "parallel"]),
    cfg.IntOpt("max_workers", default=5),
]

health_manager_opts = [
    cfg.HostAddressOpt("bind_ip", default="127.0.0.1",
                       help="Address the health manager receives heartbeats on. Standalone "
                            "with local amphorae uses the amphora bridge's address."),
    cfg.PortOpt("bind_port", default=5555),
    cfg.ListOpt("controller_ip_port_list", default=[],
                help="host:port of every health manager, given to amphorae; bind_ip:bind_port "
                     "when empty."),
    cfg.StrOpt("heartbeat_key", secret=True,
               help="HMAC key of heartbeats; generated in state_path when unset."),
    cfg.FloatOpt("heartbeat_interval", default=10.0, min=0.1,
                 help="Seconds between an amphora's heartbeats (standalone: 1)."),
    cfg.FloatOpt("heartbeat_max_age", default=30.0, min=1.0,
                 help="Seconds a heartbeat may have been sent before (or, clocks being "
                      "what they are, after) it arrives; older ones are refused as stale "
                      "replays. Amphora and controller clocks must agree within this."),
    cfg.FloatOpt("heartbeat_timeout", default=60.0, min=0.5,
                 help="Seconds without a heartbeat before an amphora is failed over "
                      "(standalone: 3)."),
    cfg.FloatOpt("health_check_interval", default=3.0, min=0.1,
                 help="Seconds between searches for stale amphorae (standalone: 0.25)."),
    cfg.IntOpt("receiver_processes", default=2, min=0,
               help="Processes receiving and verifying heartbeats (sharing the port); 0: a "
                    "thread of the health manager (standalone's default)."),
    cfg.FloatOpt("health_update_interval", default=0.5, min=0.01,
                 help="Seconds heartbeats are gathered before one batched database write."),
    cfg.IntOpt("failover_threshold", min=1,
               help="Stop automatic failover when this many amphorae are stale at once."),
    cfg.FloatOpt("failover_threshold_ratio", default=0.5, min=0.0, max=1.0,
                 help="Stop automatic failover when more than this share of amphorae (of at "
                      "least failover_threshold_minimum) is stale at once: the controller's "
                      "network is the likelier culprit."),
    cfg.IntOpt("failover_threshold_minimum", default=4, min=1),
    cfg.FloatOpt("drift_repair_interval", default=10.0, min=0.0,
                 help="Seconds between two configuration pushes to one drifted amphora."),
]

keepalived_opts = [
    cfg.FloatOpt("vrrp_advert_int", default=1.0, min=0.01, max=255.0,
                 help="Seconds between VRRP adverts of an ACTIVE_STANDBY pair; the backup takes "
                      "the VIP after about three missed ones (standalone: 0.2)."),
]

house_keeping_opts = [
    cfg.FloatOpt("cleanup_interval", default=30.0, help="Seconds between purges."),
    cfg.IntOpt("load_balancer_expiry_age", default=604800,
               help="Seconds a DELETED load balancer's row is kept."),
    cfg.IntOpt("amphora_expiry_age", default=604800,
               help="Seconds a DELETED amphora's row is kept."),
    cfg.FloatOpt("cert_interval", default=3600.0,
                 help="Seconds between searches for amphora certificates to rotate."),
    cfg.IntOpt("cert_expiry_buffer", default=1209600,
               help="Rotate an amphora's certificate this many seconds before it expires."),
    cfg.IntOpt("spare_amphora_pool_size", default=0, min=0,
               help="Booted amphorae kept ready for new load balancers."),
    cfg.FloatOpt("spare_check_interval", default=30.0),
    cfg.FloatOpt("reconcile_interval", default=5.0,
                 help="Seconds between searches for operations whose worker died."),
    cfg.FloatOpt("operation_lease", default=30.0, min=1.0,
                 help="Seconds a worker's claim on a running operation lasts unless renewed."),
    cfg.FloatOpt("leftover_check_interval", default=300.0, min=1.0,
                 help="Seconds between searches for servers, server groups and ports the "
                      "cloud drivers made whose amphora or load balancer is gone."),
    cfg.FloatOpt("leftover_grace", default=600.0, min=0.0,
                 help="Seconds such a resource may exist before it is removed (a VIP port "
                      "is made a moment before its load balancer's row)."),
]

messaging_opts = [
    cfg.StrOpt("topic", default="ottava_provisioning"),
]

metrics_opts = [
    cfg.BoolOpt("enabled", default=True,
                help="Serve Prometheus metrics at /metrics: the API on its own port, the "
                     "worker, health manager and housekeeping processes on the ports below."),
    cfg.HostAddressOpt("bind_host", default="127.0.0.1",
                       help="Address the worker, health manager and housekeeping serve "
                            "/metrics on."),
    cfg.PortOpt("worker_port", default=9465),
    cfg.PortOpt("health_manager_port", default=9466),
    cfg.PortOpt("housekeeping_port", default=9467),
]

GROUPS: list[tuple[str | None, list[Any]]] = [
    (None, default_opts),
    ("api_settings", api_opts),
    ("network_api", network_api_opts),
    ("key_manager_api", key_manager_api_opts),
    ("service_auth", service_auth_opts),
    ("database", database_opts),
    ("controller_worker", worker_opts),
    ("nova", nova_opts),
    ("neutron", neutron_opts),
    ("haproxy_amphora", haproxy_opts),
    ("amphora_agent", amphora_agent_opts),
    ("log_collector", log_collector_opts),
    ("networking", networking_opts),
    ("quotas", quota_opts),
    ("certificates", certificate_opts),
    ("task_flow", taskflow_opts),
    ("health_manager", health_manager_opts),
    ("house_keeping", house_keeping_opts),
    ("keepalived_vrrp", keepalived_opts),
    ("oslo_messaging", messaging_opts),
    ("metrics", metrics_opts),
]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Ottava's options, and those of the libraries built from the same ConfigOpts."""
    for group, opts in GROUPS:
        conf.register_opts(opts, group=group)
    register_library_opts(conf)
    return conf


def register_library_opts(conf: cfg.ConfigOpts) -> None:
    """[keystone_authtoken], [oslo_policy], oslo.messaging's and oslo.log's options.

    Registered ahead of the objects that read them, so that they can be overridden before
    those are built. oslo.messaging registers some groups (metrics, tracing) on the global
    CONF only, yet reads them from the ConfigOpts it is given; Ottava never uses the global
    one."""
    from oslo_messaging import opts as oslo_messaging_opts
    from oslo_messaging._metrics import client as metrics
    from oslo_messaging._tracing import client as tracing
    from oslo_middleware import opts as middleware_opts

    groups = [
        *auth_token.list_opts(), *policy_opts.list_opts(), *oslo_messaging_opts.list_opts(),
        *middleware_opts.list_opts_sizelimit(), *middleware_opts.list_opts_healthcheck(),
        *middleware_opts.list_opts_http_proxy_to_wsgi(),
        ("oslo_messaging_tracing", tracing.oslo_messaging_tracing),
        ("oslo_messaging_metrics", metrics.oslo_messaging_metrics),
    ]
    for group, options in groups:
        conf.register_opts(options, group=group)
    # /healthcheck checks the database and the broker unless the operator names other checks.
    conf.set_default("backends", ["ottava_db_check", "ottava_broker_check"],
                     group="healthcheck")
    if "debug" not in conf:
        logging.register_options(conf)


def new_conf() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every option registered (tests make many)."""
    return register(cfg.ConfigOpts())


def default_state_dir() -> pathlib.Path:
    base = os.environ.get("XDG_DATA_HOME") or str(pathlib.Path.home() / ".local" / "share")
    return pathlib.Path(base) / "ottava"


def load(config_files: list[str] | None = None, state_dir: str | None = None,
         overrides: dict[str, dict[str, Any]] | None = None) -> cfg.ConfigOpts:
    """The configuration from files, a state folder and explicit overrides (group -> option
    -> value; "DEFAULT" for the default group)."""
    conf = new_conf()
    conf([], project="ottava", default_config_files=config_files or [])
    if state_dir:
        conf.set_override("state_path", state_dir)
    elif not conf.state_path:
        conf.set_override("state_path", str(default_state_dir()))
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf


def standalone_defaults(conf: cfg.ConfigOpts, heartbeat_bind_ip: str | None = None,
                        heartbeat_bind_port: int | None = None) -> None:
    """Defaults for one host (a configuration file still overrides them): heartbeats every
    second, failover after three silent seconds (looked for four times a second: one cheap
    indexed query), VRRP adverts every 0.2 s, heartbeats received in-process; with local
    amphorae, on the amphora bridge's address (`heartbeat_bind_ip`); with noop amphorae, on
    any free port (`heartbeat_bind_port` 0). The log collector runs beside the heartbeats."""
    # No broker: operations run on the process's own threads (`ottava.rpc.InProcessBus`).
    conf.set_default("transport_url", "fake://")
    conf.set_default("heartbeat_interval", 1.0, group="health_manager")
    conf.set_default("heartbeat_timeout", 3.0, group="health_manager")
    conf.set_default("health_check_interval", 0.25, group="health_manager")
    conf.set_default("receiver_processes", 0, group="health_manager")
    conf.set_default("drift_repair_interval", 5.0, group="health_manager")
    conf.set_default("vrrp_advert_int", 0.2, group="keepalived_vrrp")
    conf.set_default("enabled", True, group="log_collector")
    if heartbeat_bind_ip is not None:
        conf.set_default("bind_ip", heartbeat_bind_ip, group="health_manager")
    if heartbeat_bind_port is not None:
        conf.set_default("bind_port", heartbeat_bind_port, group="health_manager")
        conf.set_default("bind_port", heartbeat_bind_port, group="log_collector")


def list_opts() -> list[tuple[str | None, list[Any]]]:
    return [(group or "DEFAULT", opts) for group, opts in GROUPS]


# --- reading: option names -> typed settings --------------------------------------------------


def read(conf: cfg.ConfigOpts) -> s.Standalone:
    """Every setting, typed and frozen; each process takes its own slice of it."""
    state_dir = pathlib.Path(conf.state_path) if conf.state_path else default_state_dir()
    api = conf.api_settings
    providers = s.Providers(s.frozen_map(dict(api.enabled_provider_drivers)),
                            api.default_provider_driver)
    health = _health(conf)
    return s.Standalone(
        common=s.Common(state_dir=state_dir, database_url=_database_url(conf, state_dir),
                        topic=conf.oslo_messaging.topic, metrics=_metrics(conf)),
        api=s.ApiSettings(
            bind=s.Endpoint(api.bind_host, api.bind_port), auth_strategy=api.auth_strategy,
            default_project_id=api.default_project_id, base_uri=api.api_base_uri,
            pagination_max_limit=_max_limit(api.pagination_max_limit),
            healthcheck_enabled=api.healthcheck_enabled, providers=providers,
            max_request_body_size=conf.oslo_middleware.max_request_body_size),
        network_api=s.Endpoint(conf.network_api.bind_host, conf.network_api.bind_port),
        key_manager_api=(s.Endpoint(conf.key_manager_api.bind_host,
                                    conf.key_manager_api.bind_port)
                         if conf.key_manager_api.enabled else None),
        service=_service(conf, providers),
        drivers=_drivers(conf, state_dir),
        worker=s.WorkerSettings(
            threads=conf.controller_worker.workers,
            operation_lease=conf.house_keeping.operation_lease,
            taskflow_persistence=conf.task_flow.persistence,
            taskflow_engine=conf.task_flow.engine,
            taskflow_max_workers=conf.task_flow.max_workers,
            vrrp_advert_int=conf.keepalived_vrrp.vrrp_advert_int,
            event_notifications=conf.controller_worker.event_notifications,
            database_retry=s.DatabaseRetry(
                max_retries=conf.database.db_max_retries,
                interval=conf.database.db_retry_interval,
                max_interval=conf.database.db_max_retry_interval)),
        agent=s.AgentSettings(
            port=conf.haproxy_amphora.bind_port,
            cert_validity=datetime.timedelta(seconds=conf.certificates.cert_validity_time),
            heartbeat_targets=tuple(conf.health_manager.controller_ip_port_list)
            or (f"{health.bind.host}:{health.bind.port}",),
            heartbeat_interval=conf.health_manager.heartbeat_interval,
            heartbeat_key=health.heartbeat_key,
            logs=s.AgentLogSettings(
                tenant_targets=tuple(conf.amphora_agent.tenant_log_targets),
                admin_targets=tuple(conf.amphora_agent.admin_log_targets),
                protocol=conf.amphora_agent.log_protocol,
                user_log_format=conf.haproxy_amphora.user_log_format,
                connection_logging=conf.haproxy_amphora.connection_logging)),
        health=health,
        housekeeping=_housekeeping(conf),
        log_collector=(s.Endpoint(conf.health_manager.bind_ip, conf.log_collector.bind_port)
                       if conf.log_collector.enabled else None),
    )


def _database_url(conf: cfg.ConfigOpts, state_dir: pathlib.Path) -> str:
    if conf.database.connection:
        return str(conf.database.connection)
    return f"sqlite:///{state_dir / 'ottava.db'}"


def _max_limit(raw: str) -> int | None:
    """[api_settings] pagination_max_limit: a number, or "infinite" (or negative) for none."""
    if str(raw).lower() == "infinite":
        return None
    value = int(raw)
    return None if value < 0 else value


def _service(conf: cfg.ConfigOpts, providers: s.Providers) -> s.ServiceSettings:
    api, net, timeouts = conf.api_settings, conf.networking, conf.haproxy_amphora
    return s.ServiceSettings(
        tls=s.TlsDefaults(
            listener_ciphers=api.default_listener_ciphers,
            listener_versions=tuple(api.default_listener_tls_versions),
            listener_alpn=tuple(api.default_listener_alpn_protocols),
            pool_ciphers=api.default_pool_ciphers,
            pool_versions=tuple(api.default_pool_tls_versions),
            pool_alpn=tuple(api.default_pool_alpn_protocols),
            prohibited_ciphers=api.tls_cipher_prohibit_list,
            minimum_version=api.minimum_tls_version),
        listener_timeouts=s.ListenerTimeouts(
            timeout_client_data=timeouts.timeout_client_data,
            timeout_member_connect=timeouts.timeout_member_connect,
            timeout_member_data=timeouts.timeout_member_data,
            timeout_tcp_inspect=timeouts.timeout_tcp_inspect),
        vip=s.VipRules(
            reserved_ips=tuple(net.reserved_ips), allow_network_id=net.allow_vip_network_id,
            allow_subnet_id=net.allow_vip_subnet_id, allow_port_id=net.allow_vip_port_id,
            valid_networks=tuple(net.valid_vip_networks)),
        providers=providers,
        quotas=s.QuotaSettings(
            defaults=s.frozen_map({name: getattr(conf.quotas, f"default_{name}_quota")
                                   for name in QUOTA_NAMES}),
            enforced=api.auth_strategy != "noauth"),
        default_topology=conf.controller_worker.loadbalancer_topology,
        allow_tls_terminated_listeners=api.allow_tls_terminated_listeners,
        allow_ping_health_monitors=api.allow_ping_health_monitors,
        allow_prometheus_listeners=api.allow_prometheus_listeners,
        udp_connect_min_interval=api.udp_connect_min_interval_health_monitor,
        # What the amphorae can balance datagrams with: nftables on Ottava's own amphorae
        # (decision 0023); the noop driver stands for amphorae that can do anything.
        datagram_algorithms=(rules.ALGORITHMS if conf.controller_worker.amphora_driver == "noop"
                             else rules.DATAGRAM_ALGORITHMS),
    )


def _drivers(conf: cfg.ConfigOpts, state_dir: pathlib.Path) -> s.DriverSettings:
    worker = conf.controller_worker
    return s.DriverSettings(
        state_dir=state_dir, compute=worker.compute_driver, network=worker.network_driver,
        amphora=worker.amphora_driver, certificates=worker.certificates_driver,
        key_manager=_key_manager(conf), nova=_nova(conf),
        neutron=s.NeutronSettings(
            region_name=conf.neutron.region_name, endpoint_type=conf.neutron.endpoint_type,
            allow_invisible_resource_usage=conf.networking.allow_invisible_resource_usage),
        service_auth=_service_auth(conf),
        agent_port=conf.haproxy_amphora.bind_port,
        call_timeout=worker.driver_call_timeout, call_retries=worker.driver_call_retries)


def _nova(conf: cfg.ConfigOpts) -> s.NovaSettings:
    worker, nova = conf.controller_worker, conf.nova
    return s.NovaSettings(
        image_tag=worker.amp_image_tag, image_owner_id=worker.amp_image_owner_id,
        flavor_id=worker.amp_flavor_id, boot_networks=tuple(worker.amp_boot_network_list),
        security_groups=tuple(worker.amp_secgroup_list), ssh_key_name=worker.amp_ssh_key_name,
        availability_zone=nova.availability_zone, region_name=nova.region_name,
        endpoint_type=nova.endpoint_type, active_retries=worker.amp_active_retries,
        active_wait=float(worker.amp_active_wait_sec),
        enable_anti_affinity=nova.enable_anti_affinity,
        anti_affinity_policy=nova.anti_affinity_policy)


def _service_auth(conf: cfg.ConfigOpts) -> s.ServiceAuth | None:
    sa = conf.service_auth
    if not sa.auth_url:
        return None
    return s.ServiceAuth(auth_url=sa.auth_url, username=sa.username or "",
                         password=sa.password or "", project_name=sa.project_name or "",
                         user_domain_name=sa.user_domain_name,
                         project_domain_name=sa.project_domain_name)


def _key_manager(conf: cfg.ConfigOpts) -> s.KeyManagerSettings:
    certs, auth = conf.certificates, _service_auth(conf)
    endpoint = certs.endpoint
    if endpoint is None and auth is None:
        # No Keystone to find Barbican in: the key manager `ottava standalone` serves.
        kma = conf.key_manager_api
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(kma.bind_host, kma.bind_host)
        endpoint = f"http://[{host}]:{kma.bind_port}" if ":" in host else \
            f"http://{host}:{kma.bind_port}"
    return s.KeyManagerSettings(endpoint=endpoint, region_name=certs.region_name,
                                endpoint_type=certs.endpoint_type, auth=auth,
                                timeout=float(certs.timeout))


def _metrics(conf: cfg.ConfigOpts) -> s.MetricsSettings | None:
    m = conf.metrics
    if not m.enabled:
        return None
    return s.MetricsSettings(host=m.bind_host, worker_port=m.worker_port,
                             health_manager_port=m.health_manager_port,
                             housekeeping_port=m.housekeeping_port)


def _health(conf: cfg.ConfigOpts) -> s.HealthSettings:
    hm = conf.health_manager
    return s.HealthSettings(
        bind=s.Endpoint(hm.bind_ip, hm.bind_port),
        heartbeat_key=str(hm.heartbeat_key) if hm.heartbeat_key else None,
        heartbeat_timeout=hm.heartbeat_timeout, heartbeat_max_age=hm.heartbeat_max_age,
        check_interval=hm.health_check_interval,
        flush_interval=hm.health_update_interval, receiver_processes=hm.receiver_processes,
        drift_repair_interval=hm.drift_repair_interval,
        breaker=s.FailoverBreaker(hm.failover_threshold, hm.failover_threshold_ratio,
                                  hm.failover_threshold_minimum))


def _housekeeping(conf: cfg.ConfigOpts) -> s.HousekeepingSettings:
    hk = conf.house_keeping
    return s.HousekeepingSettings(
        cleanup_interval=hk.cleanup_interval,
        load_balancer_expiry_age=hk.load_balancer_expiry_age,
        amphora_expiry_age=hk.amphora_expiry_age, cert_interval=hk.cert_interval,
        cert_expiry_buffer=hk.cert_expiry_buffer, spare_pool_size=hk.spare_amphora_pool_size,
        spare_check_interval=hk.spare_check_interval,
        reconcile_interval=hk.reconcile_interval, operation_lease=hk.operation_lease,
        leftover_check_interval=hk.leftover_check_interval, leftover_grace=hk.leftover_grace)
