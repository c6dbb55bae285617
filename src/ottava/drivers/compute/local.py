"""Compute driver `local`: an amphora is a network namespace on this host.

The namespace `ottava-<first 12 hex of the amphora id>` is the amphora's compute_id; its `eth0`
is a veth on the bridge `ottava0` and holds the management address (lb_network_ip, from the
shared pool). With an AgentBootConfig the agent's config (naming the namespace) and
certificates are written to <state_dir>/amphorae/<amphora_id>/ and one host agent serves every
amphora of that folder (`ottava amphora-host-agent`, `ottava.agent.host`, decision 0025): it
listens inside each namespace with that amphora's certificate, and sends each one's heartbeats
from there. This driver starts it when it is needed (PID in host-agent.pid, log in
host-agent.log), tells it which amphorae to serve over its control socket, starts it again
within a second when it dies while amphorae need it (a periodic job of the driver: their
heartbeats resume before the health manager misses them), and stops it with the last amphora. A
new driver adopts the namespaces it finds (their `eth0` alias names the amphora and load
balancer) and the running host agent, so a restart neither duplicates nor leaks; folders whose
namespace is gone are cleaned up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from oslo_log import log as logging

from ottava.domain.ports.compute import AgentBootConfig, Booted, Placement
from ottava.drivers.linux import ipam, netlink
from ottava.periodic import Periodic, PeriodicPart
from ottava.settings import DriverSettings
from ottava.wire import agent as agent_api

STOP_TIMEOUT = 5.0
HOST_AGENT_START_TIMEOUT = 15.0  # until a new host agent answers on its control socket
HOST_AGENT_PID = "host-agent.pid"  # written by the host agent itself
HOST_AGENT_LOG = "host-agent.log"
HOST_AGENT_LOCK = "host-agent.lock"
SUPERVISE_INTERVAL = 1.0  # seconds between two looks at the host agent
LOG = logging.getLogger(__name__)


def compute_id_for(amphora_id: str) -> str:
    return netlink.PREFIX + amphora_id.replace("-", "")[:12]


def default_agent_command() -> list[str]:
    """This installation's `ottava amphora-host-agent` (the driver adds `--dir`)."""
    script = Path(sys.executable).with_name("ottava")
    if script.exists():
        return [str(script), "amphora-host-agent"]
    return [sys.executable, "-m", "ottava.cmd.main", "amphora-host-agent"]


