"""Processes of the control plane: the API server, the worker, the health manager,
housekeeping, and standalone (all of them in one); each stops on SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from cheroot import wsgi
from oslo_config import cfg
from oslo_log import log as logging

from ottava import bootstrap, rpc
from ottava.api import neutron
from ottava.api.app import create_app

LOG = logging.getLogger(__name__)


def http_server(app: Any, host: str, port: int, threads: int = 16) -> wsgi.Server:
    server = wsgi.Server((host, port), app, numthreads=threads, timeout=60,
                         shutdown_timeout=2)
    server.prepare()
    return server


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


def wait_for_signal() -> None:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        LOG.info("Signal %d received, stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    stop.wait()


class CannotStart(SystemExit):
    pass


def load_drivers(conf: cfg.ConfigOpts) -> bootstrap.Drivers:
    """The configured drivers, or a clear exit: the local ones need root (CAP_NET_ADMIN)."""
    try:
        return bootstrap.Drivers(conf)
    except Exception as exc:  # any driver that cannot start ends the process with why
        worker = conf.controller_worker
        print(f"ottava: cannot start the drivers (compute={worker.compute_driver}, "
              f"network={worker.network_driver}, amphora={worker.amphora_driver}): {exc}\n"
              "The local drivers run amphorae as network namespaces and need root "
              "(CAP_NET_ADMIN); `ottava standalone --noop` runs the API without a data plane.",
              file=sys.stderr)
        raise CannotStart(2) from exc


def run_standalone(conf: cfg.ConfigOpts) -> None:
    """API, Neutron-compatible endpoint, worker and health manager in one process, with
    in-process messaging."""
    bootstrap.standalone_defaults(conf)
    db = bootstrap.open_database(conf, upgrade=True)
    drivers = load_drivers(conf)
    transport = bootstrap.messaging(conf, in_process=True)
    runner = bootstrap.build_runner(conf, db, drivers)
    consumer = rpc.server(conf, transport, runner.run, bootstrap.worker_name())
    consumer.start(override_pool_size=conf.controller_worker.workers)
    resumed = runner.resume_unfinished()
    if resumed:
        LOG.info("Resumed %d unfinished operations", len(resumed))
    dispatcher = rpc.Dispatcher(conf, transport)
    services = bootstrap.build_services(conf, db, drivers, dispatcher)
    health = bootstrap.build_health_manager(conf, db, services)
    health.start()
    housekeeping = bootstrap.build_housekeeping(conf, db, dispatcher, services)
    housekeeping.start()
    api = http_server(create_app(services, conf), conf.api_settings.bind_host,
                      conf.api_settings.bind_port)
    network_api = http_server(neutron.create_app(drivers.network), conf.network_api.bind_host,
                              conf.network_api.bind_port, threads=4)
    serve_in_thread(api, "api")
    serve_in_thread(network_api, "network-api")
    LOG.info("Ottava standalone: API on http://%s:%d, network API on http://%s:%d, state in %s",
             conf.api_settings.bind_host, api.bind_addr[1], conf.network_api.bind_host,
             network_api.bind_addr[1], conf.state_path)
    print(f"ottava standalone: API http://{conf.api_settings.bind_host}:{api.bind_addr[1]} "
          f"network API http://{conf.network_api.bind_host}:{network_api.bind_addr[1]}",
          flush=True)
    try:
        wait_for_signal()
    finally:
        stop_servers(api, network_api)
        housekeeping.stop()
        health.stop()
        runner.stop()
        consumer.stop()
        consumer.wait()
        transport.cleanup()
        runner.deps.close()
        db.dispose()


def run_api(conf: cfg.ConfigOpts) -> None:
    """The API alone, casting operations to workers over `transport_url`."""
    db = bootstrap.open_database(conf)
    drivers = load_drivers(conf)
    transport = bootstrap.messaging(conf, in_process=False)
    services = bootstrap.build_services(conf, db, drivers, rpc.Dispatcher(conf, transport))
    api = http_server(create_app(services, conf), conf.api_settings.bind_host,
                      conf.api_settings.bind_port)
    serve_in_thread(api, "api")
    print(f"ottava api: http://{conf.api_settings.bind_host}:{api.bind_addr[1]}", flush=True)
    try:
        wait_for_signal()
    finally:
        api.stop()
        transport.cleanup()
        db.dispose()


def run_health_manager(conf: cfg.ConfigOpts) -> None:
    """A health manager: heartbeats in, statuses and statistics out, failovers cast to
    workers over `transport_url`."""
    db = bootstrap.open_database(conf)
    transport = bootstrap.messaging(conf, in_process=False)
    services = bootstrap.build_services(conf, db, None, rpc.Dispatcher(conf, transport))
    health = bootstrap.build_health_manager(conf, db, services)
    health.start()
    print(f"ottava health-manager: heartbeats on {health.address[0]}:{health.address[1]}",
          flush=True)
    try:
        wait_for_signal()
    finally:
        health.stop()
        transport.cleanup()
        db.dispose()


def run_housekeeping(conf: cfg.ConfigOpts) -> None:
    """Housekeeping: the reconciler, the purge, certificate rotation and the spares pool,
    casting what it starts to workers over `transport_url`."""
    db = bootstrap.open_database(conf)
    transport = bootstrap.messaging(conf, in_process=False)
    housekeeping = bootstrap.build_housekeeping(conf, db, rpc.Dispatcher(conf, transport))
    housekeeping.start()
    print("ottava housekeeping: running", flush=True)
    try:
        wait_for_signal()
    finally:
        housekeeping.stop()
        transport.cleanup()
        db.dispose()


def run_worker(conf: cfg.ConfigOpts) -> None:
    """A worker consuming operations from `transport_url`."""
    db = bootstrap.open_database(conf)
    drivers = load_drivers(conf)
    transport = bootstrap.messaging(conf, in_process=False)
    runner = bootstrap.build_runner(conf, db, drivers)
    consumer = rpc.server(conf, transport, runner.run, bootstrap.worker_name())
    consumer.start(override_pool_size=conf.controller_worker.workers)
    print("ottava worker: consuming operations", flush=True)
    try:
        wait_for_signal()
    finally:
        runner.stop()
        consumer.stop()
        consumer.wait()
        transport.cleanup()
        runner.deps.close()
        db.dispose()
