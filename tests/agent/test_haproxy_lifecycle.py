"""One load balancer's HAProxy driven by `ottava.agent.haproxy`, with real traffic.

A real HAProxy (master-worker, daemonised) listens on an ephemeral 127.0.0.1 port in front
of two stdlib HTTP backends that answer their own name. Checked: round robin alternates;
the same spec twice changes nothing (same master, no reload), also for a new agent
adopting the running HAProxy; a changed spec reloads
through the master CLI under the same master PID and serves the new configuration, and
returns only once the old worker has stopped accepting; 20
updates under a bounded client load fail no request; a configuration HAProxy refuses is
kept as haproxy.cfg.failed while the previous one keeps serving; `stats()` counts what was
served; `remove()` leaves no process and no file. Every process started is ended by PID.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import itertools
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ottava.agent import haproxy as agent_haproxy
from ottava.agent.haproxy import ConfigRejected, HAProxy
from tests.render.specs import HAPROXY, document, free_port, listener, member, pool


@pytest.fixture(autouse=True)
def _haproxy_installed() -> None:
    # Fail, never skip: `make install` installs HAProxy from Debian.
    assert os.path.exists(HAPROXY), f"{HAPROXY} is missing: run `make install`"

LOAD_MAX_REQUESTS = 20000
LOAD_MAX_SECONDS = 60.0


# --- backends and client -----------------------------------------------------------------


class _Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[dict[str, int]]:
    """Two HTTP servers on 127.0.0.1: name -> port."""
    servers = []
    for name in ("a", "b"):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
        server.daemon_threads = True
        server.name = name  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        servers.append(server)
    try:
        yield {s.name: s.server_address[1] for s in servers}  # type: ignore[attr-defined]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def get(port: int, timeout: float = 5.0) -> str:
    """One request on a new connection; the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        conn.close()


def spec(port: int, backends: dict[str, int], weights: dict[str, int] | None = None) -> dict:
    """An HTTP listener on 127.0.0.1:`port`, a ROUND_ROBIN pool of the given members."""
    weights = {"a": 1, "b": 1} if weights is None else weights
    members = [member(f"m-{name}", "127.0.0.1", backends[name], weight=weight)
               for name, weight in weights.items()]
    return document([listener("l-web", port=port, default_pool_id="p-web")],
                    [pool("p-web", members=members)], vip_address="127.0.0.1")


# --- the agent's HAProxy -------------------------------------------------------------------


class Tracked(HAProxy):
    """HAProxy that remembers every PID it ran, so teardown can end them all."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__(directory)
        self.seen: set[int] = set()

    def apply(self, document: Any) -> bool:
        try:
            return super().apply(document)
        finally:
            self.remember()

    def remember(self) -> None:
        with contextlib.suppress(Exception):
            self.seen |= {p.pid for p in self.processes()}


@contextlib.contextmanager
def tracked(directory: str, *folders: str) -> Iterator[Tracked]:
    """An agent's HAProxy in `directory`/`folders`/lb-1, everything it ran ended after."""
    lb = Tracked(Path(directory, *folders) / "lb-1")
    try:
        yield lb
    finally:
        lb.remember()
        with contextlib.suppress(Exception):
            lb.remove()
        for pid in lb.seen:  # whatever survived remove(): by PID, never by name
            if agent_haproxy.pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def agent() -> Iterator[Tracked]:
    with tracked(tempfile.mkdtemp(prefix="ottava-agent-")) as lb:
        yield lb


def master_reloads(lb: HAProxy) -> tuple[int, int]:
    """(master PID, reload count) from the master CLI."""
    master = next(p for p in lb.processes() if p.kind == "master")
    return master.pid, master.reloads


# --- tests -------------------------------------------------------------------------------


