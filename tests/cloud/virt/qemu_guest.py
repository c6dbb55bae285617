"""The QEMU side of the cloud tests' virt driver: a server booted from a real amphora image, as
Nova's libvirt driver boots one, under QEMU (KVM when /dev/kvm works, else TCG).

Chosen for a server whose image names a kernel (`kernel_id`, hence the instance's
`kernel_id`): the image that tools/amphora-image/build.sh makes, uploaded to Glance with its
kernel, initrd and `os_command_line`. Everything a hypervisor host would do, done here:

- **Disks:** Glance's copies of the image, its kernel and its ramdisk, fetched through Nova
  (`nova.virt.images.fetch`, once per image id); the server boots them with a throw-away qcow2
  overlay, so the image is never changed.
- **Config drive:** Nova's own (`ConfigDriveBuilder` over `InstanceMetadata`: user data,
  meta_data.json, network_data.json), an ISO labelled config-2, attached as a CD-ROM.
- **Ports:** a tap device `tap<port id[:11]>` on the network's bridge per port, a virtio NIC
  with the port's MAC. Ports attached later are hot-plugged through QEMU's QMP socket
  (netdev_add, device_add) and unplugged the same way.
- **DHCP on the boot networks:** one dnsmasq per bridge answering exactly the boot ports' MACs
  with their fixed IPs (static leases: what Neutron's DHCP agent does), started on first use
  and stopped with its last guest. The bridge must hold an address in the subnet (the test
  puts the gateway there).

Every process is started in a session of its own and recorded by PID under the driver's state
folder (`<state>/<uuid>/qemu.pid`, `<state>/dhcp/<bridge>.pid`); stopping is by those PIDs.
Imports Nova and the standard library only (it runs in nova-compute's Python).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time
import uuid
from typing import Any

from nova.api.metadata import base as instance_metadata
from nova.virt import configdrive, images
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
TIMEOUT = 60  # seconds of any one command (qemu-img, genisoimage, ip)
QMP_TIMEOUT = 20.0
STOP_WAIT = 10.0
MEMORY_MB = "1024"


def wanted(instance: Any) -> bool:
    """Whether this server boots an image with a kernel of its own (a real amphora image)."""
    return bool(getattr(instance, "kernel_id", None))


def run(*argv: str, check: bool = True, timeout: float = TIMEOUT) -> str:
    """A command's output; RuntimeError with its stderr when it fails and `check`."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def _kvm_works() -> bool:
    """KVM only when asked (OTTAVA_QEMU_ACCEL=kvm) and /dev/kvm opens: a /dev/kvm that opens
    may still not run a guest (this kind of host's cannot boot a stock kernel)."""
    if os.environ.get("OTTAVA_QEMU_ACCEL") != "kvm":
        return False
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    os.close(fd)
    return True


