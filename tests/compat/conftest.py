"""Fixtures for the compat tests: the real OpenStack clients against a real `ottava standalone`.

* `compat_venv` runs tools/compat-venv.sh once per session, so .venv-compat holds the pinned
  python-openstackclient, python-octaviaclient and openstacksdk (their pins never meet ours).
* `standalone` starts `ottava standalone --noop` as a subprocess on free loopback ports with a
  temporary state dir, and stops it by PID at the end (SIGTERM, then SIGKILL after a timeout);
  its `key_manager_url` is the Barbican-compatible key manager it serves (no Keystone: the
  project is X-Project-Id, default "ottava", the load-balancer API's default project too).
* `cli` runs the `openstack` command with auth_type none and the endpoint overrides.
* `sdk` runs a small openstacksdk script with .venv-compat/bin/python (the SDK cannot be
  imported into our own venv) and returns what the script passed to `emit()`.
* `identity` is a Keystone stand-in that answers 403 to everything. `openstack loadbalancer
  quota set/reset` always resolve the project through Keystone; on 403 the CLI uses the
  given name as the project id (openstackclient/identity/common.py::_find_identity_resource).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
COMPAT_VENV = ROOT / ".venv-compat"
COMPAT_SCRIPT = ROOT / "tools" / "compat-venv.sh"
OPENSTACK = COMPAT_VENV / "bin" / "openstack"
COMPAT_PYTHON = COMPAT_VENV / "bin" / "python"

# The noop network driver's default network and subnet.
NETWORK_ID = "c0ffee00-0000-4000-8000-000000000001"
SUBNET_ID = "c0ffee00-0000-4000-8000-000000000002"

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
CLI_TIMEOUT = 180.0


def unique(prefix: str) -> str:
    """A name no other test uses (the CLI and SDK resolve names and want exactly one match)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _clean_env() -> dict[str, str]:
    """This process's environment without the OS_* settings that could redirect the clients
    and without the Python settings that would mix our packages into theirs."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("OS_") and k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}


@pytest.fixture(scope="session")
def compat_venv() -> Path:
    """.venv-compat with the pinned real clients (installed on first use)."""
    try:
        proc = subprocess.run(["bash", str(COMPAT_SCRIPT)], cwd=ROOT, capture_output=True,
                              text=True, timeout=900, env=_clean_env())
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"tools/compat-venv.sh timed out after {e.timeout}s")
    if proc.returncode != 0 or not OPENSTACK.exists():
        pytest.fail(f"tools/compat-venv.sh failed (exit {proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return COMPAT_VENV


@dataclass
class Standalone:
    url: str
    network_url: str
    key_manager_url: str
    state_dir: Path
    pid: int
    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return _tail(self.log, chars)


def _ottava_command() -> list[str]:
    exe = shutil.which("ottava", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "ottava.cmd.main"]


def _wait_up(proc: subprocess.Popen[bytes], urls: list[str], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(urls)
    while pending:
        if proc.poll() is not None:
            raise RuntimeError(f"ottava standalone exited with {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"ottava standalone not up after {START_TIMEOUT}s:\n{_tail(log)}")
        try:
            # Barbican's version document answers 300 Multiple Choices.
            if requests.get(pending[0] + "/", timeout=2).status_code in (200, 300):
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process we started (by its PID), then SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


@pytest.fixture(scope="session")
def standalone(compat_venv: Path) -> Iterator[Standalone]:
    """A running `ottava standalone --noop` on loopback, shared by the compat tests."""
    state = Path(tempfile.mkdtemp(prefix="ottava-compat-"))
    log = state / "standalone.log"
    errors = []
    for _attempt in range(3):  # a free port can be taken between probing and binding
        api_port, net_port, km_port = _free_port(), _free_port(), _free_port()
        cmd = [*_ottava_command(), "standalone", "--noop", "--debug",
               "--bind", f"127.0.0.1:{api_port}", "--network-api-bind", f"127.0.0.1:{net_port}",
               "--key-manager-api-bind", f"127.0.0.1:{km_port}", "--state-dir", str(state)]
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        url, net = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{net_port}"
        key_manager = f"http://127.0.0.1:{km_port}"
        try:
            _wait_up(proc, [url, net, key_manager], log)
        except RuntimeError as e:
            errors.append(str(e))
            _stop(proc)
            continue
        break
    else:
        shutil.rmtree(state, ignore_errors=True)
        pytest.fail("could not start ottava standalone:\n" + "\n---\n".join(errors))
    try:
        yield Standalone(url=url, network_url=net, key_manager_url=key_manager, state_dir=state,
                         pid=proc.pid, log=log)
    finally:
        _stop(proc)
        shutil.rmtree(state, ignore_errors=True)


class _Forbidden(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"error": {"code": 403, "title": "Forbidden",
                                     "message": "compat identity stand-in"}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def identity() -> Iterator[str]:
    """URL of a Keystone stand-in that refuses every lookup with 403."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, name="compat-identity", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ClientError(AssertionError):
    """A client command or script failed; the message carries its output and the server log."""


