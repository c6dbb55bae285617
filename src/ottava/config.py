"""Configuration options, with Octavia's group and option names where the meaning is the same.

`ottava.conf` therefore reads like `octavia.conf`. `list_opts` feeds oslo-config-generator.
"""

from __future__ import annotations

from typing import Any

from oslo_config import cfg

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
]

worker_opts = [
    cfg.StrOpt("loadbalancer_topology", default="SINGLE", choices=["SINGLE", "ACTIVE_STANDBY"]),
    # The embedded default: amphorae are network namespaces on this host.
    cfg.StrOpt("compute_driver", default="local"),
    cfg.StrOpt("network_driver", default="local"),
    cfg.StrOpt("amphora_driver", default="rest"),
    cfg.IntOpt("workers", default=4, min=1, help="Operations run at once by one worker."),
    cfg.IntOpt("driver_call_timeout", default=60, help="Seconds a driver call may take."),
    cfg.IntOpt("driver_call_retries", default=3, help="Tries of a driver call that is retryable."),
]

haproxy_opts = [
    cfg.PortOpt("bind_port", default=9443, help="Port of the amphora agent's HTTPS API."),
    cfg.IntOpt("timeout_client_data", default=50000),
    cfg.IntOpt("timeout_member_connect", default=5000),
    cfg.IntOpt("timeout_member_data", default=50000),
    cfg.IntOpt("timeout_tcp_inspect", default=0),
    cfg.IntOpt("default_connection_limit", default=50000),
]

networking_opts = [
    cfg.ListOpt("reserved_ips", default=["169.254.169.254"]),
    cfg.BoolOpt("allow_vip_network_id", default=True),
    cfg.BoolOpt("allow_vip_subnet_id", default=True),
    cfg.BoolOpt("allow_vip_port_id", default=True),
    cfg.ListOpt("valid_vip_networks", default=[]),
]

quota_opts = [
    cfg.IntOpt(f"default_{name}_quota", default=-1)
    for name in (
        "load_balancer", "listener", "member", "pool", "health_monitor", "l7policy", "l7rule"
    )
]

certificate_opts = [
    cfg.IntOpt("cert_validity_time", default=2_592_000,
               help="Seconds an amphora agent's certificate is valid (30 days)."),
]

taskflow_opts = [
    cfg.StrOpt("persistence", default="database", choices=["database", "memory"],
               help="Where TaskFlow keeps flow progress: the service database, or memory."),
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
]

messaging_opts = [
    cfg.StrOpt("topic", default="ottava_provisioning"),
]

GROUPS: list[tuple[str | None, list[Any]]] = [
    (None, default_opts),
    ("api_settings", api_opts),
    ("network_api", network_api_opts),
    ("database", database_opts),
    ("controller_worker", worker_opts),
    ("haproxy_amphora", haproxy_opts),
    ("networking", networking_opts),
    ("quotas", quota_opts),
    ("certificates", certificate_opts),
    ("task_flow", taskflow_opts),
    ("health_manager", health_manager_opts),
    ("house_keeping", house_keeping_opts),
    ("keepalived_vrrp", keepalived_opts),
    ("oslo_messaging", messaging_opts),
]


def register(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    for group, opts in GROUPS:
        conf.register_opts(opts, group=group)
    return conf


def new_conf() -> cfg.ConfigOpts:
    """A fresh ConfigOpts with every Ottava option registered (tests make many)."""
    return register(cfg.ConfigOpts())


def list_opts() -> list[tuple[str | None, list[Any]]]:
    return [(group or "DEFAULT", opts) for group, opts in GROUPS]