def _stop(pidfile: pathlib.Path) -> None:
    """The process recorded in `pidfile`: TERM, then KILL after STOP_WAIT."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + STOP_WAIT
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        else:
            continue
        break
    pidfile.unlink(missing_ok=True)


class QemuHost:
    """The QEMU guests and the DHCP servers of one nova-compute."""

    def __init__(self, state: pathlib.Path, tap_name: Any, bridge_name: Any,
                 ensure_bridge: Any) -> None:
        """`tap_name(port id)`, `bridge_name(network id)`, `ensure_bridge(network id)`: the
        amphora driver's, which names taps and bridges and makes bridges (with a MAC of
        their own) for both kinds of server."""
        self.state = state
        self.images = state / "images"
        self.dhcp = state / "dhcp"
        self.tap_name, self.bridge_name = tap_name, bridge_name
        self.ensure_bridge = ensure_bridge
        self._fetching = threading.Lock()

    # --- a guest -------------------------------------------------------------------------

    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any,
              network_info: Any) -> None:
        folder = self.state / instance.uuid
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "qemu.pid").exists():
            return  # a retried spawn: running already
        disk = self._fetch(context, instance.image_ref)
        kernel = self._fetch(context, instance.kernel_id)
        ramdisk = self._fetch(context, instance.ramdisk_id) if instance.ramdisk_id else None
        overlay = folder / "disk.qcow2"
        backing = json.loads(run("qemu-img", "info", "--output=json", str(disk)))["format"]
        run("qemu-img", "create", "-q", "-f", "qcow2", "-F", backing, "-b", str(disk),
             str(overlay))
        drive = folder / "config-drive.iso"
        metadata = instance_metadata.InstanceMetadata(instance, content=injected_files,
                                                      network_info=network_info)
        with configdrive.ConfigDriveBuilder(instance_md=metadata) as builder:
            builder.make_drive(str(drive))
        cmdline = image_meta.properties.get("os_command_line") or "console=ttyS0"
        argv = ["qemu-system-x86_64", "-accel", "kvm" if _kvm_works() else "tcg",
                "-m", MEMORY_MB, "-smp", "1", "-display", "none", "-no-user-config",
                "-serial", f"file:{folder / 'console.log'}",
                "-qmp", f"unix:{folder / 'qmp.sock'},server=on,wait=off",
                "-kernel", str(kernel), "-append", cmdline,
                "-drive", f"file={overlay},if=virtio,format=qcow2",
                "-drive", f"file={drive},media=cdrom,readonly=on"]
        if ramdisk is not None:
            argv += ["-initrd", str(ramdisk)]
        for vif in network_info or []:
            self._tap(vif)
            argv += self._nic(vif)
            self._lease(vif)
        with open(folder / "qemu.log", "ab") as log:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        (folder / "qemu.pid").write_text(str(process.pid))
        LOG.info("Server %s: QEMU %d booting %s", instance.uuid, process.pid, instance.image_ref)

    def destroy(self, instance: Any, network_info: Any) -> None:
        folder = self.state / instance.uuid
        _stop(folder / "qemu.pid")
        for vif in network_info or []:
            run("ip", "link", "del", self.tap_name(vif["id"]), check=False)
            self._unlease(vif)

    def runs(self, instance: Any) -> bool:
        return (self.state / instance.uuid / "qemu.pid").exists()

    def attach(self, instance: Any, vif: Any) -> None:
        """Hot-plug the port; plugged already (a retried call): nothing more."""
        self._tap(vif)
        ident = vif["id"][:11]
        for command in ({"execute": "netdev_add", "arguments": {
                            "type": "tap", "id": f"n{ident}",
                            "ifname": self.tap_name(vif["id"]),
                            "script": "no", "downscript": "no"}},
                        {"execute": "device_add", "arguments": {
                            "driver": "virtio-net-pci", "id": f"d{ident}",
                            "netdev": f"n{ident}", "mac": vif["address"]}}):
            try:
                self._qmp(instance, command)
            except RuntimeError as exc:
                if "Duplicate" not in str(exc) and "already" not in str(exc):
                    raise

    def detach(self, instance: Any, vif: Any) -> None:
        """Unplug the port (the guest acknowledges it) and drop its tap; gone already, or a
        QEMU that no longer answers: the tap goes anyway."""
        ident = vif["id"][:11]
        with contextlib.suppress(RuntimeError, OSError, ValueError):
            self._qmp(instance, {"execute": "device_del", "arguments": {"id": f"d{ident}"}},
                      until_event=("DEVICE_DELETED", f"d{ident}"))
        with contextlib.suppress(RuntimeError, OSError, ValueError):
            self._qmp(instance, {"execute": "netdev_del", "arguments": {"id": f"n{ident}"}})
        run("ip", "link", "del", self.tap_name(vif["id"]), check=False)

    # --- the pieces ----------------------------------------------------------------------

    def _fetch(self, context: Any, image_id: str) -> pathlib.Path:
        """Glance's copy of the image, fetched once: the two servers of a pair spawn at the
        same time, so one fetch waits for the other."""
        self.images.mkdir(parents=True, exist_ok=True)
        path = self.images / image_id
        with self._fetching:
            if not path.exists():
                partial = self.images / f"{image_id}.{uuid.uuid4().hex}.part"
                images.fetch(context, image_id, str(partial))
                partial.rename(path)
        return path

    def _tap(self, vif: Any) -> None:
        tap, bridge = self.tap_name(vif["id"]), self.ensure_bridge(vif["network"]["id"])
        run("ip", "tuntap", "add", "dev", tap, "mode", "tap", check=False)
        run("ip", "link", "set", tap, "master", bridge, "up")

    def _nic(self, vif: Any) -> list[str]:
        ident = vif["id"][:11]
        return ["-netdev", f"tap,id=n{ident},ifname={self.tap_name(vif['id'])},script=no,"
                           "downscript=no",
                "-device", f"virtio-net-pci,netdev=n{ident},id=d{ident},mac={vif['address']}"]

    def _lease(self, vif: Any) -> None:
        """The port's IPv4 address for its MAC from the bridge's dnsmasq (started if
        needed, told to re-read its hosts when running)."""
        bridge = self.ensure_bridge(vif["network"]["id"])
        subnets = [s for s in vif["network"]["subnets"]
                   if ipaddress.ip_network(str(s["cidr"])).version == 4 and s["ips"]]
        if not subnets:
            return
        subnet = ipaddress.ip_network(str(subnets[0]["cidr"]))
        self.dhcp.mkdir(parents=True, exist_ok=True)
        hosts = self.dhcp / f"{bridge}.hosts"
        lines = [line for line in (hosts.read_text().splitlines() if hosts.exists() else [])
                 if not line.startswith(vif["address"])]
        lines.append(f"{vif['address']},{subnets[0]['ips'][0]['address']}")
        hosts.write_text("\n".join(lines) + "\n")
        pidfile = self.dhcp / f"{bridge}.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGHUP)
                return
        with open(self.dhcp / f"{bridge}.log", "ab") as log:
            process = subprocess.Popen(
                ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
                 "--bind-interfaces", f"--interface={bridge}", "--except-interface=lo",
                 f"--dhcp-range={subnet.network_address},static,{subnet.netmask},infinite",
                 f"--dhcp-hostsfile={hosts}", f"--dhcp-leasefile={self.dhcp / bridge}.leases",
                 "--dhcp-option=3", "--dhcp-option=6", "--log-dhcp", "--log-facility=-",
                 # As root: dnsmasq re-reads its hosts after dropping to "nobody", who cannot
                 # enter the test's private state folder.
                 "--user=root"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        pidfile.write_text(str(process.pid))

    def _unlease(self, vif: Any) -> None:
        bridge = self.bridge_name(vif["network"]["id"])
        hosts = self.dhcp / f"{bridge}.hosts"
        if not hosts.exists():
            return
        lines = [line for line in hosts.read_text().splitlines()
                 if line and not line.startswith(vif["address"])]
        hosts.write_text("".join(f"{line}\n" for line in lines))
        if not lines:
            _stop(self.dhcp / f"{bridge}.pid")

    def _qmp(self, instance: Any, command: dict[str, Any],
             until_event: tuple[str, str] | None = None) -> None:
        """One QMP command to the guest's QEMU; with `until_event` (an event and its
        device), waits for that event too, even if it came before the command's answer.
        Every read is bounded by QMP_TIMEOUT (OSError when it runs out)."""
        seen = False

        def matches(message: dict[str, Any]) -> bool:
            return until_event is not None and message.get("event") == until_event[0] and \
                message.get("data", {}).get("device") == until_event[1]

        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(QMP_TIMEOUT)
            sock.connect(str(self.state / instance.uuid / "qmp.sock"))
            stream = sock.makefile("rwb")
            json.loads(stream.readline())  # the greeting
            for message in ({"execute": "qmp_capabilities"}, command):
                stream.write(json.dumps(message).encode() + b"\n")
                stream.flush()
                while True:
                    answer = json.loads(stream.readline())
                    seen = seen or matches(answer)
                    if "error" in answer:
                        raise RuntimeError(f"QMP {message['execute']}: {answer['error']}")
                    if "return" in answer:
                        break
            deadline = time.monotonic() + QMP_TIMEOUT
            while until_event and not seen and time.monotonic() < deadline:
                seen = matches(json.loads(stream.readline()))
