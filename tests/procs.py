"""Ottava's processes as a test runs them: each `ottava <command>` a child with its own log,
waited for by what it prints or serves, killed by its own pid."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import requests

ROOT = pathlib.Path(__file__).resolve().parents[1]
OTTAVA = ROOT / ".venv" / "bin" / "ottava"
RABBIT = ("127.0.0.1", 5672)
TRANSPORT_URL = "rabbit://guest:guest@127.0.0.1:5672/"
START_TIMEOUT = 60.0


def reachable(address: tuple[str, int]) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(address, timeout=2):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: pathlib.Path
    args: tuple[str, ...] = ()
    offset: int = 0  # where this run's output starts in a log shared across restarts

    def output(self) -> str:
        """The end of this run's output."""
        return self.whole_output()[-4000:]

    def whole_output(self) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(self.offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""


@dataclass
class Deployment:
    state: pathlib.Path
    config: pathlib.Path
    topic: str
    env: dict[str, str]
    procs: list[Proc]

    def start(self, name: str, *args: str) -> Proc:
        """`ottava <args> --config-file <config> --state-dir <state>`, its output (appended,
        across restarts) in <state>/<name>.log."""
        log = self.state / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [str(OTTAVA), *args, "--config-file", str(self.config),
                 "--state-dir", str(self.state)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.state,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, args, offset)
        self.procs.append(proc)
        return proc

    def restart(self, proc: Proc) -> Proc:
        """The same command again, after `proc` was killed (as systemd would restart it)."""
        kill(proc)
        return self.start(proc.name, *proc.args)


def wait_for_output(proc: Proc, text: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.whole_output():
            return
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n"
                                 f"{proc.output()}")
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} did not print {text!r} in {timeout}s:\n{proc.output()}")


def wait_for_http(url: str, proc: Proc, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n"
                                 f"{proc.output()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s:\n{proc.output()}")


def kill(proc: Proc) -> None:
    """Kill a process we started, by its own pid, if it is still running."""
    if proc.popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=10)


def delete_queues(queues: list[str]) -> None:
    """Best effort: remove the RabbitMQ queues this test's unique topic left behind."""
    try:
        import kombu
    except ImportError:
        return
    with contextlib.suppress(Exception), kombu.Connection(TRANSPORT_URL,
                                                          connect_timeout=5) as conn:
        channel = conn.channel()
        for queue in queues:
            with contextlib.suppress(Exception):
                channel.queue_delete(queue=queue)
