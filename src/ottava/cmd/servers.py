"""Processes of the control plane: the API server, the worker, the health manager,
housekeeping, and standalone (all of them in one); each stops on SIGTERM.

Each process has one metrics registry (`ottava.metrics`): the API and standalone serve it
at the API's `/metrics`, the others on their own `[metrics]` port."""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import sys
import threading
from typing import Any

from cheroot import wsgi
from oslo_log import log as logging

from ottava import bootstrap, rpc
from ottava.keymanager import store as key_manager_store
from ottava.settings import DriverSettings, Standalone

LOG = logging.getLogger(__name__)


# Connections the kernel holds for the server while its threads are busy. cheroot's default
# is 5: a burst of a few dozen clients found the queue full and some were reset unanswered.
LISTEN_BACKLOG = 1024


def http_server(app: Any, host: str, port: int, threads: int = 16) -> wsgi.Server:
    server = wsgi.Server((host, port), app, numthreads=threads, timeout=60,
                         shutdown_timeout=2, request_queue_size=LISTEN_BACKLOG)
    server.prepare()
    return server


def listen(app: Any, host: str, port: int, what: str, threads: int = 16) -> wsgi.Server:
    """`http_server`, or the process ends (exit 2) naming the address it could not bind:
    another process (another standalone on this host) holds it."""
    try:
        return http_server(app, host, port, threads)
    except OSError as exc:
        print(f"ottava: cannot listen for the {what} on {host}:{port}: {exc}; another "
              f"process holds it (another Ottava on this host?): set another address",
              file=sys.stderr, flush=True)
        raise CannotStart(2) from exc


