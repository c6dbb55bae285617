"""keepalived for ACTIVE_STANDBY: the VIP held by whichever amphora of the pair is alive.

The controller sends each amphora its VRRP settings (`ottava.wire.agent.VrrpConfig`): the VIP,
this amphora's priority, its own address and its peer's. `ottava.render.keepalived` turns them
into keepalived.conf: both amphorae BACKUP with `nopreempt`, VRRPv3 unicast adverts every
`advert_int` seconds (the backup takes over after about three missed ones), a track script
that gives the VIP up when this amphora's HAProxy is not running. This module only writes the
check script and the file, has it checked (`keepalived --config-test`), swaps it in atomically
and applies it with SIGHUP, or starts keepalived.

keepalived runs detached, like HAProxy, and survives an agent restart; a new agent adopts it
through its PID file. For the host agent it is started with `ip netns exec` into the
amphora's namespace, so that it sees that namespace's /sys as well as its links.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ottava.agent import netns
from ottava.render import keepalived as keepalived_conf
from ottava.wire import agent as api

KEEPALIVED = "keepalived"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class KeepalivedError(RuntimeError):
    pass


class Keepalived:
    """One amphora's keepalived, kept in `directory`."""

    def __init__(self, directory: str | Path, haproxy_pidfile: Path,
                 keepalived: str = KEEPALIVED, netns: str | None = None) -> None:
        self.directory = Path(directory).absolute()
        self.keepalived = keepalived
        self.netns = netns  # the amphora's namespace when the host agent serves it
        self.haproxy_pidfile = haproxy_pidfile
        self.config = self.directory / "keepalived.conf"
        self.pidfile = self.directory / "keepalived.pid"
        self.vrrp_pidfile = self.directory / "vrrp.pid"
        self.check_script = self.directory / "check_haproxy.sh"
        self.log = self.directory / "keepalived.log"
        self._lock = threading.Lock()
        # The keepalived this object started: polled so that it is reaped when it exits
        # (a host agent lives long and serves many amphorae; no zombie may pile up).
        self._child: subprocess.Popen[bytes] | None = None

    def pid(self) -> int | None:
        if self._child is not None and self._child.poll() is not None:
            self._child = None
        try:
            pid = int(self.pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                ours = str(self.config).encode() in f.read()
        except OSError:
            return None
        return pid if ours else None

    def apply(self, config: Any) -> bool:
        """Run keepalived with `config`; False when it already does."""
        checked = api.parse_vrrp(config)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write_check_script()
            text = keepalived_conf.render(checked, str(self.check_script))
            if self.pid() is not None and self.config.exists() and \
                    self.config.read_text() == text:
                return False
            candidate = self.directory / "keepalived.conf.new"
            candidate.write_text(text)
            result = subprocess.run([self.keepalived, "--config-test", "-f", str(candidate)],
                                    capture_output=True, text=True, timeout=START_TIMEOUT,
                                    check=False)
            if result.returncode != 0:
                raise ValueError(f"keepalived refused the configuration: "
                                 f"{(result.stderr or result.stdout)[-500:]}")
            os.replace(candidate, self.config)
            pid = self.pid()
            if pid is None:
                self._start()
            else:
                os.kill(pid, signal.SIGHUP)
            return True

    def _write_check_script(self) -> None:
        # keepalived runs the script as root and insists it is not writable by others.
        body = ("#!/bin/sh\n# Healthy while this amphora's HAProxy master runs.\n"
                f"pid=$(cat {shlex.quote(str(self.haproxy_pidfile))} 2>/dev/null) || exit 1\n"
                'kill -0 "$pid" 2>/dev/null\n')
        if not self.check_script.exists() or self.check_script.read_text() != body:
            tmp = self.check_script.with_suffix(".new")
            tmp.write_text(body)
            tmp.chmod(0o755)
            os.replace(tmp, self.check_script)

    def _start(self) -> None:
        for stale in (self.pidfile, self.vrrp_pidfile):
            stale.unlink(missing_ok=True)
        command = [self.keepalived, "--vrrp", "--use-file", str(self.config),
                   "--pid", str(self.pidfile), "--vrrp_pid", str(self.vrrp_pidfile),
                   "--log-console", "--no-syslog", "--dont-fork"]
        with self.log.open("a") as log:
            self._child = subprocess.Popen(netns.exec_argv(self.netns, command),
                                           stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True,
                                           close_fds=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.pid() is not None:
                return
            time.sleep(0.05)
        raise KeepalivedError(f"keepalived did not start in {START_TIMEOUT} s: "
                              f"{self.log.read_text(errors='replace')[-500:]}")

    def stop(self) -> None:
        with self._lock:
            pid = self.pid()
            if pid is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self.pid() is not None:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.05)
            if self.pid() is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.config.unlink(missing_ok=True)
