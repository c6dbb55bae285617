"""A load balancer in the cloud, end to end: Ottava with the nova, neutron and rest drivers
against the mini-openstack's real Keystone, Glance, Neutron and Nova, whose nova-compute runs
the test virt driver (`tests/cloud/virt`), so every server is a real amphora on this host: a
network namespace running Ottava's agent (from the boot document in the server's user data)
and HAProxy, its ports veths on a bridge per Neutron network with Neutron's MACs and
addresses.

The chain is the deployment's: the API allocates the VIP as a Neutron port; the worker boots
the amphora through Nova from the tagged Glance image on the management network, reaches its
agent there over mutual TLS, has Neutron and Nova attach the amphora's port on the VIP
network, and has the agent configure it; heartbeats come back over the management network.
Checked: HTTP through the VIP reaches the member on the tenant network; an amphora whose
server is deleted behind Ottava's back is noticed by its silence, replaced through Nova and
Neutron, and the same VIP carries traffic again, its old port gone; after a delete no server
and no port Ottava made is left.

The host plays the tenant's client and member and the controller's host: it holds the
gateway addresses of the VIP (198.51.100.0/25), management (198.51.100.128/26) and member
(198.51.100.192/26) networks on their bridges (a documentation range; the fixture refuses to
start if the host routes any of them, or talks to anything there: its name server, its
package mirrors). Everything is removed after, and the
mini-openstack's own nova-compute is started again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import http.client
import http.server
import ipaddress
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import harness
from tests.cloud.conftest import KEYSTONE, REGION, ROOT
from tests.cloud.test_nova_compute import connect, eventually

PASSWORD = "cloud-lb-secret"
VIRT = pathlib.Path(__file__).parent / "virt"
# Three slices of one documentation range (TEST-NET-2). The fixture checks that nothing this
# host talks to lives there (this sandbox reaches its package mirrors at a TEST-NET-3 address).
VIP_CIDR, VIP_GATEWAY = "198.51.100.0/25", "198.51.100.1"
MGMT_CIDR, MGMT_GATEWAY = "198.51.100.128/26", "198.51.100.129"
MEMBER_CIDR, MEMBER_GATEWAY = "198.51.100.192/26", "198.51.100.193"
# A host route of the member subnet: only ever inside the amphorae (routed through their port).
MEMBER_HOST_ROUTE = {"destination": "10.99.0.0/16", "nexthop": MEMBER_GATEWAY}
OTTAVA = pathlib.Path(sys.executable).parent / "ottava"
LB = "/v2/lbaas/loadbalancers"
NOTHING = {"servers": [], "ports": [], "security groups": [], "server groups": []}


def bridge(network_id: str) -> str:
    return f"br{network_id[:11]}"  # as tests/cloud/virt/ottava_amphora.py names it


def bridge_mac(network_id: str) -> str:
    """A bridge's own MAC (locally administered), as the virt driver sets it: left to itself
    a bridge takes the lowest MAC of its ports, which changes as amphorae come and go, and
    every amphora's ARP entry for the host goes stale (heartbeats lost for seconds)."""
    return "02:" + ":".join(network_id.replace("-", "")[i:i + 2] for i in range(0, 10, 2))


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