def stop_servers(*servers: wsgi.Server) -> None:
    """Stop HTTP servers at once; each waits at most its shutdown_timeout for open requests."""
    threads = [threading.Thread(target=s.stop, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def serve_in_thread(server: wsgi.Server, name: str) -> threading.Thread:
    thread = threading.Thread(target=server.serve, name=name, daemon=True)
    thread.start()
    return thread


def serve_metrics(registry: Any, settings: Any, port: int, name: str) -> wsgi.Server | None:
    """The process's /metrics on `[metrics] bind_host`:`port` (0: any free port), in its
    own thread (None when metrics are off). A port that is taken stops the process at start,
    naming it, as the API's does."""
    if registry is None or settings is None:
        return None
    server = listen(registry.wsgi_app(), settings.host, port, f"{name}'s metrics", threads=2)
    serve_in_thread(server, f"{name}-metrics")
    return server


def metrics_line(server: wsgi.Server | None) -> str:
    """What the ready line says of the metrics: where they are served."""
    if server is None:
        return ""
    host, port = server.bind_addr[:2]
    return f"; metrics on http://{host}:{port}/metrics"


def wait_for_signal() -> None:
    """Serve until SIGTERM or SIGINT. Every part is built by now, so the heap made at start
    is set aside from the garbage collector first."""
    bootstrap.tune_collector()
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        LOG.info("Signal %d received, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    stop.wait()


class CannotStart(SystemExit):
    pass


def load_drivers(settings: DriverSettings) -> bootstrap.Drivers:
    """The configured drivers, or a clear exit: the local ones need root (CAP_NET_ADMIN)."""
    try:
        return bootstrap.load_drivers(settings)
    except Exception as exc:  # any driver that cannot start ends the process with why
        print(f"ottava: cannot start the drivers (compute={settings.compute}, "
              f"network={settings.network}, amphora={settings.amphora}): {exc}\n"
              "The local drivers run amphorae as network namespaces and need root "
              "(CAP_NET_ADMIN); `ottava standalone --noop` runs the API without a data plane.",
              file=sys.stderr)
        raise CannotStart(2) from exc


def open_key_manager(conf: Any, settings: Standalone
                     ) -> tuple[wsgi.Server, key_manager_store.Store] | None:
    """The Barbican-compatible key manager of standalone, storing under
    <state_dir>/key-manager/, bound but not yet serving; None when `[key_manager_api]` is
    disabled. Returns the server and the store (closed after the server stops)."""
    if settings.key_manager_api is None:
        return None
    store = key_manager_store.Store(settings.common.state_dir / "key-manager")
    try:
        server = listen(bootstrap.key_manager_application(conf, settings.api, store),
                        settings.key_manager_api.host, settings.key_manager_api.port,
                        "key manager API", threads=4)
    except BaseException:
        store.close()
        raise
    return server, store


def check_key_manager_bind(settings: Standalone) -> None:
    """Exit before anything starts if the key manager would listen beyond loopback without
    Keystone: it then trusts X-Project-Id, so anyone who reached it would read every
    project's secrets."""
    api = settings.key_manager_api
    if api is not None and settings.api.auth_strategy != "keystone" and not _loopback(api.host):
        print(f"ottava: the key manager API is unauthenticated and must listen on a loopback "
              f"address, not {api.host}; in a cloud use Barbican and set [key_manager_api] "
              "enabled = false", file=sys.stderr)
        raise CannotStart(2)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_standalone(loaded: bootstrap.Loaded) -> None:
    """API, Neutron-compatible endpoint, Barbican-compatible key manager, worker, health
    manager and housekeeping in one process, with in-process messaging.

    Every address is bound before the health manager and housekeeping start and before the
    first request is served; one that is taken (another standalone on this host) ends the
    process at once, naming it, with what had started stopped again."""
    from ottava.api import neutron  # the standalone's own network API

    conf, settings = loaded.conf, loaded.settings
    check_key_manager_bind(settings)
    db = bootstrap.open_database(settings.common, upgrade=True)
    with contextlib.ExitStack() as started:
        started.callback(db.dispose)
        try:
            settings, log_collector = bootstrap.build_log_collector(settings)
        except OSError as exc:
            where = settings.log_collector
            print(f"ottava: cannot listen for the log collector on {where}: {exc}; another "
                  "process holds it (another Ottava on this host?): set [log_collector] "
                  "bind_port", file=sys.stderr, flush=True)
            raise CannotStart(2) from exc
        if log_collector is not None:
            log_collector.start()
            started.callback(log_collector.stop)
        drivers = load_drivers(settings.drivers)
        started.callback(drivers.close)
        metrics = bootstrap.metrics_registry(settings.common)  # all parts, served by the API
        runner = bootstrap.build_runner(settings.worker_process(), db, drivers, metrics, conf)
        runner.start()
        started.callback(runner.stop)
        dispatch = rpc.InProcessBus().serve(runner.run, settings.worker.threads)
        # At stop, the operations under way finish, their leases still renewed.
        started.callback(dispatch.close)
        resumed = runner.resume_unfinished()
        if resumed:
            LOG.info("Resumed %d unfinished operations", len(resumed))
        services = bootstrap.build_services(settings.service, db, drivers, dispatch)
        health = bootstrap.build_health_manager(settings.health_manager_process(), db,
                                                services.amphorae, metrics)
        housekeeping = bootstrap.build_housekeeping(settings.housekeeping_process(), db,
                                                    dispatch, services.amphorae, metrics,
                                                    drivers)
        bind, network_bind = settings.api.bind, settings.network_api
        servers: list[wsgi.Server] = []
        try:
            api = listen(bootstrap.api_application(conf, settings.api, services, metrics),
                         bind.host, bind.port, "API")
            servers.append(api)
            network_api = listen(neutron.create_app(drivers.network), network_bind.host,
                                 network_bind.port, "network API", threads=4)
            servers.append(network_api)
            key_manager = open_key_manager(conf, settings)
        except BaseException:
            # A bound server holds worker threads that would keep the process alive.
            stop_servers(*servers)
            raise
        if key_manager is not None:
            started.callback(key_manager[1].close)  # the store, once its server stopped
            servers.append(key_manager[0])
        health.start()
        started.callback(health.stop)
        housekeeping.start()
        started.callback(housekeeping.stop)
        started.callback(stop_servers, *servers)
        serve_in_thread(api, "api")
        serve_in_thread(network_api, "network-api")
        if key_manager is not None:
            serve_in_thread(key_manager[0], "key-manager-api")
        LOG.info("Ottava standalone: API on http://%s:%d, network API on http://%s:%d, state "
                 "in %s", bind.host, api.bind_addr[1], network_bind.host,
                 network_api.bind_addr[1], settings.common.state_dir)
        key_manager_line = ""
        if key_manager is not None and settings.key_manager_api is not None:
            key_manager_line = (f" key manager API http://{settings.key_manager_api.host}:"
                                f"{key_manager[0].bind_addr[1]}")
        logs_line = f" logs {log_collector.target}" if log_collector is not None else ""
        print(f"ottava standalone: API http://{bind.host}:{api.bind_addr[1]} "
              f"network API http://{network_bind.host}:{network_api.bind_addr[1]}"
              f"{key_manager_line}{logs_line}", flush=True)
        wait_for_signal()


def run_api(loaded: bootstrap.Loaded) -> None:
    """The API alone, casting operations to workers over `transport_url`."""
    conf, settings = loaded.conf, loaded.settings.api_process()
    db = bootstrap.open_database(settings.common)
    drivers = load_drivers(settings.drivers)
    transport = bootstrap.messaging(conf)
    dispatch = bootstrap.dispatcher(transport, settings.common)
    services = bootstrap.build_services(settings.service, db, drivers, dispatch)
    bind = settings.api.bind
    metrics = bootstrap.metrics_registry(settings.common)
    api = listen(bootstrap.api_application(conf, settings.api, services, metrics),
                 bind.host, bind.port, "API")
    serve_in_thread(api, "api")
    print(f"ottava api: http://{bind.host}:{api.bind_addr[1]}", flush=True)
    try:
        wait_for_signal()
    finally:
        api.stop()
        dispatch.close()
        transport.cleanup()
        drivers.close()
        db.dispose()


def run_health_manager(loaded: bootstrap.Loaded) -> None:
    """A health manager: heartbeats in, statuses and statistics out, failovers cast to
    workers over `transport_url`."""
    settings = loaded.settings
    db = bootstrap.open_database(settings.common)
    transport = bootstrap.messaging(loaded.conf)
    dispatch = bootstrap.dispatcher(transport, settings.common)
    services = bootstrap.build_services(settings.service, db, None, dispatch)
    metrics = bootstrap.metrics_registry(settings.common)
    health = bootstrap.build_health_manager(settings.health_manager_process(), db,
                                            services.amphorae, metrics)
    # Bound before any work starts: a port that is taken stops the process with nothing
    # to undo.
    metrics_server = serve_metrics(metrics, settings.common.metrics,
                                   _port(settings, "health_manager_port"), "health-manager")
    health.start()
    print(f"ottava health-manager: heartbeats on {health.address[0]}:{health.address[1]}"
          f"{metrics_line(metrics_server)}", flush=True)
    try:
        wait_for_signal()
    finally:
        stop_servers(*filter(None, [metrics_server]))
        health.stop()
        dispatch.close()
        transport.cleanup()
        db.dispose()


def run_housekeeping(loaded: bootstrap.Loaded) -> None:
    """Housekeeping: the reconciler, the purge, certificate rotation and the spares pool,
    casting what it starts to workers over `transport_url`."""
    settings = loaded.settings
    db = bootstrap.open_database(settings.common)
    transport = bootstrap.messaging(loaded.conf)
    dispatch = bootstrap.dispatcher(transport, settings.common)
    services = bootstrap.build_services(settings.service, db, None, dispatch)
    metrics = bootstrap.metrics_registry(settings.common)
    # The cloud drivers, to sweep what they made; the local ones keep nothing to sweep.
    drivers = load_drivers(settings.drivers) if bootstrap.CLOUD_DRIVERS & {
        settings.drivers.compute, settings.drivers.network} else None
    housekeeping = bootstrap.build_housekeeping(settings.housekeeping_process(), db, dispatch,
                                                services.amphorae, metrics, drivers)
    metrics_server = serve_metrics(metrics, settings.common.metrics,
                                   _port(settings, "housekeeping_port"), "housekeeping")
    housekeeping.start()
    print(f"ottava housekeeping: running{metrics_line(metrics_server)}", flush=True)
    try:
        wait_for_signal()
    finally:
        stop_servers(*filter(None, [metrics_server]))
        housekeeping.stop()
        if drivers is not None:
            drivers.close()
        dispatch.close()
        transport.cleanup()
        db.dispose()


def run_worker(loaded: bootstrap.Loaded) -> None:
    """A worker consuming operations from `transport_url`."""
    settings = loaded.settings.worker_process()
    db = bootstrap.open_database(settings.common)
    drivers = load_drivers(settings.drivers)
    transport = bootstrap.messaging(loaded.conf)
    metrics = bootstrap.metrics_registry(settings.common)
    runner = bootstrap.build_runner(settings, db, drivers, metrics, loaded.conf)
    # Bound before the first claim: a port that is taken stops the process holding none.
    metrics_server = serve_metrics(metrics, settings.common.metrics,
                                   _port(settings, "worker_port"), "worker")
    runner.start()
    consumer = rpc.server(transport, settings.common.topic, runner.run, runner.name)
    consumer.start(override_pool_size=settings.worker.threads)
    print(f"ottava worker: consuming operations{metrics_line(metrics_server)}", flush=True)
    try:
        wait_for_signal()
    finally:
        stop_servers(*filter(None, [metrics_server]))
        consumer.stop()
        # The operations under way finish (their leases still renewed, their notifications
        # still sent) before the runner stops.
        consumer.wait()
        runner.stop()
        transport.cleanup()
        drivers.close()
        db.dispose()


def _port(settings: Any, name: str) -> int:
    """`[metrics] <name>`, or 0 when metrics are off (then nothing is served)."""
    metrics = settings.common.metrics
    return int(getattr(metrics, name)) if metrics is not None else 0
