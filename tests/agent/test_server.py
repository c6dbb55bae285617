"""The real amphora agent (`ottava amphora-agent --config FILE`) driven by the REST driver.

The agent runs as a subprocess on an ephemeral 127.0.0.1 port with a certificate issued by a
temporary CA; `RestAmphoraDriver` talks to it with the controller's client certificate and
checks the server's name against the amphora id. Checked: a spec with a listener in front of
two stdlib backends serves traffic; the same spec again changes nothing; the applied hash is
readable; stats count the requests; a forged client certificate is refused by the agent; a bad
spec is a `Fatal`; a restarted agent adopts the running HAProxy (same master PID, same hash);
remove leaves no HAProxy. The agent's and HAProxy's RSS after one apply are printed (not
asserted). Every process started is ended by PID.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ottava.agent import haproxy as agent_haproxy
from ottava.agent.haproxy import HAProxy
from ottava.domain.errors import Fatal
from ottava.domain.ports.amphora import AmphoraRef
from ottava.drivers.amphora import pki
from ottava.drivers.amphora.rest import RestAmphoraDriver
from tests.agent.test_haproxy_lifecycle import backends, get, spec  # noqa: F401
from tests.render.specs import HAPROXY, free_port


@pytest.fixture(autouse=True)
def _haproxy_installed() -> None:
    # Fail, never skip: `make install` installs HAProxy from Debian.
    assert os.path.exists(HAPROXY), f"{HAPROXY} is missing: run `make install`"

AMPHORA_ID = "3f0c6a52-2b1e-4c8d-9a7f-0e1d2c3b4a59"
DAY = datetime.timedelta(days=1)
EXE = Path(sys.executable).with_name("ottava")


@dataclass
class Agent:
    folder: Path
    config: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def lb(self) -> HAProxy:
        return HAProxy(self.folder / "state" / "lb")

    def start(self) -> None:
        command = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "ottava.cmd.main"]
        log = (self.folder / "agent.log").open("ab")
        self.process = subprocess.Popen([*command, "amphora-agent", "--config",
                                         str(self.config)], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            return None


@pytest.fixture
def ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.create()


@pytest.fixture
def agent(ca: pki.CertificateAuthority) -> Iterator[Agent]:
    folder = Path(tempfile.mkdtemp(prefix="ottava-ag-"))  # short: socket paths < 108 bytes
    cert, key = ca.issue_server(AMPHORA_ID, DAY)
    for name, data in (("ca.pem", ca.cert_pem), ("cert.pem", cert), ("key.pem", key)):
        (folder / name).write_bytes(data)
    (folder / "key.pem").chmod(0o600)
    port = free_port()
    config = folder / "agent.json"
    config.write_text(json.dumps({
        "amphora_id": AMPHORA_ID, "bind_host": "127.0.0.1", "bind_port": port,
        "state_dir": str(folder / "state"), "ca_path": str(folder / "ca.pem"),
        "cert_path": str(folder / "cert.pem"), "key_path": str(folder / "key.pem")}))
    running = Agent(folder, config, port)
    running.start()
    seen: set[int] = set()
    try:
        yield running
    finally:
        running.stop()
        lb = running.lb
        with contextlib.suppress(Exception):
            seen |= {p.pid for p in lb.processes()}
        with contextlib.suppress(Exception):
            lb.remove()
        for pid in seen:  # whatever survived remove(): by PID, never by name
            if agent_haproxy.pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def driver(ca: pki.CertificateAuthority, agent: Agent) -> RestAmphoraDriver:
    cert, key = ca.issue_client("ottava-controller", DAY)
    return RestAmphoraDriver(pki.client_context(ca.cert_pem, cert, key), agent.port,
                             connect_timeout=2.0, read_timeout=30.0, retry_for=20.0)


AMPHORA = AmphoraRef(id=AMPHORA_ID, load_balancer_id="lb-1", lb_network_ip="127.0.0.1")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_the_agent_applies_serves_reports_adopts_and_removes(
        agent: Agent, driver: RestAmphoraDriver, backends: dict[str, int]) -> None:  # noqa: F811
    info = driver.info(AMPHORA)  # retried while the agent starts
    assert info["api_version"] == "1" and info["amphora_id"] == AMPHORA_ID
    assert info["haproxy_version"]
    assert driver.applied_hash(AMPHORA) is None
    assert driver.full_stats(AMPHORA) == {"listeners": {}, "pools": {}, "members": {}}

    port = free_port()
    document = spec(port, backends)
    assert driver.put(AMPHORA, document) == {"hash": document["hash"], "changed": True}
    assert sorted(get(port) for _ in range(4)) == ["a", "a", "b", "b"]
    assert agent.process is not None
    master = agent.lb.master_pid()
    assert master is not None
    haproxy_pids = {p.pid for p in agent.lb.processes()}
    print(f"\nRSS after one apply: agent {rss_kib(agent.process.pid) / 1024:.1f} MiB, "
          f"HAProxy {sum(rss_kib(p) for p in haproxy_pids) / 1024:.1f} MiB "
          f"({len(haproxy_pids)} processes)")

    assert driver.put(AMPHORA, document) == {"hash": document["hash"], "changed": False}
    driver.apply(AMPHORA, document)  # the Protocol's method: same, returns nothing
    assert driver.applied_hash(AMPHORA) == document["hash"]
    counted = driver.stats(AMPHORA)["l-web"]
    assert counted["stot"] >= 4 and counted["hrsp_2xx"] >= 4, counted
    assert {"p-web"} <= set(driver.full_stats(AMPHORA)["pools"])

    # A restarted agent adopts the HAProxy that kept running meanwhile.
    assert agent.stop() == 0
    assert agent.lb.master_pid() == master
    assert get(port) in ("a", "b")  # the data plane survived the agent
    agent.start()
    assert driver.applied_hash(AMPHORA) == document["hash"]
    assert driver.put(AMPHORA, document)["changed"] is False
    assert agent.lb.master_pid() == master

    driver.remove(AMPHORA)
    assert agent.lb.master_pid() is None
    assert not any(agent_haproxy.pid_alive(pid) for pid in haproxy_pids)
    assert not agent.lb.directory.exists()
    assert driver.applied_hash(AMPHORA) is None
    driver.remove(AMPHORA)  # idempotent


def test_a_bad_spec_is_fatal_and_changes_nothing(
        agent: Agent, driver: RestAmphoraDriver, backends: dict[str, int]) -> None:  # noqa: F811
    document = spec(free_port(), backends)
    with pytest.raises(Fatal, match="hash"):
        driver.apply(AMPHORA, {**document, "hash": "0" * 64})
    with pytest.raises(Fatal, match="version"):
        driver.apply(AMPHORA, {**document, "version": 99})
    assert driver.applied_hash(AMPHORA) is None


def test_a_forged_client_certificate_is_refused(
        ca: pki.CertificateAuthority, agent: Agent, driver: RestAmphoraDriver) -> None:
    driver.info(AMPHORA)  # the agent is up
    forger = pki.CertificateAuthority.create()
    cert, key = forger.issue_client("ottava-controller", DAY)
    context = pki.client_context(ca.cert_pem, cert, key)  # trusts the agent, forged client
    raw = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError)), \
            context.wrap_socket(raw, server_hostname=AMPHORA_ID) as tls:
        tls.sendall(b"GET /v1/info HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
        assert not tls.recv(1024)  # the agent must not answer: an alert raises instead
    raw.close()
    forged = RestAmphoraDriver(context, agent.port, retry_for=1.0)
    with pytest.raises(Fatal):
        forged.info(AMPHORA)


def test_the_interface_plug_is_checked_and_names_a_missing_interface(
        agent: Agent, driver: RestAmphoraDriver) -> None:
    """A VM's port attached after boot: here (the host's own namespace) no interface has the
    MAC, so the agent touches nothing and says so; a bad body is refused before that."""
    driver.info(AMPHORA)
    with pytest.raises(Fatal, match="404: no interface has MAC address 02:00:5e:00:53:99"):
        driver.plug_interface(AMPHORA, "02:00:5e:00:53:99", "198.51.100.5", 24,
                              ["198.51.100.10"])
    with pytest.raises(Fatal, match="'prefixlen' does not fit"):
        driver.plug_interface(AMPHORA, "02:00:5e:00:53:99", "198.51.100.5", 33, [])
    with pytest.raises(Fatal, match="not an address"):
        driver.plug_interface(AMPHORA, "02:00:5e:00:53:99", "198.51.100.5", 24, ["nope"])