class NovaCompute:
    """The mini-openstack's nova-compute swapped for one running the amphora virt driver,
    and back."""

    def __init__(self, state: pathlib.Path, admin: Any) -> None:
        self.admin = admin
        self.pidfile = ROOT / "pids" / "nova-compute.pid"
        self.conf = ROOT / "etc" / "nova" / "nova.conf"
        self.python = ROOT / "venv" / "bin" / "python"
        self.extra = state / "amphorae.conf"
        self.extra.write_text("[DEFAULT]\ncompute_driver = ottava_amphora.AmphoraDriver\n")
        self.log = state / "nova-compute.log"
        self.state = state / "amphorae"

    def _stop_running(self) -> None:
        pid = int(self.pidfile.read_text().strip())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pathlib.Path(f"/proc/{pid}").exists():
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def _start(self, argv: list[str], env: dict[str, str], log: pathlib.Path) -> None:
        started = time.time()
        with open(log, "ab") as out:
            process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.pidfile.write_text(f"{process.pid}\n")  # stop.sh stops it by this file

        def up() -> bool:  # a heartbeat written by the process just started
            for service in self.admin.compute.services(binary="nova-compute"):
                stamp = datetime.datetime.fromisoformat(
                    (service.updated_at or "1970-01-01T00:00:00")[:19]).replace(
                        tzinfo=datetime.UTC)
                if service.state == "up" and stamp.timestamp() >= started - 1:
                    return True
            return False

        eventually(up, "nova-compute reporting", timeout=180)

    def with_amphorae(self) -> None:
        self._stop_running()
        env = {**os.environ, "OTTAVA_AGENT": str(OTTAVA),
               "OTTAVA_AMPHORA_STATE": str(self.state)}
        self._start([str(self.python), str(VIRT / "launch.py"), "--config-file",
                     str(self.conf), "--config-file", str(self.extra), "--log-file",
                     str(self.log)], env, self.log)

    def original(self) -> None:
        self._stop_running()
        self._start([str(ROOT / "venv" / "bin" / "nova-compute"), "--config-file",
                     str(self.conf), "--log-file", str(ROOT / "logs" / "nova-compute.log")],
                    dict(os.environ), ROOT / "logs" / "nova-compute.stdout")


