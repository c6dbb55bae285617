"""The composition root: configuration -> typed settings -> drivers -> database -> parts.

Only this module and `ottava.config` know oslo.config. `load` reads the files once into a
ConfigOpts (which the oslo libraries keep reading: keystonemiddleware, oslo.policy,
oslo.messaging, oslo.middleware) and a frozen `ottava.settings.Standalone`; each `build_*`
hands a part only its slice of the settings. Drivers are loaded by name through stevedore
entry points and wrapped in `Bounded`, so no caller ever waits on a network without a time
limit. Commands (`ottava.cmd`) and the WSGI entry point (`ottava.wsgi`) ask this module for
the pieces they run.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import pathlib
import secrets
import socket
import typing
from concurrent import futures
from typing import TYPE_CHECKING, Any

import oslo_messaging
from oslo_config import cfg
from oslo_log import log as logging
from stevedore import driver as stevedore_driver

from ottava import config, rpc
from ottava import settings as s
from ottava.db.engine import Database
from ottava.domain.ports.inventory import Inventory
from ottava.domain.ports.requests import Dispatch, FailoverRequests, MaintenanceRequests
from ottava.drivers.bounded import Bounded, call_pool
from ottava.metrics import Registry
from ottava.periodic import PeriodicPart
from ottava.service.base import Deps
from ottava.service.container import Services

if TYPE_CHECKING:
    from oslo_policy import policy as oslo_policy

    from ottava.health.manager import HealthManager
    from ottava.housekeeping.manager import Housekeeping
    from ottava.worker.notifications import EventNotifier
    from ottava.worker.runner import OperationRunner

# Each process imports only the parts it runs (inside the build_* below): a housekeeper has
# no use for TaskFlow or the API, and on a slow host every import is seconds of start-up.

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Loaded:
    """One process's configuration: the ConfigOpts for the oslo libraries, and the typed
    settings for Ottava's own parts."""

    conf: cfg.ConfigOpts
    settings: s.Standalone


def load(config_files: list[str] | None = None, state_dir: str | None = None,
         overrides: dict[str, dict[str, Any]] | None = None,
         standalone: bool = False) -> Loaded:
    """The configuration from files, a state folder and explicit overrides; with
    `standalone`, the defaults of one host underneath (a file still overrides them)."""
    conf = config.load(config_files, state_dir, overrides)
    if standalone:
        bind_ip, bind_port = None, None
        if conf.controller_worker.compute_driver == "local":
            from ottava.drivers.linux import netlink

            bind_ip = str(netlink.GATEWAY)  # heartbeats arrive on the amphora bridge
        elif conf.controller_worker.compute_driver == "noop":
            bind_port = 0  # no amphora will send any: two noop standalones never collide
        config.standalone_defaults(conf, heartbeat_bind_ip=bind_ip, heartbeat_bind_port=bind_port)
    return Loaded(conf, config.read(conf))


def open_database(common: s.Common, upgrade: bool = False) -> Database:
    common.state_dir.mkdir(parents=True, exist_ok=True)
    db = Database(common.database_url)
    if upgrade:
        from ottava.db import migrate

        migrate.upgrade(db.engine)
    return db


def messaging(conf: cfg.ConfigOpts) -> Any:
    """The oslo.messaging transport of `transport_url`, between separate processes (one
    process uses `rpc.InProcessBus` instead)."""
    return oslo_messaging.get_rpc_transport(conf)


def dispatcher(transport: Any, common: s.Common) -> rpc.Dispatcher:
    return rpc.Dispatcher(transport, common.topic)


# --- drivers ------------------------------------------------------------------------------


def load_driver(capability: str, name: str, settings: s.DriverSettings) -> Any:
    """The driver `name` of entry point group `ottava.<capability>`, built with `settings`."""
    return stevedore_driver.DriverManager(
        namespace=f"ottava.{capability}", name=name, invoke_on_load=True,
        invoke_kwds={"settings": settings},
    ).driver


@dataclasses.dataclass(frozen=True)
class Drivers:
    """One process's drivers, each behind a time limit and bounded retries. The network
    driver serves as both the catalog and the plumbing."""

    compute: Any
    network: Any
    amphora: Any
    certificates: Any
    pool: futures.ThreadPoolExecutor

    def close(self) -> None:
        for driver in (self.compute, self.network, self.amphora, self.certificates):
            target = driver.target if isinstance(driver, Bounded) else driver
            if isinstance(target, PeriodicPart):  # a driver with jobs of its own
                target.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)


def inventories(drivers: Drivers) -> list[Inventory]:
    """The drivers that list what they made in a cloud (each seen through its Bounded)."""
    found: list[Inventory] = []
    for driver in (drivers.compute, drivers.network):
        target = driver.target if isinstance(driver, Bounded) else driver
        if isinstance(target, Inventory):
            found.append(typing.cast(Inventory, driver))  # its calls bounded, as every call
    return found


