"""A nova-compute virt driver for the cloud tests: every server is a real amphora on this host.

Loaded by nova-compute as `nova.virt.ottava_amphora.AmphoraDriver` (nova 34 loads drivers from
`nova.virt` only; `tests/cloud/virt/launch.py` adds this folder to that package's path, so the
mini-openstack's installation is not touched). It runs in nova-compute's own Python and so
imports nova and the standard library only.

It is Nova's fake driver (every bookkeeping call is the fake one's) plus what a hypervisor and
a guest image would do:

- a server is a network namespace `amp-<uuid>` with `lo` up and non-local binds allowed (as
  the amphora image sets them);
- each port is a veth pair: the host side `tap<port id[:11]>` on a bridge per Neutron network
  (`br<network id[:11]>`), the namespace side `eth<n>` with the port's MAC. The ports a server
  boots with get their fixed IPs and the first subnet's gateway as default route (what DHCP
  would give a guest); a port attached later gets none: the amphora's agent configures it
  (`PUT /v1/interface`), as in a VM;
- when the server has user data (an amphora's boot document), Ottava's agent runs in the
  namespace: `ottava amphora-agent --boot <user data> --dir <state>/<uuid>` (OTTAVA_AGENT
  names the `ottava` command, OTTAVA_AMPHORA_STATE the state folder; both set by the test that
  starts this nova-compute);
- destroying a server stops every process of its namespace (by PID) and deletes the namespace
  and its veths. Bridges stay: the test that made the networks removes them;
- a server whose image names a kernel (the real amphora image, built by tools/amphora-image)
  is instead a QEMU guest booted from Glance's copy (`qemu_guest`).

The host side of each network is the test's business: it puts the gateway address on a
bridge when the host must reach that network (`bridge_name(network_id)`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import pathlib
import signal
import subprocess
import time

from nova.virt import (
    fake,
    qemu_guest,  # this folder, on nova.virt's path (launch.py)
)
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
TIMEOUT = 20  # seconds of any one command
STOP_WAIT = 5.0


def namespace_name(instance_uuid: str) -> str:
    return f"amp-{instance_uuid}"


def bridge_name(network_id: str) -> str:
    return f"br{network_id[:11]}"


def tap_name(port_id: str) -> str:
    return f"tap{port_id[:11]}"


def bridge_mac(network_id: str) -> str:
    """A bridge's own MAC: left to itself a bridge takes the lowest MAC of its ports, which
    changes as servers come and go, and every guest's ARP entry for the host goes stale."""
    return "02:" + ":".join(network_id.replace("-", "")[i:i + 2] for i in range(0, 10, 2))


def ensure_bridge(network_id: str) -> str:
    """The network's bridge, up, with its own MAC (made if missing)."""
    bridge = bridge_name(network_id)
    if not _link_exists(bridge):
        _run("ip", "link", "add", "name", bridge, "type", "bridge", check=False)
        _run("ip", "link", "set", bridge, "address", bridge_mac(network_id))
    _run("ip", "link", "set", bridge, "up")
    return bridge


def _run(*argv: str, check: bool = True) -> str:
    return qemu_guest.run(*argv, check=check, timeout=TIMEOUT)


def _in(namespace: str, *argv: str, check: bool = True) -> str:
    return _run("ip", "netns", "exec", namespace, *argv, check=check)