class Backend:
    """An HTTP server on a tenant network's host address answering its name."""

    def __init__(self, name: str, address: str = VIP_GATEWAY) -> None:
        body = name.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CloudDeployment:
    amphorae: pathlib.Path  # the test virt driver's state: one folder per server

    def __init__(self) -> None:
        self.tag = f"ottava-lb-{uuid.uuid4().hex[:8]}"
        self.admin = connect("admin", "admin-secret", "admin")
        ident = self.admin.identity
        self.service = ident.create_project(name=f"{self.tag}-service", domain_id="default")
        self.tenant = ident.create_project(name=f"{self.tag}-tenant", domain_id="default")
        self.user = ident.create_user(name=self.tag, password=PASSWORD,
                                      default_project_id=self.service.id, domain_id="default")
        ident.assign_project_role_to_user(self.service, self.user, ident.find_role("admin"))
        self.tenant_user = ident.create_user(name=f"{self.tag}-tenant", password=PASSWORD,
                                             default_project_id=self.tenant.id,
                                             domain_id="default")
        ident.assign_project_role_to_user(self.tenant, self.tenant_user,
                                          ident.find_role("member"))
        self.ottava = connect(self.tag, PASSWORD, f"{self.tag}-service")
        net = self.admin.network
        self.mgmt = net.create_network(name=f"{self.tag}-mgmt", project_id=self.service.id)
        net.create_subnet(network_id=self.mgmt.id, ip_version=4, cidr=MGMT_CIDR,
                          gateway_ip=MGMT_GATEWAY, project_id=self.service.id)
        self.vip_net = net.create_network(name=f"{self.tag}-vip", project_id=self.tenant.id)
        self.vip_subnet = net.create_subnet(network_id=self.vip_net.id, ip_version=4,
                                            cidr=VIP_CIDR, gateway_ip=VIP_GATEWAY,
                                            project_id=self.tenant.id)
        self.member_net = net.create_network(name=f"{self.tag}-members",
                                             project_id=self.tenant.id)
        self.member_subnet = net.create_subnet(network_id=self.member_net.id, ip_version=4,
                                               cidr=MEMBER_CIDR, gateway_ip=MEMBER_GATEWAY,
                                               host_routes=[MEMBER_HOST_ROUTE],
                                               project_id=self.tenant.id)
        self.flavor = self.admin.compute.create_flavor(name=self.tag, ram=512, vcpus=1, disk=1)
        self.image = self.ottava.image.create_image(
            name=self.tag, data=b"\0" * 1024, disk_format="raw", container_format="bare",
            tags=[self.tag], visibility="private", allow_duplicates=True, wait=True,
            timeout=120)
        for network, gateway, cidr in ((self.mgmt, MGMT_GATEWAY, MGMT_CIDR),
                                       (self.vip_net, VIP_GATEWAY, VIP_CIDR),
                                       (self.member_net, MEMBER_GATEWAY, MEMBER_CIDR)):
            name = bridge(network.id)
            subprocess.run(["ip", "link", "add", "name", name, "type", "bridge"],
                           capture_output=True, timeout=20, check=False)
            ip("link", "set", name, "address", bridge_mac(network.id))
            ip("addr", "replace", f"{gateway}/{cidr.split('/')[1]}", "dev", name)
            ip("link", "set", name, "up")

    def settings(self) -> dict[str, dict[str, Any]]:
        return {
            "controller_worker": {
                "compute_driver": "nova", "network_driver": "neutron",
                "amphora_driver": "rest", "certificates_driver": "noop",
                "amp_image_tag": self.tag, "amp_flavor_id": self.flavor.id,
                "amp_boot_network_list": [self.mgmt.id], "amp_active_wait_sec": 1,
                # A QEMU guest under TCG takes a minute or more before its agent answers.
                "driver_call_retries": 12},
            "service_auth": {"auth_url": KEYSTONE, "username": self.tag,
                             "password": PASSWORD, "project_name": f"{self.tag}-service"},
            # One compute host: a pair can spread only softly.
            "nova": {"region_name": REGION, "enable_anti_affinity": True,
                     "anti_affinity_policy": "soft-anti-affinity"},
            "neutron": {"region_name": REGION},
            # standalone's 3 s is for one quiet host; here a whole cloud shares two cores
            # with the amphorae, so a pause of a few seconds is not yet a death.
            "health_manager": {"bind_ip": MGMT_GATEWAY, "heartbeat_timeout": 10},
        }

    def token(self, username: str, project: str, password: str = PASSWORD) -> str:
        """A Keystone token of `username`, scoped to `project`."""
        return str(connect(username, password, project).auth_token)

    def cli_env(self, ottava_url: str) -> dict[str, str]:
        """The `openstack` CLI as the tenant's user: Keystone for everything, Ottava's API
        named by endpoint override (it is not in the catalog)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_AUTH_URL=KEYSTONE, OS_IDENTITY_API_VERSION="3",
                   OS_USERNAME=self.tenant_user.name, OS_PASSWORD=PASSWORD,
                   OS_PROJECT_NAME=f"{self.tag}-tenant", OS_USER_DOMAIN_NAME="Default",
                   OS_PROJECT_DOMAIN_NAME="Default", OS_REGION_NAME=REGION,
                   OS_LOAD_BALANCER_ENDPOINT_OVERRIDE=ottava_url)
        return env

    def leftovers(self) -> dict[str, list[str]]:
        return {"servers": [s.name for s in self.ottava.compute.servers()],
                "ports": [p.name for p in self.admin.network.ports()
                          if (p.name or "").startswith(("octavia-lb-", "octavia-member-"))],
                "security groups": [g.name for g in self.admin.network.security_groups(
                    project_id=self.service.id) if (g.name or "").startswith("lb-")],
                "server groups": [g.name for g in self.ottava.compute.server_groups()]}

    def remove(self) -> None:
        for server in self.ottava.compute.servers():
            self.ottava.compute.delete_server(server, ignore_missing=True)
        eventually(lambda: not list(self.ottava.compute.servers()), "servers deleted")
        for network in (self.vip_net, self.mgmt, self.member_net):
            for port in self.admin.network.ports(network_id=network.id):
                self.admin.network.delete_port(port, ignore_missing=True)
            self.admin.network.delete_network(network, ignore_missing=True)
            subprocess.run(["ip", "link", "del", bridge(network.id)], capture_output=True,
                           timeout=20, check=False)
        self.ottava.image.delete_image(self.image, ignore_missing=True)
        self.admin.compute.delete_flavor(self.flavor, ignore_missing=True)
        for project in (self.service, self.tenant):
            for group in self.admin.network.security_groups(project_id=project.id):
                self.admin.network.delete_security_group(group, ignore_missing=True)
        for user in (self.user, self.tenant_user):
            self.admin.identity.delete_user(user, ignore_missing=True)
        for project in (self.service, self.tenant):
            self.admin.identity.delete_project(project, ignore_missing=True)


def _addresses_this_host_needs() -> list[str]:
    """Its name servers and the addresses of the registries it installs from."""
    found = []
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/etc/resolv.conf").read_text().splitlines():
            if line.startswith("nameserver"):
                found.append(line.split()[1])
    for name in ("deb.debian.org", "pypi.org", "files.pythonhosted.org"):
        with contextlib.suppress(OSError):
            found += {info[4][0] for info in socket.getaddrinfo(name, 80)}
    return [a for a in found if ":" not in a]


def _routes_to(cidr: str) -> list[str]:
    """The host's routes, other than the default one, that reach into `cidr`."""
    out = subprocess.run(["ip", "route", "show", "to", "match", cidr.split("/")[0]],
                         capture_output=True, text=True, timeout=20, check=False).stdout
    return [line for line in out.splitlines() if line and not line.startswith("default")]