# The drivers that make things in a cloud; a housekeeping process loads them to sweep.
CLOUD_DRIVERS = frozenset({"nova", "neutron"})


def load_drivers(settings: s.DriverSettings) -> Drivers:
    pool = call_pool()

    def bounded(capability: str, name: str) -> Bounded:
        return Bounded(load_driver(capability, name, settings), settings.call_timeout,
                       settings.call_retries, pool)

    return Drivers(compute=bounded("compute", settings.compute),
                   network=bounded("network", settings.network),
                   amphora=bounded("amphora", settings.amphora),
                   certificates=bounded("certificates", settings.certificates), pool=pool)


# Net new containers (dicts, lists, tuples, objects) between young collections; Python's
# default is 700. See `tune_collector`.
YOUNG_COLLECTION_THRESHOLD = 100_000


def tune_collector() -> None:
    """Set the garbage collector for a long-running controller process, once every part is
    built (decisions 0026 and 0030):

    - everything made so far is frozen, out of its sight: the libraries, models, policies
      and templates loaded at start live as long as the process, yet each full collection
      walked all of them again;
    - a young collection waits for 100,000 net new containers instead of 700. A list of a
      thousand load balancers holds some 11,500 until it is answered: at 700 they set off
      sixteen young collections, which moved them to the old generations, and so every
      few lists a full collection over a heap that grows with the fleet (metrics, caches).
      Objects freed before the answer is sent are then never scanned at all.
    """
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


# --- the parts ----------------------------------------------------------------------------


def heartbeat_key(state_dir: pathlib.Path, configured: str | None) -> bytes:
    """The heartbeats' HMAC key: configured, or generated once in the state folder. The
    generated key is shared only by processes that share the folder: a deployment over
    several hosts must configure `[health_manager] heartbeat_key` everywhere."""
    if configured:
        return configured.encode()
    path = state_dir / "heartbeat.key"
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


def build_services(settings: s.ServiceSettings, db: Database, drivers: Drivers | None,
                   dispatch: Dispatch) -> Services:
    """The service layer. A process without drivers (the health manager and housekeeping,
    which only request failovers, pushes, rotations and spares) gets the noop network
    driver: it never allocates a VIP."""
    if drivers is None:
        network = load_driver("network", "noop", s.DriverSettings(state_dir=pathlib.Path()))
    else:
        network = drivers.network
    return Services(Deps(db=db, dispatch=dispatch, settings=settings, catalog=network,
                         plumbing=network,
                         certificates=drivers.certificates if drivers else None))


def build_runner(settings: s.WorkerProcess, db: Database, drivers: Drivers,
                 metrics: Registry | None, conf: cfg.ConfigOpts) -> OperationRunner:
    """The operation runner, counting into `metrics` and sending Octavia's event
    notifications as `[controller_worker] event_notifications` and
    `[oslo_messaging_notifications]` in `conf` say."""
    from ottava.worker.drivers import WorkerDeps
    from ottava.worker.runner import OperationRunner

    agent_boot = None
    if settings.drivers.amphora != "noop":
        from ottava.drivers.amphora.boot import AgentBootIssuer

        key = heartbeat_key(settings.common.state_dir, settings.agent.heartbeat_key)
        agent_boot = AgentBootIssuer(settings.common.state_dir / "ca", settings.agent,
                                     key.decode())
    deps = WorkerDeps(db=db, compute=drivers.compute, network=drivers.network,
                      amphora=drivers.amphora, settings=settings.worker,
                      agent_boot=agent_boot, certificates=drivers.certificates)
    return OperationRunner(deps, worker_name(), metrics,
                           event_notifications(conf, settings.worker, db))


def event_notifications(conf: cfg.ConfigOpts, settings: s.WorkerSettings,
                        db: Database) -> EventNotifier:
    """The worker's event notifications (`ottava.worker.notifications`): an oslo.messaging
    Notifier over the notification transport, whose driver, topics and transport_url are
    oslo.messaging's `[oslo_messaging_notifications]` options, as in Octavia. Nothing is
    sent when they are off, when no driver is named (oslo.messaging's default), or when the
    transport is `fake://` (standalone without a broker: nobody could listen)."""
    from ottava.worker import notifications

    if not settings.event_notifications:
        return notifications.NoNotifications()
    options = conf.oslo_messaging_notifications
    if not [name for name in options.driver if name != "noop"]:
        LOG.info("Event notifications are on but [oslo_messaging_notifications] names no "
                 "driver: none are sent")
        return notifications.NoNotifications()
    try:
        url = oslo_messaging.TransportURL.parse(conf, options.transport_url)
        if url.transport == "fake":
            LOG.info("Event notifications are not sent: there is no message broker "
                     "(set [oslo_messaging_notifications] transport_url to send them)")
            return notifications.NoNotifications()
        transport = oslo_messaging.get_notification_transport(conf)
    except Exception:
        LOG.exception("Event notifications are not sent: no notification transport")
        return notifications.NoNotifications()
    try:
        # oslo.messaging's default is to reconnect forever; a notification may wait less.
        retry = options.retry if options.retry >= 0 else notifications.SEND_RETRY
        notifier = oslo_messaging.Notifier(transport, retry=retry)
    except Exception:
        LOG.exception("Event notifications are not sent: no notifier")
        transport.cleanup()
        return notifications.NoNotifications()
    return notifications.Notifications(db, notifier, on_close=transport.cleanup)


