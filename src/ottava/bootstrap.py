"""The composition root: configuration -> drivers (entry points) -> database -> services.

Nothing else constructs drivers or wires layers together; each command asks this module for
the pieces it runs.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import secrets
import socket
from typing import Any

from oslo_config import cfg
from oslo_log import log as logging
from stevedore import driver as stevedore_driver

from ottava import config, rpc
from ottava.db import migrate
from ottava.db.engine import Database
from ottava.domain.ports import AgentBootConfig
from ottava.service.base import Deps
from ottava.service.container import Services
from ottava.worker.drivers import AgentBootIssuer, WorkerDeps
from ottava.worker.runner import OperationRunner

LOG = logging.getLogger(__name__)


def default_state_dir() -> pathlib.Path:
    base = os.environ.get("XDG_DATA_HOME") or str(pathlib.Path.home() / ".local" / "share")
    return pathlib.Path(base) / "ottava"


def load_conf(config_files: list[str] | None = None, state_dir: str | None = None,
              overrides: dict[str, dict[str, Any]] | None = None) -> cfg.ConfigOpts:
    """Ottava's configuration from files, a state folder and explicit overrides."""
    conf = config.new_conf()
    logging.register_options(conf)
    conf([], project="ottava", default_config_files=config_files or [])
    if state_dir:
        conf.set_override("state_path", state_dir)
    elif not conf.state_path:
        conf.set_override("state_path", str(default_state_dir()))
    for group, values in (overrides or {}).items():
        for name, value in values.items():
            conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf


def database_url(conf: cfg.ConfigOpts) -> str:
    if conf.database.connection:
        return str(conf.database.connection)
    state = pathlib.Path(conf.state_path)
    state.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{state / 'ottava.db'}"


def load_driver(namespace: str, name: str, state_dir: str) -> Any:
    """The driver `name` of entry point group `ottava.<namespace>`, built with the state dir."""
    return stevedore_driver.DriverManager(
        namespace=f"ottava.{namespace}", name=name, invoke_on_load=True,
        invoke_kwds={"state_dir": state_dir},
    ).driver


class Drivers:
    """The three drivers of one process, loaded once by name from the configuration."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        worker = conf.controller_worker
        state = str(conf.state_path)
        self.compute = load_driver("compute", worker.compute_driver, state)
        self.network = load_driver("network", worker.network_driver, state)
        self.amphora = load_driver("amphora", worker.amphora_driver, state)
        self.agent_boot = (None if worker.amphora_driver == "noop"
                           else agent_boot_issuer(conf))


def standalone_defaults(conf: cfg.ConfigOpts) -> None:
    """Defaults for one host (a configuration file still overrides them): heartbeats every
    second, failover after three silent seconds (looked for four times a second: one cheap
    indexed query), VRRP adverts every 0.2 s, heartbeats received on the amphora bridge when
    amphorae are local namespaces."""
    conf.set_default("heartbeat_interval", 1.0, group="health_manager")
    conf.set_default("heartbeat_timeout", 3.0, group="health_manager")
    conf.set_default("health_check_interval", 0.25, group="health_manager")
    conf.set_default("receiver_processes", 0, group="health_manager")
    conf.set_default("drift_repair_interval", 5.0, group="health_manager")
    conf.set_default("vrrp_advert_int", 0.2, group="keepalived_vrrp")
    if conf.controller_worker.compute_driver == "local":
        from ottava.drivers.local import netlink

        conf.set_default("bind_ip", str(netlink.GATEWAY), group="health_manager")


def heartbeat_key(conf: cfg.ConfigOpts) -> bytes:
    """The heartbeats' HMAC key: configured, or generated once in the state folder. The
    generated key is shared only by processes that share the folder: a deployment over
    several hosts must configure `[health_manager] heartbeat_key` everywhere."""
    if conf.health_manager.heartbeat_key:
        return str(conf.health_manager.heartbeat_key).encode()
    path = pathlib.Path(conf.state_path) / "heartbeat.key"
    if not path.exists():
        LOG.warning("[health_manager] heartbeat_key is not set: using a key generated in %s "
                    "(set it when workers and health managers run on different hosts)", path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole, then linked into place: a process starting at the same moment sees
        # either no file or the complete key, and exactly one key wins.
        tmp = path.with_name(f".heartbeat.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def heartbeat_targets(conf: cfg.ConfigOpts) -> tuple[str, ...]:
    hm = conf.health_manager
    return tuple(hm.controller_ip_port_list) or (f"{hm.bind_ip}:{hm.bind_port}",)


def agent_boot_issuer(conf: cfg.ConfigOpts) -> AgentBootIssuer:
    """Issues each new amphora its agent's configuration, signed by the controller's CA
    (created in the state dir on first use), with where to send heartbeats."""
    from ottava.drivers.amphora import pki

    ca = pki.CertificateAuthority.load_or_create(pathlib.Path(conf.state_path) / "ca")
    validity = datetime.timedelta(seconds=conf.certificates.cert_validity_time)
    port = conf.haproxy_amphora.bind_port
    key = heartbeat_key(conf).decode()

    def issue(amphora_id: str) -> tuple[AgentBootConfig, datetime.datetime]:
        cert, private_key = ca.issue_server(amphora_id, validity)
        boot = AgentBootConfig(amphora_id=amphora_id, ca_pem=ca.cert_pem.decode(),
                               cert_pem=cert.decode(), key_pem=private_key.decode(), port=port,
                               heartbeat_targets=heartbeat_targets(conf), heartbeat_key=key,
                               heartbeat_interval=conf.health_manager.heartbeat_interval)
        return boot, pki.expires(cert)

    return issue


def open_database(conf: cfg.ConfigOpts, upgrade: bool = False) -> Database:
    db = Database(database_url(conf))
    if upgrade:
        migrate.upgrade(db.engine)
    return db


def build_services(conf: cfg.ConfigOpts, db: Database, drivers: Drivers | None,
                   dispatch: Any) -> Services:
    """The service layer. A process without drivers (the health manager, which only submits
    failovers and configuration pushes) gets the noop network driver: it never allocates a
    VIP."""
    network = (drivers.network if drivers is not None
               else load_driver("network", "noop", str(conf.state_path)))
    return Services(Deps(db=db, conf=conf, network=network, dispatch=dispatch))


def build_runner(conf: cfg.ConfigOpts, db: Database, drivers: Drivers) -> OperationRunner:
    worker = conf.controller_worker
    deps = WorkerDeps(db=db, compute=drivers.compute, network=drivers.network,
                      amphora=drivers.amphora, call_timeout=worker.driver_call_timeout,
                      call_retries=worker.driver_call_retries, agent_boot=drivers.agent_boot,
                      vrrp_advert_int=conf.keepalived_vrrp.vrrp_advert_int)
    return OperationRunner(deps, conf, worker_name())


def build_health_manager(conf: cfg.ConfigOpts, db: Database, services: Services) -> Any:
    from ottava.health.manager import HealthManager

    return HealthManager(conf, db, services, heartbeat_key(conf))


def build_housekeeping(conf: cfg.ConfigOpts, db: Database, dispatch: Any,
                       services: Services | None = None) -> Any:
    from ottava.housekeeping.manager import Housekeeping

    if services is None:
        services = build_services(conf, db, None, dispatch)
    return Housekeeping(conf, db, dispatch, rotate=services.amphorae.rotate_certificate,
                        create_spare=services.amphorae.create_spare)


def messaging(conf: cfg.ConfigOpts, in_process: bool) -> Any:
    """The oslo.messaging transport: in-process for standalone, else `transport_url`."""
    return rpc.transport(conf, url="fake://" if in_process else None)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