@contextlib.contextmanager
def cloud_deployment(print_logs: bool = True) -> Iterator[CloudDeployment]:
    """A CloudDeployment with the amphora virt driver's nova-compute, removed after (also by
    bench/cloud.py). Refuses to start where the host routes, or talks to, the ranges."""
    needed = _addresses_this_host_needs()
    for cidr in (MGMT_CIDR, VIP_CIDR, MEMBER_CIDR):
        assert not _routes_to(cidr), \
            f"this host routes {cidr} already ({_routes_to(cidr)}): the test would take it"
        inside = [a for a in needed if ipaddress.ip_address(a) in ipaddress.ip_network(cidr)]
        assert not inside, f"this host talks to {inside} in {cidr}: the test would cut it off"
    state = pathlib.Path(tempfile.mkdtemp(prefix="ottava-cloud-lb-"))
    made = CloudDeployment()
    compute = NovaCompute(state, made.admin)
    made.amphorae = compute.state
    try:
        compute.with_amphorae()
        yield made
    finally:
        try:
            if print_logs:
                _print_logs(state)  # shown when a test failed
            made.remove()
        finally:
            compute.original()
            for pidfile in compute.state.glob("**/*.pid"):  # QEMU, dnsmasq: by PID
                with contextlib.suppress(ValueError, ProcessLookupError, OSError):
                    os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
            shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def deployment(cloud: None) -> Iterator[CloudDeployment]:
    with cloud_deployment() as made:
        yield made


def _print_logs(state: pathlib.Path, lines: int = 40) -> None:
    for log in sorted(state.rglob("*.log")):
        text = log.read_text(errors="replace").splitlines()
        print(f"--- {log} (last {lines} lines)", *text[-lines:], sep="\n")


@dataclasses.dataclass
class Ottava:
    stack: harness.Stack
    api: harness.Client  # the tenant's user (member), with its Keystone token
    admin: harness.Client  # the cloud's admin: the amphora API


