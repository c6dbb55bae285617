"""A real Ottava stack for tests: database, noop drivers, worker, API and network API on
loopback ports, served by the same code `ottava standalone` runs; and an HTTP client."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import requests
from keystoneauth1 import loading as ks_loading
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ottava import bootstrap, rpc
from ottava.api import neutron
from ottava.cmd.servers import http_server, serve_in_thread, stop_servers
from ottava.db.models import Base
from ottava.metrics import Registry

SERVER_URLS = {
    "postgresql": os.environ.get(
        "OTTAVA_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mariadb": os.environ.get("OTTAVA_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


def backends() -> list[str]:
    """The database back ends to run on: all three unless OTTAVA_TEST_BACKENDS says less."""
    wanted = os.environ.get("OTTAVA_TEST_BACKENDS", "sqlite,postgresql,mariadb")
    return [b.strip() for b in wanted.split(",") if b.strip()]


def server_database(backend: str) -> str:
    """A fresh, empty database on a server back end; returns its URL."""
    url = make_url(SERVER_URLS[backend])
    name = f"ottava_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(backend: str, prefix: str = "ottava-db-") -> Iterator[str]:
    """The URL of a fresh, empty database of `backend` (SQLite: a file in a temporary
    folder), removed on the way out. Whoever opens engines on it disposes of them first."""
    state = tempfile.mkdtemp(prefix=prefix)
    url = (f"sqlite:///{pathlib.Path(state) / 'ottava.db'}" if backend == "sqlite"
           else server_database(backend))
    try:
        yield url
    finally:
        if backend != "sqlite":
            drop_server_database(backend, url)
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def migrated_database(backend: str, prefix: str = "ottava-db-") -> Iterator[Any]:
    """A fresh database of `backend` with Ottava's schema, as an open `Database`, disposed of
    and removed on the way out."""
    from ottava.db.engine import Database
    from ottava.db.migrate import upgrade

    with fresh_database(backend, prefix) as url:
        db = Database(url)
        try:
            upgrade(db.engine)
            yield db
        finally:
            db.dispose()


def drop_server_database(backend: str, database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(make_url(SERVER_URLS[backend]), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f"DROP DATABASE IF EXISTS {url.database} WITH (FORCE)"))
        else:
            conn.execute(text(f"DROP DATABASE IF EXISTS {url.database}"))
    admin.dispose()


class Stack:
    """API + network API + worker over one database, in this process, on loopback."""

    def __init__(self, database_url: str, state_dir: str,
                 overrides: dict[str, dict[str, Any]] | None = None,
                 health: bool = False,
                 auth_overrides: dict[str, dict[str, Any]] | None = None,
                 transport_url: str | None = None) -> None:
        """`auth_overrides`: [keystone_authtoken] and [oslo_policy] values, which the
        middleware and policy register only once the API is built. `transport_url`: a real
        broker for the casts (as the split deployment has), instead of in-process messaging."""
        settings: dict[str, dict[str, Any]] = {
            "database": {"connection": database_url},
            "api_settings": {"bind_host": "127.0.0.1", "bind_port": 0},
            "network_api": {"bind_host": "127.0.0.1", "bind_port": 0},
            "controller_worker": {"compute_driver": "noop", "network_driver": "noop",
                                  "amphora_driver": "noop", "certificates_driver": "noop"},
            # On a broker shared by several stacks, a topic of its own keeps each stack's
            # operations away from another stack's worker.
            "oslo_messaging": {"topic": f"ottava-test-{uuid.uuid4().hex[:12]}"},
        }
        if health:  # as standalone runs it (log collector included), on free ports
            settings["health_manager"] = {"bind_port": 0}
            settings["log_collector"] = {"bind_port": 0}
        if transport_url:
            settings["DEFAULT"] = {"transport_url": transport_url}
        for group, values in (overrides or {}).items():
            settings.setdefault(group, {}).update(values)
        loaded = bootstrap.load([], state_dir, settings, standalone=health)
        self.conf, self.settings = loaded.conf, loaded.settings
        for group, values in (auth_overrides or {}).items():
            if "auth_type" in values:
                # A real Keystone: the plugin's options (username, …) are known once its
                # type is; keystonemiddleware registers the same ones again, harmlessly.
                ks_loading.register_auth_conf_options(self.conf, group)
                self.conf.register_opts(
                    ks_loading.get_auth_plugin_conf_options(values["auth_type"]), group=group)
            for name, value in values.items():
                self.conf.set_override(name, value, group=group)
        self.db = bootstrap.open_database(self.settings.common, upgrade=True)
        self.drivers = bootstrap.load_drivers(self.settings.drivers)
        # With a broker: oslo.messaging, as separate processes talk; else the in-process bus.
        self.transport = bootstrap.messaging(self.conf) if transport_url else None
        self.bus = None if transport_url else rpc.InProcessBus()
        self.dispatch: Any = (bootstrap.dispatcher(self.transport, self.settings.common)
                              if self.transport else self.bus)
        self.services = bootstrap.build_services(
            self.settings.service, self.db, self.drivers, self.dispatch)
        self.health: Any = None
        # One registry for the stack's parts, served at the API's /metrics, as standalone's.
        self.metrics = Registry()
        # Standalone's log collector (with `health`); the amphorae send to the port it got.
        self.settings, self.log_collector = bootstrap.build_log_collector(self.settings)
        if self.log_collector is not None:
            self.log_collector.start()
        worker = self.settings.worker_process()
        if health:
            self.health = bootstrap.build_health_manager(
                self.settings.health_manager_process(), self.db, self.services.amphorae,
                self.metrics)
            host, port = self.health.address
            # The amphorae send their heartbeats to the port the health manager got.
            worker = dataclasses.replace(worker, agent=dataclasses.replace(
                worker.agent, heartbeat_targets=(f"{host}:{port}",)))
            self.health.start()
        self.runner = bootstrap.build_runner(worker, self.db, self.drivers, self.metrics,
                                             self.conf)
        self.runner.start()
        self.consumer = self.restart_consumer()
        self.api = http_server(
            bootstrap.api_application(self.conf, self.settings.api, self.services,
                                      self.metrics),
            "127.0.0.1", 0)
        self.network_api = http_server(neutron.create_app(self.drivers.network),
                                       "127.0.0.1", 0, threads=4)
        serve_in_thread(self.api, "test-api")
        serve_in_thread(self.network_api, "test-network-api")
        self.url = f"http://127.0.0.1:{self.api.bind_addr[1]}"
        self.network_url = f"http://127.0.0.1:{self.network_api.bind_addr[1]}"

    def restart_consumer(self) -> Any:
        """(Re)start running what is cast: on the in-process bus, or from the broker."""
        if self.bus is not None:
            return self.bus.serve(self.runner.run, 4)
        consumer = rpc.server(self.transport, self.settings.common.topic, self.runner.run,
                              f"test-{uuid.uuid4().hex[:6]}")
        consumer.start(override_pool_size=4)
        return consumer

    def clear(self) -> None:
        """Empty every Ottava table (between tests on a shared server database).

        Work a previous test left under way gets a moment to end first. On PostgreSQL one
        TRUNCATE empties every table at once: table by table, a worker's late insert (an
        amphora row) could land between the deletes and break a foreign key."""
        with contextlib.suppress(AssertionError):
            self.settle(10.0)
        with self.db.transaction() as s:
            if self.db.engine.dialect.name == "postgresql":
                s.execute(text("TRUNCATE " + ", ".join(
                    f'"{table.name}"' for table in Base.metadata.sorted_tables)))
                return
            if self.db.engine.dialect.name == "sqlite":
                s.execute(text("PRAGMA defer_foreign_keys = ON"))
            elif self.db.engine.dialect.name == "mysql":
                s.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in reversed(Base.metadata.sorted_tables):
                s.execute(table.delete())
            if self.db.engine.dialect.name == "mysql":
                s.execute(text("SET FOREIGN_KEY_CHECKS = 1"))

    def compute_ids(self) -> set[str]:
        """Every compute id (a namespace, with the local driver) this stack ever booted."""
        from sqlalchemy import select

        from ottava.db.models import Amphora

        with self.db.reader() as s:
            return {c for c in s.scalars(select(Amphora.compute_id)) if c}

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until no operation is queued or running, so nothing else writes meanwhile."""
        from sqlalchemy import func, select

        from ottava.db.models import Operation

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.reader() as s:
                busy = s.scalar(select(func.count()).select_from(Operation)
                                .where(Operation.state.in_(["QUEUED", "RUNNING"])))
            if not busy:
                return
            time.sleep(0.02)
        with self.db.reader() as s:
            stuck = s.execute(select(Operation.id, Operation.kind, Operation.state,
                                     Operation.attempts, Operation.worker,
                                     Operation.lease_expires)
                              .where(Operation.state.in_(["QUEUED", "RUNNING"]))).all()
        raise AssertionError(f"{len(stuck)} operations still queued or running after "
                             f"{timeout} s, e.g. {[tuple(map(str, row)) for row in stuck[:5]]}")

    def snapshot(self) -> dict[str, list[tuple[str, ...]]]:
        """Every row of every table (operation included), as sorted tuples of strings."""
        with self.db.reader() as s:
            return {table.name: sorted(tuple(repr(v) for v in row)
                                       for row in s.execute(table.select()))
                    for table in Base.metadata.sorted_tables}

    def stop(self) -> None:
        stop_servers(self.api, self.network_api)
        if self.health is not None:
            self.health.stop()
        if self.log_collector is not None:
            self.log_collector.stop()
        self.consumer.stop()
        self.consumer.wait()
        self.runner.stop()
        self.dispatch.close()
        if self.transport is not None:
            self.transport.cleanup()
        self.drivers.close()
        self.db.dispose()