@dataclass
class Cli:
    """Runs the real `openstack` CLI against the standalone."""

    stack: Standalone
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        env = _clean_env()
        env.update({
            "OS_AUTH_TYPE": "none",
            "OS_LOAD_BALANCER_ENDPOINT_OVERRIDE": self.stack.url,
            "OS_NETWORK_ENDPOINT_OVERRIDE": self.stack.network_url,
        })
        env.update(self.extra_env)
        env.update(extra)
        return env

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """`openstack --debug ARGS`; returns the finished process whatever its exit code."""
        cmd = [str(OPENSTACK), "--debug", *args]
        try:
            return subprocess.run(cmd, env=env or self.env(), capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise ClientError(f"`openstack {' '.join(args)}` timed out after {timeout}s\n"
                              f"server log:\n{self.stack.log_tail()}") from e

    def __call__(self, *args: str, json_out: bool = True, env: dict[str, str] | None = None,
                 timeout: float = CLI_TIMEOUT) -> Any:
        """`openstack ARGS [-f json]`; fails the test on a non-zero exit, returns parsed JSON
        (or the raw stdout when json_out is False)."""
        argv = [*args, "-f", "json"] if json_out else list(args)
        proc = self.run(*argv, env=env, timeout=timeout)
        if proc.returncode != 0:
            raise ClientError(self.describe(argv, proc))
        if not json_out:
            return proc.stdout
        try:
            return json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError as e:
            raise ClientError(f"not JSON:\n{self.describe(argv, proc)}") from e

    def fails(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must fail; returns its stderr."""
        proc = self.run(*args, env=env)
        if proc.returncode == 0:
            raise ClientError(f"`openstack {' '.join(args)}` succeeded:\n{proc.stdout}")
        return proc.stderr

    def describe(self, argv: list[str], proc: subprocess.CompletedProcess[str]) -> str:
        return (f"`openstack {' '.join(argv)}` exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-3000:]}\n"
                f"--- stderr (client --debug: requests and responses)\n{proc.stderr[-6000:]}\n"
                f"--- server log\n{self.stack.log_tail(2000)}")


@pytest.fixture(scope="session")
def cli(standalone: Standalone) -> Cli:
    return Cli(standalone)


SDK_PRELUDE = '''
import json, os, sys
import openstack
URL = os.environ["OTTAVA_URL"]
NETWORK_URL = os.environ["OTTAVA_NETWORK_URL"]
SUBNET_ID = os.environ["OTTAVA_SUBNET_ID"]
NETWORK_ID = os.environ["OTTAVA_NETWORK_ID"]
KEY_MANAGER_URL = os.environ["OTTAVA_KEY_MANAGER_URL"]
if os.environ.get("OTTAVA_SDK_DEBUG"):
    openstack.enable_logging(debug=True, http_debug=True, stream=sys.stderr)

def connect(**kw):
    kw.setdefault("auth_type", "none")
    kw.setdefault("load_balancer_endpoint_override", URL)
    return openstack.connect(**kw)

def emit(value):
    print("@@RESULT@@" + json.dumps(value, default=str))

'''


@dataclass
class Sdk:
    """Runs openstacksdk scripts with .venv-compat/bin/python against the standalone."""

    stack: Standalone

    def __call__(self, script: str, env: dict[str, str] | None = None,
                 timeout: float = CLI_TIMEOUT) -> Any:
        """Run SCRIPT after a prelude that defines URL, KEY_MANAGER_URL, SUBNET_ID,
        `connect(**kw)` (auth_type none + load_balancer_endpoint_override) and `emit(value)`;
        returns the emitted value."""
        source = SDK_PRELUDE + textwrap.dedent(script)
        full_env = _clean_env()
        full_env.update({
            "OTTAVA_URL": self.stack.url, "OTTAVA_NETWORK_URL": self.stack.network_url,
            "OTTAVA_KEY_MANAGER_URL": self.stack.key_manager_url,
            "OTTAVA_SUBNET_ID": SUBNET_ID, "OTTAVA_NETWORK_ID": NETWORK_ID,
            "OTTAVA_SDK_DEBUG": "1",
        })
        full_env.update(env or {})
        with tempfile.NamedTemporaryFile("w", suffix=".py", prefix="compat-sdk-",
                                         delete=False) as fh:
            fh.write(source)
            path = fh.name
        try:
            proc = subprocess.run([str(COMPAT_PYTHON), path], env=full_env, capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise ClientError(f"SDK script timed out after {timeout}s\n{source}\n"
                              f"server log:\n{self.stack.log_tail()}") from e
        finally:
            os.unlink(path)
        if proc.returncode != 0:
            cut = proc.stderr.rfind("Traceback (most recent call last)")
            cut = cut if cut >= 0 else len(proc.stderr)
            raise ClientError(
                f"SDK script exited {proc.returncode}\n--- traceback\n{proc.stderr[cut:]}\n"
                f"--- SDK http_debug before it (requests and responses)\n"
                f"{proc.stderr[max(0, cut - 6000):cut]}\n"
                f"--- stdout\n{proc.stdout[-2000:]}\n"
                f"--- server log\n{self.stack.log_tail(2000)}")
        results = [line[len("@@RESULT@@"):] for line in proc.stdout.splitlines()
                   if line.startswith("@@RESULT@@")]
        return json.loads(results[-1]) if results else None


@pytest.fixture(scope="session")
def sdk(standalone: Standalone) -> Sdk:
    return Sdk(standalone)