def build_log_collector(settings: s.Standalone) -> tuple[s.Standalone, Any]:
    """`ottava standalone`'s syslog collector, bound (not yet started), and the settings with
    the amphorae's log targets pointing at it where the configuration names none; or no
    collector and the settings as they are."""
    if settings.log_collector is None:
        return settings, None
    from ottava.logs.collector import LogCollector
    from ottava.logs.store import LogStore

    collector = LogCollector(LogStore(settings.common.state_dir / "logs"),
                             settings.log_collector.host, settings.log_collector.port)
    logs = settings.agent.logs
    logs = dataclasses.replace(logs, tenant_targets=logs.tenant_targets or (collector.target,),
                               admin_targets=logs.admin_targets or (collector.target,))
    return dataclasses.replace(settings, agent=dataclasses.replace(settings.agent, logs=logs)
                               ), collector


def build_health_manager(settings: s.HealthManagerProcess, db: Database,
                         requests: FailoverRequests, metrics: Registry | None = None
                         ) -> HealthManager:
    """The health manager; with `metrics`, its counters and the fleet's state are read into
    that registry at every scrape."""
    from ottava.health.manager import HealthManager
    from ottava.health.metrics import FleetCollector, HealthCollector

    key = heartbeat_key(settings.common.state_dir, settings.health.heartbeat_key)
    manager = HealthManager(settings.health, db, key, requests)
    if metrics is not None:
        metrics.register(HealthCollector(manager))
        metrics.register(FleetCollector(db))
    return manager


def build_housekeeping(settings: s.HousekeepingProcess, db: Database, dispatch: Dispatch,
                       requests: MaintenanceRequests | None, metrics: Registry | None = None,
                       drivers: Drivers | None = None) -> Housekeeping:
    """`drivers`: those whose cloud resources are swept when nothing stands behind them."""
    from ottava.housekeeping.manager import Housekeeping

    housekeeping = Housekeeping(settings.housekeeping, db, dispatch, requests,
                                inventories(drivers) if drivers is not None else [])
    if metrics is not None:
        metrics.register(housekeeping)
    return housekeeping


def metrics_registry(settings: s.Common) -> Registry | None:
    """This process's metrics registry; None when `[metrics] enabled` is off."""
    return Registry() if settings.metrics is not None else None


def api_application(conf: cfg.ConfigOpts, settings: s.ApiSettings, services: Services,
                    metrics: Registry | None = None) -> Any:
    """The API's WSGI application: the Falcon app behind the token check of the
    auth_strategy, `/healthcheck` beside it, inside oslo.middleware's standard wrappers
    (request id, X-Forwarded-* for links behind a proxy), which read their options from
    `conf`. The body size limit is the Falcon app's own, so its 413 is a fault body. With
    `metrics` (the process's registry), `/metrics` serves it."""
    from oslo_middleware import http_proxy_to_wsgi, request_id

    from ottava import healthcheck
    from ottava.api import auth
    from ottava.api.app import create_app
    from ottava.api.policy import Policy

    app: Any = create_app(services, settings, Policy(conf), metrics)
    app = auth.wrap(app, settings, conf)
    if settings.healthcheck_enabled:
        app = healthcheck.WithHealthcheck(app, conf)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    return request_id.RequestId(app)


def key_manager_application(conf: cfg.ConfigOpts, api: s.ApiSettings, store: Any) -> Any:
    """Standalone's key manager: behind the same token check as the API when its
    auth_strategy is keystone (callers are who their tokens say), else Barbican's
    unauthenticated mode (the project in X-Project-Id)."""
    from ottava.api import auth
    from ottava.keymanager import app as key_manager_app

    keystone = api.auth_strategy == auth.KEYSTONE
    app = key_manager_app.create_app(store, auth_strategy="keystone" if keystone else "noauth")
    return auth.wrap(app, api, conf)


def get_enforcer() -> oslo_policy.Enforcer:
    """The oslo.policy.enforcer entry point (oslopolicy-policy-generator and friends)."""
    from ottava.api.policy import new_enforcer

    conf = config.new_conf()
    conf([], project="ottava")
    return new_enforcer(conf)


def worker_name() -> str:
    """Unique to one runner (host, process, and a nonce for several runners in one process):
    a claim recognises itself by it (`ottava.worker.runner.OperationRunner.claim`)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
