"""The local compute and network drivers with real namespaces, veths and the `ottava0` bridge.

Needs root (CAP_NET_ADMIN) and `ip`; skipped otherwise. Traffic stays on the bridge between the
host (198.18.0.1) and the namespaces this test creates. The amphorae are served by the real host
agent (`ottava amphora-host-agent`), reached over mutual TLS as the controller reaches it, with
certificates from a temporary CA. Every namespace, link, process and file is removed in
teardown, also on failure.
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import http.server
import ipaddress
import json
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from ottava.domain.errors import Conflict, Fatal, Invalid
from ottava.domain.ports.amphora import AmphoraRef
from ottava.domain.ports.compute import AgentBootConfig
from ottava.domain.ports.network import VipRequest
from ottava.drivers.amphora import pki
from ottava.drivers.amphora.rest import RestAmphoraDriver
from ottava.drivers.compute.local import LocalComputeDriver, compute_id_for
from ottava.drivers.linux import ipam, netlink
from ottava.drivers.network.local import DEFAULT_SUBNET_ID, LocalNetworkDriver
from ottava.settings import DriverSettings

SERVER = r'''
import http.server, socketserver, sys
host, port, body = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
class S(http.server.HTTPServer):
    server_bind = socketserver.TCPServer.server_bind  # no getfqdn(): no DNS lookup
S((host, port), H).serve_forever()
'''

AGENT_PORT = 9443


def _can_run() -> str | None:
    if shutil.which("ip") is None:
        return "iproute2 `ip` is missing"
    try:
        netlink.require_net_admin()
    except netlink.LocalDriverUnavailable as e:
        return str(e)
    return None


@pytest.fixture(autouse=True)
def _net_admin() -> None:
    # Fail, never skip: CI runs as root, and these tests are what proves the local drivers.
    problem = _can_run()
    assert problem is None, problem


def get(host: str, port: int, deadline: float = 10.0) -> str:
    """GET / on host:port (no proxy), retrying until the server listens."""
    end = time.monotonic() + deadline
    while True:
        try:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            conn.request("GET", "/")
            return conn.getresponse().read().decode()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


def ns_get(namespace: str, host: str, port: int) -> str:
    """GET / on host:port from inside the namespace."""
    code = ("import http.client,sys; c=http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]),"
            " timeout=3); c.request('GET','/'); print(c.getresponse().read().decode())")
    return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", code,
                           host, str(port)], check=True, capture_output=True, text=True,
                          timeout=15).stdout.strip()


CA = pki.CertificateAuthority.create()
DAY = datetime.timedelta(days=1)


def _boot(amphora_id: str) -> AgentBootConfig:
    cert, key = CA.issue_server(amphora_id, DAY)
    return AgentBootConfig(amphora_id, CA.cert_pem.decode(), cert.decode(), key.decode(),
                           AGENT_PORT)


def controller() -> RestAmphoraDriver:
    """The controller's side of the agents' mutual TLS."""
    cert, key = CA.issue_client("ottava-controller", DAY)
    return RestAmphoraDriver(pki.client_context(CA.cert_pem, cert, key), AGENT_PORT,
                             connect_timeout=2.0, read_timeout=10.0, retry_for=10.0)


def agent_says(amphora_id: str, address: str) -> str:
    """The amphora id the agent on `address` answers with (its certificate checked against
    `amphora_id`, as the REST driver checks every amphora)."""
    ref = AmphoraRef(amphora_id, "lb", lb_network_ip=address)
    return controller().info(ref)["amphora_id"]


@pytest.fixture
def env(tmp_path: Path):
    """Drivers on a temp state dir; undoes everything the test made, even on failure."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    bridge_existed = bool(_links(netlink.BRIDGE))
    made: dict = {"compute_ids": set(), "procs": [], "script": script}
    state = tmp_path / "state"
    made["compute"] = LocalComputeDriver(DriverSettings(state_dir=state))
    made["network"] = LocalNetworkDriver()
    made["state"] = state
    try:
        yield made
    finally:
        for proc in made["procs"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        for cid in made["compute_ids"]:
            with contextlib.suppress(Exception):
                made["compute"].delete_amphora(cid)
            if netlink.namespace_exists(cid):
                for pid in netlink.namespace_pids(cid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                netlink.delete_namespace(cid)
        made["compute"].stop()
        if not bridge_existed and not _links_on_bridge():
            subprocess.run(["ip", "link", "del", netlink.BRIDGE], timeout=10, check=False)


def _links_on_bridge() -> str:
    """The links still attached to the bridge (another test's, or a stack's)."""
    return subprocess.run(["ip", "-o", "link", "show", "master", netlink.BRIDGE],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def _links(name: str) -> str:
    return subprocess.run(["ip", "-o", "link", "show", name], capture_output=True, text=True,
                          timeout=10).stdout


def _create(env: dict, driver: LocalComputeDriver | None = None):
    amphora_id, lb_id = str(uuid.uuid4()), str(uuid.uuid4())
    env["compute_ids"].add(compute_id_for(amphora_id))
    booted = (driver or env["compute"]).create_amphora(amphora_id, lb_id, _boot(amphora_id))
    return amphora_id, lb_id, booted


def test_local_amphorae_carry_traffic_and_leave_nothing(env: dict) -> None:
    compute: LocalComputeDriver = env["compute"]
    network: LocalNetworkDriver = env["network"]
    amphorae = [_create(env) for _ in range(2)]
    mgmt = {b.lb_network_ip for _, _, b in amphorae}
    assert len(mgmt) == 2 and None not in mgmt
    # The bridge keeps its own MAC whatever joins it: the amphorae's ARP entries for the
    # gateway never go stale because a port came or went.
    bridge = Path("/sys/class/net") / netlink.BRIDGE
    assert (bridge / "address").read_text().strip() == netlink.BRIDGE_MAC
    assert (bridge / "addr_assign_type").read_text().strip() == "3"  # set, not inherited

    for amphora_id, _, booted in amphorae:
        cid = booted.compute_id
        assert cid == compute_id_for(amphora_id)
        assert cid in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                     timeout=10).stdout
        assert f"master {netlink.BRIDGE}" in _links(netlink.host_ifname(cid))
        assert (booted.lb_network_ip, 15) in netlink.addresses(cid)
        folder = env["state"] / "amphorae" / amphora_id
        conf = json.loads((folder / "agent.json").read_text())
        assert conf["bind_host"] == booted.lb_network_ip and conf["bind_port"] == AGENT_PORT
        assert (os.stat(conf["key_path"]).st_mode & 0o777) == 0o600
        assert conf["netns"] == cid
        # host -> management, mutual TLS, this amphora's own certificate
        assert agent_says(amphora_id, booted.lb_network_ip) == amphora_id
        assert compute.is_running(cid)
    # One host agent serves both, each inside its own namespace: the first amphora's address
    # answers with the first amphora's certificate only.
    (_, _, first), (second_id, _, _) = amphorae
    with pytest.raises(Fatal):
        agent_says(second_id, first.lb_network_ip)
    host_pid = int((env["state"] / "amphorae" / "host-agent.pid").read_text())
    assert not netlink.namespace_pids(first.compute_id) or \
        host_pid not in netlink.namespace_pids(first.compute_id)

    # A VIP plugged into the first amphora, served from inside its namespace.
    _, lb_id, booted = amphorae[0]
    cid = booted.compute_id
    vip = network.allocate_vip(VipRequest(lb_id, None, subnet_id=DEFAULT_SUBNET_ID))
    assert vip.address not in mgmt
    ref = AmphoraRef(str(uuid.uuid4()), lb_id, compute_id=cid)
    assert network.plug_vip(ref, vip).vrrp_ip == booted.lb_network_ip
    assert (vip.address, 32) in netlink.addresses(cid)
    proc = subprocess.Popen(["ip", "netns", "exec", cid, sys.executable, str(env["script"]),
                             vip.address, "8080", "vip"], start_new_session=True)
    env["procs"].append(proc)
    assert get(vip.address, 8080) == "vip"
    assert [p.fixed_ips[0][1] for p in network.ports() if p.id == vip.port_id] == [vip.address]

    # Members may use the gateway address: the namespace reaches the host on 198.18.0.1.
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"host")

        def log_message(self, *args: object) -> None:
            pass

    class NoDns(http.server.HTTPServer):
        server_bind = socketserver.TCPServer.server_bind  # no getfqdn(): no DNS lookup

    host_server = NoDns((str(netlink.GATEWAY), 0), Hello)
    thread = threading.Thread(target=host_server.serve_forever, daemon=True)
    thread.start()
    try:
        assert ns_get(cid, str(netlink.GATEWAY), host_server.server_address[1]) == "host"
    finally:
        host_server.shutdown()
        host_server.server_close()

    # Requested addresses: in use -> Conflict, outside the subnet -> Invalid.
    with pytest.raises(Conflict):
        network.allocate_vip(VipRequest(str(uuid.uuid4()), None, address=vip.address))
    with pytest.raises(Conflict):
        network.allocate_vip(VipRequest(str(uuid.uuid4()), None, address=str(netlink.GATEWAY)))
    with pytest.raises(Invalid):
        network.allocate_vip(VipRequest(str(uuid.uuid4()), None, address="10.1.2.3"))
    assert network.find_subnet(str(uuid.uuid4())) is None

    # A restart: new drivers adopt the amphorae and the VIP; nothing is duplicated.
    compute2 = LocalComputeDriver(DriverSettings(state_dir=env["state"]))
    network2 = LocalNetworkDriver()
    env["compute"].stop()  # the first driver's supervisor
    env["compute"] = compute2
    for _, _, b in amphorae:
        assert compute2.is_running(b.compute_id)
    assert network2.find_port(vip.port_id) is not None
    assert network2.allocate_vip(VipRequest(lb_id, None)) == vip  # same VIP, no new address
    fresh = ipam.AddressPool()  # no memory: everything derived from the namespaces
    assert {ipaddress.IPv4Address(a) for a in [*mgmt, vip.address]} <= fresh.configured()
    again = compute2.create_amphora(amphorae[1][0], amphorae[1][1], _boot(amphorae[1][0]))
    assert again.lb_network_ip == amphorae[1][2].lb_network_ip
    third = _create(env, compute2)[2]
    other_vip = network2.allocate_vip(VipRequest(str(uuid.uuid4()), None))
    taken = [*mgmt, vip.address, third.lb_network_ip, other_vip.address]
    assert len(set(taken)) == len(taken)
    network2.deallocate_vip("x", other_vip)

    assert int((env["state"] / "amphorae" / "host-agent.pid").read_text()) == host_pid

    # Delete leaves no namespace, link, process or amphora folder.
    network2.unplug_vip(ref, vip)
    assert (vip.address, 32) not in netlink.addresses(cid)
    network2.deallocate_vip(lb_id, vip)
    assert network2.find_port(vip.port_id) is None
    for booted in (*[b for _, _, b in amphorae], third):
        compute2.delete_amphora(booted.compute_id)
        assert not compute2.is_running(booted.compute_id)
    env["procs"][0].wait(timeout=5)  # the VIP server died with its namespace's processes
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             timeout=10).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                           timeout=10).stdout
    for cid in env["compute_ids"]:
        assert cid not in listing
        assert netlink.host_ifname(cid) not in links
    assert not netlink.pid_alive(host_pid)  # stopped with the last amphora
    assert [p.name for p in (env["state"] / "amphorae").iterdir() if p.is_dir()] == []


