"""`ottava standalone --noop` serves the key manager on --key-manager-api-bind, storing under
<state_dir>/key-manager/; a secret stored there with barbicanclient reads back."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from ottava.keymanager import store
from tests import procs
from tests.keymanager.conftest import barbican_for

STOP_TIMEOUT = 30.0


@pytest.fixture
def standalone() -> Iterator[tuple[str, pathlib.Path, procs.Proc]]:
    assert procs.OTTAVA.exists(), f"{procs.OTTAVA} is missing: run `make install`"
    state = pathlib.Path(tempfile.mkdtemp(prefix="ottava-km-"))
    log = state / "standalone.log"
    api, network, key_manager = procs.free_port(), procs.free_port(), procs.free_port()
    argv = [str(procs.OTTAVA), "standalone", "--noop", "--bind", f"127.0.0.1:{api}",
            "--network-api-bind", f"127.0.0.1:{network}",
            "--key-manager-api-bind", f"127.0.0.1:{key_manager}", "--state-dir", str(state)]
    with log.open("ab") as out:
        popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=state, start_new_session=True)
    proc = procs.Proc("standalone", popen, log, args=tuple(argv))
    try:
        procs.wait_for_output(proc, f"key manager API http://127.0.0.1:{key_manager}")
        yield f"http://127.0.0.1:{key_manager}", state, proc
    finally:
        _stop(proc)
        shutil.rmtree(state, ignore_errors=True)


def _stop(proc: procs.Proc) -> None:
    """SIGTERM the process we started, by its pid; SIGKILL if it lingers."""
    if proc.popen.poll() is not None:
        return
    os.kill(proc.popen.pid, signal.SIGTERM)
    try:
        proc.popen.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        procs.kill(proc)


def test_standalone_serves_the_key_manager(
        standalone: tuple[str, pathlib.Path, procs.Proc]) -> None:
    url, state, proc = standalone
    client = barbican_for(url)("standalone-project", user="alice")
    ref = client.secrets.create(name="tls", payload=b"\x30\x82pkcs12-ish").store()
    assert ref.startswith(f"{url}/v1/secrets/")
    assert barbican_for(url)("standalone-project").secrets.get(ref).payload == \
        b"\x30\x82pkcs12-ish"
    key_file = state / "key-manager" / store.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    os.kill(proc.popen.pid, signal.SIGTERM)  # stops cleanly, the key manager with the rest
    deadline = time.monotonic() + STOP_TIMEOUT
    while proc.popen.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.popen.returncode == 0, proc.output()


def test_a_key_manager_bound_beyond_loopback_is_refused_at_start() -> None:
    with tempfile.TemporaryDirectory() as state:
        done = subprocess.run(
            [str(procs.OTTAVA), "standalone", "--noop", "--state-dir", state,
             "--bind", f"127.0.0.1:{procs.free_port()}",
             "--network-api-bind", f"127.0.0.1:{procs.free_port()}",
             "--key-manager-api-bind", f"0.0.0.0:{procs.free_port()}"],
            capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "must listen on a loopback address, not 0.0.0.0" in done.stderr


@pytest.mark.parametrize("taken", ["key manager API", "network API", "API"])
def test_a_second_standalone_on_a_taken_address_ends_naming_it(
        standalone: tuple[str, pathlib.Path, procs.Proc], taken: str) -> None:
    """Before, a second standalone whose key manager port was taken logged the error and
    lingered, its API answering 500 to everything: now it ends at once, exit 2, naming the
    address, and the first one is untouched."""
    first_url, _, first = standalone
    def given(flag: str) -> str:
        return first.args[first.args.index(flag) + 1]

    held = {"key manager API": given("--key-manager-api-bind"),
            "network API": given("--network-api-bind"), "API": given("--bind")}
    ports = {name: f"127.0.0.1:{procs.free_port()}" for name in held}
    ports[taken] = held[taken]
    with tempfile.TemporaryDirectory() as state:
        done = subprocess.run(
            [str(procs.OTTAVA), "standalone", "--noop", "--state-dir", state,
             "--bind", ports["API"], "--network-api-bind", ports["network API"],
             "--key-manager-api-bind", ports["key manager API"]],
            capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot listen for the {taken} on {held[taken]}" in done.stderr, done.stderr[-3000:]
    assert first.popen.poll() is None, first.output()
    client = barbican_for(first_url)("standalone-project", user="alice")
    assert client.secrets.create(name="still", payload=b"here").store()