@contextlib.contextmanager
def running_ottava(deployment: CloudDeployment) -> Iterator[Ottava]:
    """Ottava's API behind Keystone (keystonemiddleware, Keystone's default roles), its
    worker and health manager, with the cloud drivers (also by bench/cloud.py)."""
    state = harness.new_state_dir()
    settings = deployment.settings()
    stack = harness.Stack(
        f"sqlite:///{pathlib.Path(state) / 'ottava.db'}", state,
        {**settings, "api_settings": {"auth_strategy": "keystone"}}, health=True,
        auth_overrides={"keystone_authtoken": {
            **settings["service_auth"], "www_authenticate_uri": KEYSTONE,
            "auth_type": "password", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": REGION}})
    try:
        yield Ottava(stack,
                     harness.Client(stack.url, {"X-Auth-Token": deployment.token(
                         deployment.tenant_user.name, f"{deployment.tag}-tenant")}),
                     harness.Client(stack.url, {"X-Auth-Token": deployment.token(
                         "admin", "admin", "admin-secret")}))
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="module")
def ottava(deployment: CloudDeployment) -> Iterator[Ottava]:
    with running_ottava(deployment) as running:
        yield running


def web_load_balancer(deployment: CloudDeployment, name: str, member_port: int,
                      **extra: Any) -> dict[str, Any]:
    """A fully populated create's body: an HTTP listener on port 80 whose pool has one
    member, the host's backend on the VIP network."""
    return {"loadbalancer": {
        "name": name, "vip_subnet_id": deployment.vip_subnet.id, **extra,
        "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                       "default_pool": {"name": "pool"}}],
        "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                   "members": [{"address": VIP_GATEWAY, "protocol_port": member_port}]}]}}


def get(address: str, port: int = 80) -> str:
    conn = http.client.HTTPConnection(address, port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Connection": "close"})
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_http_through_a_vip_of_a_nova_amphora(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    api, admin = ottava.api, ottava.admin
    member = Backend("member-1")
    try:
        created = api.post(LB, {"loadbalancer": {
            "name": "cloud", "vip_subnet_id": deployment.vip_subnet.id,
            "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                           "allowed_cidrs": [VIP_CIDR], "default_pool": {"name": "pool"}}],
            "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"address": VIP_GATEWAY, "protocol_port": member.port,
                                    "subnet_id": deployment.vip_subnet.id}]}]}})
        assert created.status_code == 201, created.text
        lb_id = created.json()["loadbalancer"]["id"]
        lb = api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=180)
        vip = lb["vip_address"]
        assert ipaddress.ip_address(vip) in ipaddress.ip_network(VIP_CIDR)
        port = deployment.admin.network.get_port(lb["vip_port_id"])
        assert port.name == f"octavia-lb-{lb_id}"

        amphorae = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()["amphorae"]
        assert len(amphorae) == 1
        server = deployment.ottava.compute.get_server(amphorae[0]["compute_id"])
        assert server.status == "ACTIVE"
        assert ipaddress.ip_address(amphorae[0]["lb_network_ip"]) in \
            ipaddress.ip_network(MGMT_CIDR)
        assert ipaddress.ip_address(amphorae[0]["vrrp_ip"]) in ipaddress.ip_network(VIP_CIDR)

        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=60) == \
            "member-1"

        # Neutron guards both ports: the listener's port from its allowed CIDR only.
        [group] = deployment.admin.network.security_groups(name=f"lb-{lb_id}")
        assert {(r.protocol, r.port_range_min, r.remote_ip_prefix) for r in
                deployment.admin.network.security_group_rules(
                    security_group_id=group.id, direction="ingress")} == \
            {("tcp", 80, VIP_CIDR)}
        for port_id in (lb["vip_port_id"], amphorae[0]["vrrp_port_id"]):
            assert deployment.admin.network.get_port(port_id).security_group_ids == [group.id]

        assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb_id}", timeout=180)
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
    finally:
        member.stop()


