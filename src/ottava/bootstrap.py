"""The composition root: configuration -> drivers (entry points) -> database -> services.

Nothing else constructs drivers or wires layers together; each command asks this module for
the pieces it runs.
"""

from __future__ import annotations

import datetime
import os
import pathlib
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


def agent_boot_issuer(conf: cfg.ConfigOpts) -> AgentBootIssuer:
    """Issues each new amphora its agent's configuration, signed by the controller's CA
    (created in the state dir on first use)."""
    from ottava.drivers.amphora import pki

    ca = pki.CertificateAuthority.load_or_create(pathlib.Path(conf.state_path) / "ca")
    validity = datetime.timedelta(seconds=conf.certificates.cert_validity_time)
    port = conf.haproxy_amphora.bind_port

    def issue(amphora_id: str) -> tuple[AgentBootConfig, datetime.datetime]:
        cert, key = ca.issue_server(amphora_id, validity)
        boot = AgentBootConfig(amphora_id=amphora_id, ca_pem=ca.cert_pem.decode(),
                               cert_pem=cert.decode(), key_pem=key.decode(), port=port)
        return boot, pki.expires(cert)

    return issue


def open_database(conf: cfg.ConfigOpts, upgrade: bool = False) -> Database:
    db = Database(database_url(conf))
    if upgrade:
        migrate.upgrade(db.engine)
    return db


def build_services(conf: cfg.ConfigOpts, db: Database, drivers: Drivers,
                   dispatch: Any) -> Services:
    return Services(Deps(db=db, conf=conf, network=drivers.network, dispatch=dispatch))


def build_runner(conf: cfg.ConfigOpts, db: Database, drivers: Drivers) -> OperationRunner:
    worker = conf.controller_worker
    deps = WorkerDeps(db=db, compute=drivers.compute, network=drivers.network,
                      amphora=drivers.amphora, call_timeout=worker.driver_call_timeout,
                      call_retries=worker.driver_call_retries, agent_boot=drivers.agent_boot)
    return OperationRunner(deps, conf)


def messaging(conf: cfg.ConfigOpts, in_process: bool) -> Any:
    """The oslo.messaging transport: in-process for standalone, else `transport_url`."""
    return rpc.transport(conf, url="fake://" if in_process else None)


def worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