def test_round_robin_alternates_and_the_same_spec_changes_nothing(
        agent: Tracked, backends: dict[str, int]) -> None:
    port = free_port()
    first = spec(port, backends)
    assert agent.apply(first) is True
    assert agent.applied_hash() == first["hash"]
    answers = [get(port) for _ in range(6)]
    assert sorted(answers) == ["a"] * 3 + ["b"] * 3
    assert all(x != y for x, y in itertools.pairwise(answers)), answers

    before = master_reloads(agent)
    config = agent.config.read_text()
    assert agent.apply(spec(port, backends)) is False  # same content, same hash
    assert master_reloads(agent) == before
    assert agent.config.read_text() == config
    assert get(port) in ("a", "b")

    restarted = HAProxy(agent.directory)  # a new agent adopts the running HAProxy
    assert restarted.master_pid() == before[0]
    assert restarted.applied_hash() == first["hash"]
    assert restarted.apply(first) is False
    assert master_reloads(agent) == before


def test_a_changed_spec_reloads_under_the_same_master(
        agent: Tracked, backends: dict[str, int]) -> None:
    port = free_port()
    agent.apply(spec(port, backends))
    master, reloads = master_reloads(agent)

    only_b = spec(port, backends, {"b": 1})
    assert agent.apply(only_b) is True
    assert master_reloads(agent) == (master, reloads + 1)
    assert agent.applied_hash() == only_b["hash"]
    assert {get(port) for _ in range(4)} == {"b"}

    assert agent.apply(spec(port, backends, {"a": 3, "b": 1})) is True
    assert master_reloads(agent) == (master, reloads + 2)
    answers = [get(port) for _ in range(8)]
    assert answers.count("a") == 6 and answers.count("b") == 2, answers
    assert agent.master_pid() == master


def test_a_reload_returns_once_the_old_worker_has_let_go_of_the_listeners(
        agent: Tracked, backends: dict[str, int]) -> None:
    """Until the old worker soft-stops, both workers accept: a request could still meet the
    old configuration after apply() (and so the API) said it was in force."""
    port = free_port()
    agent.apply(spec(port, backends))
    old = {p.pid for p in agent.processes() if p.kind == "worker"}
    with socket.create_connection(("127.0.0.1", port), timeout=5) as held:
        held.sendall(b"GET / HTTP/1.1\r\n")  # half a request: the old worker keeps it open
        assert agent.apply(spec(port, backends, {"b": 1})) is True
        still_running = {p.pid for p in agent.processes() if p.old} & old
        assert still_running == old  # held open, so the old worker is still there...
        for pid in old:  # ...but no longer accepting: it is soft-stopping
            info = agent._command(agent.master_socket, f"@!{pid} show info")
            assert "Stopping: 1" in info, info
        assert {get(port) for _ in range(8)} == {"b"}


def test_twenty_updates_under_load_fail_no_request(
        agent: Tracked, backends: dict[str, int]) -> None:
    port = free_port()
    agent.apply(spec(port, backends))
    master, reloads = master_reloads(agent)
    stop = threading.Event()
    outcome = {"ok": 0, "failed": 0}
    errors: list[str] = []

    def load() -> None:  # bounded: LOAD_MAX_REQUESTS requests or LOAD_MAX_SECONDS at most
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        for _ in range(LOAD_MAX_REQUESTS):
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                get(port)
                outcome["ok"] += 1
            except Exception as e:
                outcome["failed"] += 1
                errors.append(repr(e))

    client = threading.Thread(target=load, daemon=True)
    client.start()
    try:
        for i in range(20):
            assert agent.apply(spec(port, backends, {"a": 1 + i % 3, "b": 1 + (i + 1) % 2}))
            time.sleep(0.05)
    finally:
        stop.set()
        client.join(timeout=LOAD_MAX_SECONDS + 10)
    assert not client.is_alive()
    print(f"20 reloads under load: {outcome['ok']} requests served, "
          f"{outcome['failed']} failed")
    assert master_reloads(agent) == (master, reloads + 20)
    assert outcome["failed"] == 0, errors[:5]
    assert outcome["ok"] > 20