def _alive(pid: int) -> bool:
    """Running, and not a zombie child of this process (those are reaped here)."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not this process's child (HAProxy daemonises)
    return os.path.exists(f"/proc/{pid}")


def _link_exists(name: str, namespace: str | None = None) -> bool:
    prefix = ["ip", "-n", namespace] if namespace else ["ip"]
    return subprocess.run([*prefix, "link", "show", name], capture_output=True,
                          timeout=TIMEOUT, check=False).returncode == 0


class AmphoraDriver(fake.FakeDriverWithoutFakeNodes):
    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self.state = pathlib.Path(os.environ.get("OTTAVA_AMPHORA_STATE",
                                                 "/tmp/ottava-nova-amphorae"))
        self.agent = os.environ.get("OTTAVA_AGENT", "ottava")
        self.state.mkdir(parents=True, exist_ok=True)
        self.qemu = qemu_guest.QemuHost(self.state, tap_name, bridge_name, ensure_bridge)

    # --- Nova's calls --------------------------------------------------------------------

    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info, block_device_info, power_on, accel_info)
        if qemu_guest.wanted(instance):
            self.qemu.spawn(context, instance, image_meta, injected_files, network_info)
            return
        namespace = namespace_name(instance.uuid)
        _run("ip", "netns", "add", namespace, check=False)  # a retried spawn finds it
        _in(namespace, "ip", "link", "set", "lo", "up")
        for key in ("net.ipv4.ip_nonlocal_bind", "net.ipv6.ip_nonlocal_bind"):
            _in(namespace, "sysctl", "-qw", f"{key}=1")
        for index, vif in enumerate(network_info or []):
            self._plug(namespace, vif, configure=True, default_route=index == 0)
        if instance.user_data:
            self._start_agent(instance.uuid, namespace, instance.user_data)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self.qemu.destroy(instance, network_info)
        namespace = namespace_name(instance.uuid)
        self._stop_processes(namespace)
        for vif in network_info or []:
            _run("ip", "link", "del", tap_name(vif["id"]), check=False)
        _run("ip", "netns", "delete", namespace, check=False)
        folder = self.state / instance.uuid
        if folder.exists():
            subprocess.run(["rm", "-rf", str(folder)], timeout=TIMEOUT, check=False)
        super().destroy(context, instance, network_info, block_device_info, destroy_disks,
                        destroy_secrets)

    def attach_interface(self, context, instance, image_meta, vif):
        super().attach_interface(context, instance, image_meta, vif)
        if self.qemu.runs(instance):
            self.qemu.attach(instance, vif)
            return
        self._plug(namespace_name(instance.uuid), vif, configure=False, default_route=False)

    def detach_interface(self, context, instance, vif):
        super().detach_interface(context, instance, vif)
        if self.qemu.runs(instance):
            self.qemu.detach(instance, vif)
            return
        _run("ip", "link", "del", tap_name(vif["id"]), check=False)

    # --- the host's side -----------------------------------------------------------------

    def _plug(self, namespace: str, vif, configure: bool, default_route: bool) -> None:
        bridge, tap = ensure_bridge(vif["network"]["id"]), tap_name(vif["id"])
        if _link_exists(tap):
            return  # plugged already (a retried call)
        peer = f"tmp{vif['id'][:11]}"
        _run("ip", "link", "add", tap, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", tap, "master", bridge, "up")
        ifname = f"eth{self._next_index(namespace)}"
        _run("ip", "link", "set", peer, "netns", namespace)
        _in(namespace, "ip", "link", "set", peer, "name", ifname)
        _in(namespace, "ip", "link", "set", ifname, "address", vif["address"])
        _in(namespace, "ip", "link", "set", ifname, "up")
        if not configure:
            return
        for subnet in vif["network"]["subnets"]:
            prefix = str(subnet["cidr"]).split("/")[1]
            for ip in subnet["ips"]:
                _in(namespace, "ip", "addr", "replace", f"{ip['address']}/{prefix}",
                    "dev", ifname, *(["nodad"] if ":" in ip["address"] else []))
            gateway = (subnet.get("gateway") or {}).get("address")
            if default_route and gateway and ":" not in gateway:
                _in(namespace, "ip", "route", "replace", "default", "via", gateway,
                    check=False)

    @staticmethod
    def _next_index(namespace: str) -> int:
        names = _in(namespace, "ls", "/sys/class/net", check=False).split()
        taken = {int(n[3:]) for n in names if n.startswith("eth") and n[3:].isdigit()}
        return next(i for i in range(len(taken) + 1) if i not in taken)

    # --- the guest -----------------------------------------------------------------------

    def _start_agent(self, uuid: str, namespace: str, user_data: str) -> None:
        folder = self.state / uuid
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        boot = folder / "user_data"
        boot.write_bytes(base64.b64decode(user_data))
        boot.chmod(0o600)
        with open(folder / "agent.log", "ab") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, self.agent, "amphora-agent",
                 "--boot", str(boot), "--dir", str(folder / "agent"),
                 "--bind-host", "0.0.0.0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        (folder / "agent.pid").write_text(str(process.pid))
        LOG.info("Amphora %s: agent %d started in %s", uuid, process.pid, namespace)

    @staticmethod
    def _stop_processes(namespace: str) -> None:
        """Every process inside the namespace (the agent, HAProxy, keepalived), by PID."""
        pids = [int(p) for p in _run("ip", "netns", "pids", namespace, check=False).split()
                if p.isdigit()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + STOP_WAIT
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                time.sleep(0.1)