def _signal_and_wait(pid: int, marker: str | None, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM `pid` (if it is alive and carries `marker`), SIGKILL after `timeout`."""
    if not netlink.pid_alive(pid, marker):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
            if not netlink.pid_alive(pid):
                return
            time.sleep(0.02)


class LocalComputeDriver(PeriodicPart):
    def __init__(self, settings: DriverSettings, agent_command: list[str] | None = None) -> None:
        """Amphorae's folders live under `<settings.state_dir>/amphorae`; `agent_command`
        starts the host agent (default: this installation's `ottava amphora-host-agent`).
        The host agent's supervisor runs until `stop()`."""
        netlink.require_net_admin()
        self.state_dir = Path(settings.state_dir)
        self.amphorae_dir = self.state_dir / "amphorae"
        self.amphorae_dir.mkdir(parents=True, exist_ok=True)
        self.agent_command = list(agent_command or default_agent_command())
        self._pool = ipam.pool()
        self._lock = threading.RLock()
        self._host_child: subprocess.Popen[bytes] | None = None
        netlink.ensure_bridge()
        self._adopt()
        self.start()

    def periodics(self) -> list[Periodic]:
        return [Periodic("host-agent-supervisor", SUPERVISE_INTERVAL, self.supervise)]

    def supervise(self) -> None:
        """Start the host agent again if it is not running while amphorae need it."""
        if not self.amphorae_dir.is_dir() or self._host_agent_pid() is not None \
                or not self._served_folders():
            return
        with self._host_lock():
            if self._host_agent_pid() is None and self._served_folders():
                LOG.warning("the host agent of %s is not running: starting it again",
                            self.amphorae_dir)
                self._ensure_host_agent()

    # -- adoption -------------------------------------------------------------------------
    def _adopt(self) -> None:
        """Clean up folders whose namespace is gone (their processes, then the files); make
        sure the host agent serves the amphorae that remain."""
        live = set(netlink.list_namespaces())
        for folder in self._amphora_folders():
            if compute_id_for(folder.name) not in live:
                self._stop_processes(folder)
                shutil.rmtree(folder, ignore_errors=True)
        if self._served_folders():
            with self._host_lock():
                self._ensure_host_agent()

    def _amphora_folders(self) -> list[Path]:
        return [f for f in self.amphorae_dir.iterdir() if f.is_dir()]

    def _served_folders(self) -> list[Path]:
        """The amphora folders the host agent serves (those with an agent configuration)."""
        return [f for f in self._amphora_folders() if (f / agent_api.HOST_CONFIG).exists()]

    def _folder_of(self, compute_id: str) -> Path | None:
        try:
            amphora_id = netlink.parse_alias(netlink.alias(compute_id)).get("amphora")
        except Exception:
            amphora_id = None
        if amphora_id:
            return self.amphorae_dir / amphora_id
        for folder in self._amphora_folders():  # alias missing: match by name
            if compute_id_for(folder.name) == compute_id:
                return folder
        return None

    @staticmethod
    def _management_address(compute_id: str) -> str | None:
        for address, prefixlen in netlink.addresses(compute_id):
            if prefixlen != 32:
                return address
        return None

    # -- the Protocol ----------------------------------------------------------------------
    def create_amphora(self, amphora_id: str, load_balancer_id: str | None,
                       boot: AgentBootConfig | None = None,
                       placement: Placement | None = None) -> Booted:
        # One host: there is nowhere else to place an amphora, so `placement` changes nothing.
        compute_id = compute_id_for(amphora_id)
        with self._lock:
            if netlink.namespace_exists(compute_id):  # a retry, or adopted after a restart
                address = self._management_address(compute_id)
                if address is None:
                    raise RuntimeError(f"namespace {compute_id} has no management address")
            else:
                with self._pool.lock:
                    address = self._pool.allocate()
                    try:
                        netlink.create_namespace(
                            compute_id, address,
                            alias=f"ottava amphora={amphora_id} lb={load_balancer_id or ''}")
                    finally:
                        self._pool.release(address)  # configured now, or failed
            if boot is not None:
                try:
                    with self._host_lock():
                        self._write_agent_files(compute_id, amphora_id, address, boot)
                        self._host_call("add", amphora_id)
                except BaseException:
                    self.delete_amphora(compute_id)
                    raise
        return Booted(compute_id=compute_id, lb_network_ip=address, compute_flavor="local")

    def delete_amphora(self, compute_id: str) -> None:
        with self._lock:
            folder = self._folder_of(compute_id) if netlink.namespace_exists(compute_id) \
                else next((f for f in self._amphora_folders()
                           if compute_id_for(f.name) == compute_id), None)
            with self._host_lock():
                if folder is not None and self._host_agent_pid() is not None:
                    # Before the namespace goes: its sockets and threads would hold it.
                    with contextlib.suppress(OSError, RuntimeError):
                        agent_api.call_host(self.amphorae_dir,
                                            {"op": "remove", "amphora_id": folder.name})
                if folder is not None:
                    self._stop_processes(folder)
                for pid in netlink.namespace_pids(compute_id):  # anything else left inside
                    _signal_and_wait(pid, None)
                netlink.delete_namespace(compute_id)
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                if not self._amphora_folders():
                    self._stop_host_agent()  # the last amphora: nothing left to serve

    def is_running(self, compute_id: str) -> bool:
        if not netlink.namespace_exists(compute_id):
            return False
        folder = self._folder_of(compute_id)
        if folder is None or self._host_agent_pid() is None:
            return False
        try:
            served = agent_api.call_host(self.amphorae_dir, {"op": "list"},
                                         timeout=STOP_TIMEOUT)
        except (OSError, RuntimeError):
            return False
        return folder.name in served

    # -- the host agent ----------------------------------------------------------------------
    @contextlib.contextmanager
    def _host_lock(self) -> Iterator[None]:
        """Starting, asking and stopping the host agent, one at a time across threads and
        processes (several workers may share a host): a host agent stopped for lack of
        amphorae never misses one being added."""
        with self._lock, open(self.amphorae_dir / HOST_AGENT_LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _host_agent_pid(self) -> int | None:
        if self._host_child is not None:
            self._host_child.poll()  # reap it if it died
        pid = _read_pid(self.amphorae_dir / HOST_AGENT_PID)
        return pid if pid is not None and netlink.pid_alive(pid, self._host_marker) else None

    @property
    def _host_marker(self) -> str:
        """What only the host agent of this folder has in its command line (a recycled PID
        is never taken for it)."""
        return f"--dir\0{self.amphorae_dir}\0"

    def _host_call(self, op: str, amphora_id: str) -> None:
        request: agent_api.HostRequest = {"op": op, "amphora_id": amphora_id}
        try:
            agent_api.call_host(self.amphorae_dir, request)
        except OSError:  # none runs (the first amphora), or it died: once more, with one
            self._ensure_host_agent()
            agent_api.call_host(self.amphorae_dir, request)

    def _ensure_host_agent(self) -> None:
        """Start the host agent unless one runs; return once it answers."""
        pid = self._host_agent_pid()
        if pid is None:
            argv = [*self.agent_command, "--dir", str(self.amphorae_dir)]
            with open(self.amphorae_dir / HOST_AGENT_LOG, "ab") as log:
                self._host_child = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, close_fds=True, cwd=self.amphorae_dir)
            pid = self._host_child.pid
        deadline = time.monotonic() + HOST_AGENT_START_TIMEOUT
        while True:
            try:
                agent_api.call_host(self.amphorae_dir, {"op": "list"}, timeout=STOP_TIMEOUT)
                return
            except (OSError, RuntimeError) as exc:
                if not netlink.pid_alive(pid) or time.monotonic() > deadline:
                    log_tail = _read_tail(self.amphorae_dir / HOST_AGENT_LOG)
                    raise RuntimeError(f"the host agent did not start: {exc}; "
                                       f"{log_tail}") from None
            time.sleep(0.02)

    def _stop_host_agent(self) -> None:
        pid = self._host_agent_pid()
        if pid is not None:
            _signal_and_wait(pid, self._host_marker)
        if self._host_child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._host_child.wait(timeout=STOP_TIMEOUT)
            self._host_child = None
        (self.amphorae_dir / HOST_AGENT_PID).unlink(missing_ok=True)

    def _write_agent_files(self, compute_id: str, amphora_id: str, address: str,
                           boot: AgentBootConfig) -> None:
        # The same document and installer a VM amphora's first boot uses.
        agent_api.install_boot(boot.document(), self.amphorae_dir / amphora_id, address,
                               netns=compute_id)

    def _stop_processes(self, folder: Path) -> None:
        """Stop every HAProxy whose PID file is under `folder`, and the amphora's own agent
        when an earlier version started one (keepalived and anything else inside the
        namespace are stopped with it)."""
        old_agent = _read_pid(folder / "agent.pid")
        if old_agent is not None:
            _signal_and_wait(old_agent, str(folder / agent_api.HOST_CONFIG))
        for pidfile in folder.rglob("haproxy.pid"):
            for line in _read_lines(pidfile):
                if line.isdigit():
                    _signal_and_wait(int(line), str(folder))


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def _read_tail(path: Path, size: int = 500) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    lines = _read_lines(path)
    return int(lines[0]) if lines and lines[0].isdigit() else None