def test_a_refused_config_is_kept_aside_and_the_previous_one_serves(
        agent: Tracked, backends: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    good = spec(port, backends)
    agent.apply(good)
    before = master_reloads(agent)
    config = agent.config.read_text()

    real_render = agent_haproxy.render
    monkeypatch.setattr(agent_haproxy, "render",
                        lambda *a: real_render(*a) + "    no-such-directive 1\n")
    with pytest.raises(ConfigRejected, match="no-such-directive"):
        agent.apply(spec(port, backends, {"a": 1}))

    assert "no-such-directive" in agent.failed.read_text()
    assert not agent.candidate.exists()
    assert agent.config.read_text() == config
    assert agent.applied_hash() == good["hash"]
    assert master_reloads(agent) == before
    assert sorted(get(port) for _ in range(4)) == ["a", "a", "b", "b"]


def test_wrong_version_or_hash_is_refused_before_anything_is_written(
        agent: Tracked, backends: dict[str, int]) -> None:
    document_ = spec(free_port(), backends)
    with pytest.raises(ValueError, match="version"):
        agent.apply({**document_, "version": 99})
    with pytest.raises(ValueError, match="hash"):
        agent.apply({**document_, "hash": "0" * 64})
    assert not agent.directory.exists()
    assert agent.applied_hash() is None


def test_stats_count_what_was_served(agent: Tracked, backends: dict[str, int]) -> None:
    port = free_port()
    agent.apply(spec(port, backends))
    for _ in range(6):
        get(port)
    stats = agent.stats()
    assert stats["listeners"]["l-web"]["stot"] == 6
    assert stats["listeners"]["l-web"]["status"] == "OPEN"
    assert stats["pools"]["p-web"]["stot"] == 6
    assert stats["pools"]["p-web"]["status"] == "UP"
    assert {m: s["stot"] for m, s in stats["members"].items()} == {"m-a": 3, "m-b": 3}
    assert stats["members"]["m-a"]["hrsp_2xx"] == 3


def test_remove_leaves_no_process_and_no_file(agent: Tracked, backends: dict[str, int]) -> None:
    port = free_port()
    agent.apply(spec(port, backends))
    agent.apply(spec(port, backends, {"a": 2, "b": 1}))
    pids = {p.pid for p in agent.processes()}
    assert len(pids) >= 2
    agent.remove()
    assert [pid for pid in pids if agent_haproxy.pid_alive(pid)] == []
    assert not agent.directory.exists()
    assert agent.master_pid() is None and agent.applied_hash() is None
    with pytest.raises(OSError):
        get(port, timeout=2)
    agent.remove()  # twice is harmless


def test_a_state_folder_too_deep_for_a_unix_socket_still_serves(
        backends: dict[str, int]) -> None:
    deep = ("a-state-folder-whose-path-is-far-too-long-for-a-unix-socket",
            "amphorae", "0d4e7c6a-5b7e-4f7e-9a51-0c1f7c3c9a10")
    with tracked(tempfile.mkdtemp(prefix="ottava-agent-"), *deep) as lb:
        assert len(str(lb.directory / "haproxy.sock")) > 108
        port = free_port()
        lb.apply(spec(port, backends))
        lb.apply(spec(port, backends, {"a": 2, "b": 1}))  # a reload through the master CLI
        assert get(port) in ("a", "b")
        assert lb.stats()["listeners"]["l-web"]["status"] == "OPEN"
        assert HAProxy(lb.directory).master_pid() == lb.master_pid()  # another agent adopts
        sockets = lb.sockets
        assert sockets != lb.directory and (sockets / "master.sock").is_socket()
        lb.remove()
        assert not sockets.exists()
        lb.apply(spec(port, backends))  # applied again after a removal (a drift repair)
        assert get(port) in ("a", "b")
        lb.remove()
