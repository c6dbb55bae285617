"""The host agent's control socket and namespace helpers, in this process, without amphorae.

What it takes to serve real amphorae (namespaces, mutual TLS, adoption, a namespace deleted
behind its back) is tested through the local compute driver in tests/drivers/test_local.py.
Here: the control protocol answers every request, good or bad, with one line and never
breaks; a second host agent on the same folder refuses to start; the host agent stops when its
folder is gone; the wire contract's checks and its socket path for long folders; a call made
inside a namespace by `netns.run_inside` raises in the caller.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ottava.agent import netns
from ottava.agent.host import HostAgent
from ottava.wire import agent as api


@pytest.fixture
def running() -> Iterator[tuple[HostAgent, threading.Event, threading.Thread]]:
    folder = Path(tempfile.mkdtemp(prefix="ottava-ha-"))
    host = HostAgent(folder)
    stop = threading.Event()
    thread = threading.Thread(target=host.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        yield host, stop, thread
    finally:
        stop.set()
        thread.join(timeout=5)
        host.close()
        shutil.rmtree(folder, ignore_errors=True)


def raw(host: HostAgent, line: bytes) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(api.host_socket(host.directory))
        sock.sendall(line)
        with sock.makefile("rb") as reader:
            answer: dict = json.loads(reader.readline())
    return answer


def test_the_control_socket_answers_every_request_with_one_line(running) -> None:
    host, _, _ = running
    path = api.host_socket(host.directory)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # root only
    assert api.call_host(host.directory, {"op": "list"}) == []
    for line, error in ((b"not json\n", "Expecting value"),
                        (b'{"op": "reboot"}\n', "one of add, remove, list"),
                        (b'{"op": "add", "amphora_id": "../etc"}\n', "amphora id"),
                        (b'{"op": "list", "extra": 1}\n', "unknown keys: extra")):
        answer = raw(host, line)
        assert answer["ok"] is False and error in answer["error"], (line, answer)
    with pytest.raises(RuntimeError, match="refused add"):  # no such amphora folder
        api.call_host(host.directory, {"op": "add", "amphora_id": "0b5e5c0e-aaaa"})
    assert api.call_host(host.directory, {"op": "remove", "amphora_id": "0b5e5c0e"}) == []


def test_a_folder_without_a_namespace_is_refused(running) -> None:
    host, _, _ = running
    folder = host.directory / "5a1b7c3d-0000-4000-8000-000000000001"
    folder.mkdir()
    config = {"amphora_id": folder.name, "bind_host": "127.0.0.1", "bind_port": 0,
              "state_dir": str(folder), "ca_path": "ca.pem", "cert_path": "c.pem",
              "key_path": "k.pem", "netns": "ottava-no-such-namespace"}
    (folder / api.HOST_CONFIG).write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="does not exist"):
        api.call_host(host.directory, {"op": "add", "amphora_id": folder.name})
    del config["netns"]
    (folder / api.HOST_CONFIG).write_text(json.dumps(config))
    with pytest.raises(RuntimeError, match="no namespace"):
        api.call_host(host.directory, {"op": "add", "amphora_id": folder.name})
    (folder / api.HOST_CONFIG).unlink()
    folder.rmdir()


def test_a_second_host_agent_on_the_same_folder_refuses(running) -> None:
    host, _, _ = running
    with pytest.raises(RuntimeError, match="another host agent serves"):
        HostAgent(host.directory)
    assert api.call_host(host.directory, {"op": "list"}) == []  # the first one still serves


def test_the_host_agent_stops_when_its_folder_is_gone(running) -> None:
    host, _, thread = running
    shutil.rmtree(host.directory)
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_long_folder_gets_a_short_socket_path() -> None:
    short = api.host_socket("/srv/ottava/amphorae")
    assert short == "/srv/ottava/amphorae/host-agent.sock"
    deep = "/tmp/" + "x" * 120
    path = api.host_socket(deep)
    assert path.startswith("/run/ottava/host-agent-") and len(path.encode()) < 108
    assert api.host_socket(deep) == path  # every caller finds the same one


def test_run_inside_raises_in_the_caller() -> None:
    with pytest.raises(FileNotFoundError):
        netns.run_inside("ottava-no-such-namespace", lambda: None)
    with pytest.raises(ValueError):
        netns.path("../escape")
    assert netns.run_inside(None, lambda x: x + 1, 1) == 2
    assert netns.exec_argv("ns", ["keepalived"]) == ["ip", "netns", "exec", "ns",
                                                     "keepalived"]