def _eventually(check, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def test_the_host_agent_is_adopted_and_lets_a_dead_namespace_go(env: dict) -> None:
    """A host agent killed outright is started again by the driver's supervisor within a
    second or two, and serves the amphorae again (a new driver then adopts it); a namespace
    deleted behind the host agent's back is dropped, and its sockets and threads no longer
    hold it: the kernel frees it, veth and all."""
    amphorae = [_create(env) for _ in range(2)]
    folder = env["state"] / "amphorae"
    first_pid = int((folder / "host-agent.pid").read_text())
    os.kill(first_pid, signal.SIGKILL)
    _eventually(lambda: not netlink.pid_alive(first_pid), 5, "the host agent dead")

    def restarted() -> bool:
        pid = folder / "host-agent.pid"
        return pid.exists() and int(pid.read_text() or 0) != first_pid and all(
            env["compute"].is_running(b.compute_id) for _, _, b in amphorae)

    _eventually(restarted, 10, "the host agent started again, serving both amphorae")
    second_pid = int((folder / "host-agent.pid").read_text())

    compute2 = LocalComputeDriver(DriverSettings(state_dir=env["state"]))
    env["compute"].stop()  # the first driver's supervisor
    env["compute"] = compute2
    assert int((folder / "host-agent.pid").read_text()) == second_pid  # adopted, not doubled
    for amphora_id, _, booted in amphorae:
        assert compute2.is_running(booted.compute_id)
        assert agent_says(amphora_id, booted.lb_network_ip) == amphora_id

    (_, _, gone), (kept_id, _, kept) = amphorae
    for pid in netlink.namespace_pids(gone.compute_id):
        os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", gone.compute_id], timeout=10, check=True)
    _eventually(lambda: not compute2.is_running(gone.compute_id), 5, "the amphora dropped")
    _eventually(lambda: not _links(netlink.host_ifname(gone.compute_id)), 10,
                "the namespace freed (its veth gone with it)")
    assert compute2.is_running(kept.compute_id)
    assert agent_says(kept_id, kept.lb_network_ip) == kept_id

    compute2.delete_amphora(gone.compute_id)  # the folder left behind
    compute2.delete_amphora(kept.compute_id)
    assert not netlink.pid_alive(second_pid)
