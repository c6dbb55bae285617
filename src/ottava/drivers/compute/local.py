"""Compute driver `local`: an amphora is a network namespace on this host.

The namespace `ottava-<first 12 hex of the amphora id>` is the amphora's compute_id; its `eth0`
is a veth on the bridge `ottava0` and holds the management address (lb_network_ip, from the
shared pool). With an AgentBootConfig the agent's config and certificates are written to
<state_dir>/amphorae/<amphora_id>/ and the agent runs inside the namespace, detached, with its
log (agent.log) and PID (agent.pid) in that folder. A new driver adopts the namespaces it finds
(their `eth0` alias names the amphora and load balancer), so a restart neither duplicates nor
leaks; folders whose namespace is gone are cleaned up.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ottava.domain.ports.compute import AgentBootConfig, Booted
from ottava.drivers.linux import ipam, netlink
from ottava.settings import DriverSettings
from ottava.wire import agent as agent_api

STOP_TIMEOUT = 5.0


def compute_id_for(amphora_id: str) -> str:
    return netlink.PREFIX + amphora_id.replace("-", "")[:12]


def default_agent_command() -> list[str]:
    script = Path(sys.executable).with_name("ottava")
    if script.exists():
        return [str(script), "amphora-agent"]
    return [sys.executable, "-m", "ottava.cmd.main", "amphora-agent"]


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


class LocalComputeDriver:
    def __init__(self, settings: DriverSettings, agent_command: list[str] | None = None) -> None:
        """Amphorae's folders live under `<settings.state_dir>/amphorae`; `agent_command`
        starts an agent (default: this installation's `ottava amphora-agent`)."""
        netlink.require_net_admin()
        self.state_dir = Path(settings.state_dir)
        self.amphorae_dir = self.state_dir / "amphorae"
        self.amphorae_dir.mkdir(parents=True, exist_ok=True)
        self.agent_command = list(agent_command or default_agent_command())
        self._pool = ipam.pool()
        self._lock = threading.RLock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        netlink.ensure_bridge()
        self._adopt()

    # -- adoption -------------------------------------------------------------------------
    def _adopt(self) -> None:
        """Clean up folders whose namespace is gone (their processes, then the files)."""
        live = set(netlink.list_namespaces())
        for folder in self.amphorae_dir.iterdir():
            if folder.is_dir() and compute_id_for(folder.name) not in live:
                self._stop_processes(folder)
                shutil.rmtree(folder, ignore_errors=True)

    def _folder_of(self, compute_id: str) -> Path | None:
        try:
            amphora_id = netlink.parse_alias(netlink.alias(compute_id)).get("amphora")
        except Exception:
            amphora_id = None
        if amphora_id:
            return self.amphorae_dir / amphora_id
        for folder in self.amphorae_dir.iterdir():  # alias missing: match by name
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
                       boot: AgentBootConfig | None = None) -> Booted:
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
            if boot is not None and not self._agent_running(compute_id):
                try:
                    self._start_agent(compute_id, amphora_id, address, boot)
                except BaseException:
                    self.delete_amphora(compute_id)
                    raise
        return Booted(compute_id=compute_id, lb_network_ip=address, compute_flavor="local")

    def delete_amphora(self, compute_id: str) -> None:
        with self._lock:
            folder = self._folder_of(compute_id) if netlink.namespace_exists(compute_id) \
                else next((f for f in self.amphorae_dir.iterdir()
                           if compute_id_for(f.name) == compute_id), None)
            child = self._children.pop(compute_id, None)
            if folder is not None:
                self._stop_processes(folder)
            for pid in netlink.namespace_pids(compute_id):  # anything else left inside
                _signal_and_wait(pid, None)
            if child is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=STOP_TIMEOUT)
            netlink.delete_namespace(compute_id)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def is_running(self, compute_id: str) -> bool:
        return netlink.namespace_exists(compute_id) and self._agent_running(compute_id)

    # -- the agent ---------------------------------------------------------------------------
    def _agent_running(self, compute_id: str) -> bool:
        child = self._children.get(compute_id)
        if child is not None:
            child.poll()  # reap a dead child
        folder = self._folder_of(compute_id)
        if folder is None:
            return False
        pid = _read_pid(folder / "agent.pid")
        return pid is not None and netlink.pid_alive(pid, str(folder / "agent.json"))

    def _start_agent(self, compute_id: str, amphora_id: str, address: str,
                     boot: AgentBootConfig) -> None:
        folder = self.amphorae_dir / amphora_id
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        paths = {"ca_path": folder / "ca.pem", "cert_path": folder / "cert.pem",
                 "key_path": folder / "key.pem"}
        _write(paths["ca_path"], boot.ca_pem, 0o644)
        _write(paths["cert_path"], boot.cert_pem, 0o644)
        _write(paths["key_path"], boot.key_pem, 0o600)
        config = folder / "agent.json"
        heartbeats = ({"heartbeat_key": boot.heartbeat_key,
                       "heartbeat_targets": list(boot.heartbeat_targets),
                       "heartbeat_interval": boot.heartbeat_interval}
                      if boot.heartbeat_key and boot.heartbeat_targets else {})
        logs: dict[str, Any] = {"tenant_log_targets": list(boot.tenant_log_targets),
                                "admin_log_targets": list(boot.admin_log_targets),
                                "log_protocol": boot.log_protocol,
                                "connection_logging": boot.connection_logging}
        if boot.user_log_format:
            logs["user_log_format"] = boot.user_log_format
        # Checked on the way out as the agent will check it on the way in.
        _write(config, agent_api.dump_config({
            "amphora_id": amphora_id, "bind_host": address, "bind_port": boot.port,
            "state_dir": str(folder), **{k: str(v) for k, v in paths.items()}, **heartbeats,
            **logs,
        }), 0o600)
        argv = ["ip", "netns", "exec", compute_id, *self.agent_command, "--config", str(config)]
        with open(folder / "agent.log", "ab") as log:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     close_fds=True, cwd=folder)
        self._children[compute_id] = child
        _write(folder / "agent.pid", f"{child.pid}\n", 0o644)

    def _stop_processes(self, folder: Path) -> None:
        """Stop the agent and every HAProxy whose PID file is under `folder`."""
        pid = _read_pid(folder / "agent.pid")
        if pid is not None:
            _signal_and_wait(pid, str(folder / "agent.json"))
        for pidfile in folder.rglob("haproxy.pid"):
            for line in _read_lines(pidfile):
                if line.isdigit():
                    _signal_and_wait(int(line), str(folder))


def _write(path: Path, text: str, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []


def _read_pid(path: Path) -> int | None:
    lines = _read_lines(path)
    return int(lines[0]) if lines and lines[0].isdigit() else None