def test_what_the_caller_cannot_use_is_refused_before_anything_is_made(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    """As Octavia: the tenant's user looks through their own eyes at Neutron, so Ottava's
    management subnet is "not found" to them; a security group that does not exist and a QoS
    policy where Neutron has no QoS are refused; every answer a 400 in the fault format, and
    no port made."""
    api = ottava.api
    hidden = next(iter(deployment.admin.network.subnets(network_id=deployment.mgmt.id))).id
    missing = str(uuid.uuid4())
    for body, message in (
            ({"vip_subnet_id": hidden}, f"Subnet {hidden} not found."),
            ({"vip_subnet_id": deployment.vip_subnet.id, "vip_sg_ids": [missing]},
             f"Security Group {missing} not found."),
            ({"vip_subnet_id": deployment.vip_subnet.id, "vip_qos_policy_id": missing},
             "Validation failure: VIP QoS policy is not allowed in this deployment.")):
        resp = api.post(LB, {"loadbalancer": body})
        assert resp.status_code == 400, resp.text
        assert resp.json()["faultstring"] == message
    assert api.get(LB).json()["loadbalancers"] == []
    assert deployment.leftovers() == NOTHING


def test_the_amphora_image_boots_from_glance_under_qemu_and_carries_http(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    """The image the recipe builds (tools/amphora-image/build.sh; OTTAVA_AMPHORA_IMAGE names
    the folder), uploaded to Glance with its kernel and initrd as Ottava's service user, is
    what Nova boots for a load balancer whose flavor names its tag: a QEMU guest (the virt
    driver's qemu_guest; TCG where /dev/kvm cannot run it) with Nova's config drive, DHCP on
    the management network and the VIP port hot-plugged. Its agent takes the load balancer,
    HTTP through the VIP reaches the member, and the delete leaves nothing, QEMU included."""
    folder = os.environ.get("OTTAVA_AMPHORA_IMAGE")
    if not folder:
        reason = "OTTAVA_AMPHORA_IMAGE names no built amphora image (tools/cloud-tests.sh " \
                 "builds one with tools/amphora-image/build.sh)"
        if os.environ.get("OTTAVA_REQUIRE_CLOUD") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    image_dir = pathlib.Path(folder)
    api, admin, glance = ottava.api, ottava.admin, deployment.ottava.image
    tag = f"{deployment.tag}-qemu"
    kernel = glance.create_image(name=f"{tag}-kernel", filename=str(image_dir / "vmlinuz"),
                                 disk_format="aki", container_format="aki",
                                 visibility="private", wait=True, timeout=300)
    ramdisk = glance.create_image(name=f"{tag}-initrd", filename=str(image_dir / "initrd.img"),
                                  disk_format="ari", container_format="ari",
                                  visibility="private", wait=True, timeout=300)
    glance.create_image(name=tag, filename=str(image_dir / "amphora.qcow2"),
                        disk_format="qcow2", container_format="bare", tags=[tag],
                        visibility="private", kernel_id=kernel.id, ramdisk_id=ramdisk.id,
                        os_command_line=(image_dir / "cmdline").read_text().strip(),
                        wait=True, timeout=600)
    profile = admin.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
        "name": tag, "provider_name": "amphora",
        "flavor_data": json.dumps({"amp_image_tag": tag})}}).json()["flavorprofile"]
    flavor = admin.post("/v2/lbaas/flavors", {"flavor": {
        "name": tag, "flavor_profile_id": profile["id"]}}).json()["flavor"]
    member = Backend("member-qemu")
    try:
        started = time.monotonic()
        created = api.post(LB, web_load_balancer(deployment, "qemu", member.port,
                                                 flavor_id=flavor["id"]))
        assert created.status_code == 201, created.text
        lb_id = created.json()["loadbalancer"]["id"]
        lb = api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=900)
        active = time.monotonic() - started
        (amphora,) = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()[
            "amphorae"]
        server = deployment.ottava.compute.get_server(amphora["compute_id"])
        assert server.image["id"] != deployment.image.id  # the real image, by its tag
        assert (deployment.amphorae / server.id / "qemu.pid").exists()
        vip = lb["vip_address"]
        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=120) == \
            "member-qemu"
        print(f"QEMU amphora from Glance: create -> ACTIVE {active:.1f} s, HTTP through the "
              f"VIP after {time.monotonic() - started:.1f} s")

        assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb_id}", timeout=300)
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
        eventually(lambda: not list(deployment.amphorae.glob("**/*.pid")) or None,
                   "QEMU and dnsmasq stopped")
    finally:
        member.stop()


def answer(vip: str) -> str | None:
    try:
        return get(vip)
    except OSError:
        return None


def test_an_amphora_whose_server_is_deleted_behind_ottavas_back_is_replaced(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    api, admin = ottava.api, ottava.admin
    member = Backend("member-2")
    try:
        created = api.post(LB, web_load_balancer(deployment, "failover", member.port))
        assert created.status_code == 201, created.text
        lb_id = created.json()["loadbalancer"]["id"]
        vip = api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=180)["vip_address"]
        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=60) == \
            "member-2"
        (old,) = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()["amphorae"]

        deployment.admin.compute.delete_server(old["compute_id"])  # behind Ottava's back

        def replaced() -> dict[str, Any] | None:
            found = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()
            live = [a for a in found["amphorae"] if a["status"] == "ALLOCATED"]
            return live[0] if len(live) == 1 and live[0]["id"] != old["id"] else None

        new = eventually(replaced, "a new amphora", timeout=180)
        api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=180)
        assert new["compute_id"] != old["compute_id"]
        assert eventually(lambda: answer(vip), f"HTTP through {vip} again", timeout=60) == \
            "member-2"
        servers = [s.id for s in deployment.ottava.compute.servers()]
        assert servers == [new["compute_id"]]
        vrrp_ports = [p.name for p in deployment.admin.network.ports()
                      if (p.name or "").startswith("octavia-lb-vrrp-")]
        assert vrrp_ports == [f"octavia-lb-vrrp-{new['id']}"]

        assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb_id}", timeout=180)
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
    finally:
        member.stop()