class Client:
    """requests with the API's base URL, JSON bodies and status polling."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers.update({"Accept": "application/json", **(headers or {})})

    def request(self, method: str, path: str, body: Any = None, **kw: Any
                ) -> requests.Response:
        kw.setdefault("timeout", 30)
        if body is not None and not isinstance(body, (str, bytes)):
            kw["json"] = body
        elif body is not None:
            kw["data"] = body
        return self.http.request(method, self.base + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def wait(self, path: str, key: str, status: str = "ACTIVE", timeout: float = 30.0
             ) -> dict[str, Any]:
        """Poll `path` until its provisioning_status is `status` (or it is gone: 404)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            resp = self.get(path)
            if status == "DELETED" and resp.status_code == 404:
                return {}
            if resp.status_code == 200:
                last = resp.json()[key]
                if last["provisioning_status"] == status:
                    return last  # type: ignore[no-any-return]
                if last["provisioning_status"] == "ERROR" and status != "ERROR":
                    raise AssertionError(f"{path} went to ERROR")
            time.sleep(0.02)
        raise AssertionError(f"{path} did not reach {status}: {last}")

    def wait_gone(self, path: str, timeout: float = 30.0) -> None:
        """Poll `path` until it answers 404."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(path).status_code == 404:
                return
            time.sleep(0.02)
        raise AssertionError(f"{path} still exists")


@contextlib.contextmanager
def local_stack(health: bool = False, overrides: dict[str, dict[str, Any]] | None = None
                ) -> Iterator[tuple[Stack, Client]]:
    """A stack whose amphorae are real: local namespaces, the agent, HAProxy (and, with
    `health`, the health manager as standalone runs it, plus `overrides`). On the way out
    every load balancer is deleted through the API, and any namespace of this stack that a
    failed test left behind (and only those) is removed."""
    state = new_state_dir()
    settings: dict[str, dict[str, Any]] = {
        "controller_worker": {"compute_driver": "local", "network_driver": "local",
                              "amphora_driver": "rest"}}
    for group, values in (overrides or {}).items():
        settings.setdefault(group, {}).update(values)
    stack = Stack(f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state, settings,
                  health=health)
    api = Client(stack.url)
    try:
        yield stack, api
    finally:
        try:
            for lb in api.get("/v2/lbaas/loadbalancers").json()["loadbalancers"]:
                api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true")
                api.wait_gone(f"/v2/lbaas/loadbalancers/{lb['id']}", timeout=60)
        finally:  # whatever the deletes did: nothing of this stack outlives it
            ours = stack.compute_ids()
            stack.stop()
            listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                    timeout=10, check=False).stdout
            for leftover in {line.split()[0] for line in listed.splitlines() if line} & ours:
                remove_namespace(leftover)
            stop_host_agent(state)
            shutil.rmtree(state, ignore_errors=True)


def remove_namespace(name: str) -> None:
    """A namespace a failed test left: every process in it killed, then the namespace."""
    for pid in subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True,
                              timeout=10, check=False).stdout.split():
        subprocess.run(["kill", "-9", pid], timeout=10, check=False)
    subprocess.run(["ip", "netns", "delete", name], timeout=10, check=False)


def host_agent_pid(state: str | pathlib.Path) -> int | None:
    """The PID of the host agent serving the amphorae of this state folder, while it runs."""
    try:
        pid = int((pathlib.Path(state) / "amphorae" / "host-agent.pid").read_text())
    except (OSError, ValueError):
        return None
    try:
        cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"amphora-host-agent" in cmdline else None


def stop_host_agent(state: str | pathlib.Path) -> None:
    """Stop the host agent a failed test left running (the driver stops it with the last
    amphora), by its PID: SIGTERM, then SIGKILL."""
    pid = host_agent_pid(state)
    if pid is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and host_agent_pid(state) == pid:
            time.sleep(0.05)
        if host_agent_pid(state) is None:
            return


def new_state_dir() -> str:
    return tempfile.mkdtemp(prefix="ottava-test-")


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy (and return that); fail after
    `timeout` seconds, naming `what` and the last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s (last: {last!r})")