def _holds(compute_id: str, address: str) -> bool:
    shown = subprocess.run(["ip", "-n", f"amp-{compute_id}", "-o", "addr", "show"],
                           capture_output=True, text=True, timeout=20, check=False).stdout
    return f" {address}/" in shown


def test_an_active_standby_pair_moves_its_vip_by_vrrp_over_neutron_ports(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    """Both amphorae hold the VIP in their ports' allowed address pairs; keepalived, on the
    interface each was plugged with, gives it to one. The pair is in a server group of its own
    (soft anti-affinity: one compute host here) and its security group lets VRRP in from the
    pair only. Its server deleted, the other takes the VIP at once and failover brings a new
    partner; the delete takes the server group and the security group too."""
    api, admin = ottava.api, ottava.admin
    member = Backend("member-3")
    try:
        profile = admin.post("/v2/lbaas/flavorprofiles", {"flavorprofile": {
            "name": "pair", "provider_name": "amphora",
            "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}}).json()[
            "flavorprofile"]
        flavor = admin.post("/v2/lbaas/flavors", {"flavor": {
            "name": "pair", "flavor_profile_id": profile["id"]}}).json()["flavor"]
        created = api.post(LB, web_load_balancer(deployment, "pair", member.port,
                                                 flavor_id=flavor["id"]))
        assert created.status_code == 201, created.text
        lb_id = created.json()["loadbalancer"]["id"]
        vip = api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=240)["vip_address"]
        pair = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()["amphorae"]
        assert sorted(a["role"] for a in pair) == ["BACKUP", "MASTER"]
        for amphora in pair:
            port = deployment.admin.network.get_port(amphora["vrrp_port_id"])
            assert {p["ip_address"] for p in port.allowed_address_pairs} == {vip}
        # The pair in a server group of its own, and VRRP let in from the pair's ports only.
        (group,) = [g for g in deployment.ottava.compute.server_groups()
                    if g.name == f"octavia-lb-{lb_id}"]
        assert "soft-anti-affinity" in (group.policy, *(group.policies or []))
        assert set(group.member_ids) == {a["compute_id"] for a in pair}
        [security] = deployment.admin.network.security_groups(name=f"lb-{lb_id}")
        assert ("112", security.id) in {
            (r.protocol, r.remote_group_id) for r in deployment.admin.network
            .security_group_rules(security_group_id=security.id, direction="ingress")}
        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=60) == \
            "member-3"
        holder = eventually(lambda: next((a for a in pair if _holds(a["compute_id"], vip)),
                                         None), "keepalived giving the VIP to one")
        other = next(a for a in pair if a["id"] != holder["id"])

        deployment.admin.compute.delete_server(holder["compute_id"])

        eventually(lambda: _holds(other["compute_id"], vip), "the partner taking the VIP",
                   timeout=30)
        assert eventually(lambda: answer(vip), f"HTTP through {vip} on the partner",
                          timeout=30) == "member-3"

        def repaired() -> bool:
            found = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()
            live = {a["id"] for a in found["amphorae"] if a["status"] == "ALLOCATED"}
            return len(live) == 2 and holder["id"] not in live

        eventually(repaired, "a new partner", timeout=240)
        api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=240)
        assert answer(vip) == "member-3"

        assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb_id}", timeout=240)
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
        admin.delete(f"/v2/lbaas/flavors/{flavor['id']}")
        admin.delete(f"/v2/lbaas/flavorprofiles/{profile['id']}")
    finally:
        member.stop()


def test_a_member_on_another_subnet_gets_the_amphora_a_port_there(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    """A member naming a subnet the amphora is not on: the amphora gets a port there,
    configured by its agent with the subnet's host routes, and loses it when no member names
    the subnet any more."""
    api, admin = ottava.api, ottava.admin
    member = Backend("member-4", MEMBER_GATEWAY)
    try:
        created = api.post(LB, {"loadbalancer": {
            "name": "members", "vip_subnet_id": deployment.vip_subnet.id,
            "listeners": [{"name": "web", "protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {"name": "pool"}}],
            "pools": [{"name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"address": MEMBER_GATEWAY, "protocol_port": member.port,
                                    "subnet_id": deployment.member_subnet.id}]}],
        }})
        assert created.status_code == 201, created.text
        body = created.json()["loadbalancer"]
        lb_id, pool_id = body["id"], body["pools"][0]["id"]
        vip = api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=180)["vip_address"]
        (amphora,) = admin.get(f"/v2/octavia/amphorae?loadbalancer_id={lb_id}").json()[
            "amphorae"]
        ports = list(deployment.admin.network.ports(name=f"octavia-member-{amphora['id']}"))
        assert [(p.network_id, p.device_id) for p in ports] == \
            [(deployment.member_net.id, amphora["compute_id"])]
        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=60) == \
            "member-4"
        # The subnet's host route goes through that port, inside the amphora.
        [route] = json.loads(subprocess.run(
            ["ip", "-n", f"amp-{amphora['compute_id']}", "-j", "route", "show",
             MEMBER_HOST_ROUTE["destination"]], capture_output=True, text=True, timeout=20,
            check=True).stdout)
        assert route["gateway"] == MEMBER_GATEWAY

        (gone,) = api.get(f"/v2/lbaas/pools/{pool_id}/members").json()["members"]
        assert api.delete(f"/v2/lbaas/pools/{pool_id}/members/{gone['id']}").status_code == 204
        api.wait(f"{LB}/{lb_id}", "loadbalancer", timeout=120)
        eventually(lambda: not list(deployment.admin.network.ports(
            name=f"octavia-member-{amphora['id']}")), "the member port removed")

        assert api.delete(f"{LB}/{lb_id}?cascade=true").status_code == 204
        api.wait_gone(f"{LB}/{lb_id}", timeout=180)
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
    finally:
        member.stop()


COMPAT = pathlib.Path(__file__).resolve().parents[2] / ".venv-compat" / "bin" / "openstack"
CLI_TIMEOUT = 300


def test_the_openstack_cli_with_keystone_builds_a_load_balancer_step_by_step(
        deployment: CloudDeployment, ottava: Ottava) -> None:
    """`openstack loadbalancer …` (python-octaviaclient) as the tenant's user, authenticated
    by Keystone, each step waited for with --wait, as an operator's script does."""
    subprocess.run(["bash", str(COMPAT.parents[2] / "tools" / "compat-venv.sh")], check=True,
                   timeout=600)
    env = deployment.cli_env(ottava.stack.url)

    def cli(*args: str) -> Any:
        done = subprocess.run([str(COMPAT), *args, "-f", "json"], env=env,
                              capture_output=True, text=True, timeout=CLI_TIMEOUT)
        assert done.returncode == 0, f"openstack {' '.join(args)}:\n{done.stderr[-3000:]}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    member = Backend("member-cli")
    try:
        lb = cli("loadbalancer", "create", "--name", "cli", "--vip-subnet-id",
                 deployment.vip_subnet.id, "--wait")
        assert lb["provisioning_status"] == "ACTIVE"
        assert lb["project_id"] == deployment.tenant.id
        cli("loadbalancer", "listener", "create", "--name", "web", "--protocol", "HTTP",
            "--protocol-port", "80", "--wait", lb["id"])
        cli("loadbalancer", "pool", "create", "--name", "pool", "--listener", "web",
            "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--wait")
        cli("loadbalancer", "member", "create", "--address", VIP_GATEWAY,
            "--protocol-port", str(member.port), "--wait", "pool")
        vip = lb["vip_address"]
        assert eventually(lambda: answer(vip), f"HTTP through {vip}", timeout=60) == \
            "member-cli"
        shown = cli("loadbalancer", "show", lb["id"])
        assert shown["provisioning_status"] == "ACTIVE"
        assert [p["name"] for p in cli("loadbalancer", "pool", "list")] == ["pool"]

        done = subprocess.run([str(COMPAT), "loadbalancer", "delete", "--cascade", "--wait",
                               lb["id"]], env=env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT)
        assert done.returncode == 0, done.stderr[-3000:]
        assert cli("loadbalancer", "list") == []
        eventually(lambda: deployment.leftovers() == NOTHING,
                   f"nothing left (now {deployment.leftovers()})")
    finally:
        member.stop()
