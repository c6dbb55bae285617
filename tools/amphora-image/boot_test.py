"""Boot the amphora image under QEMU and time it until its agent answers, as the worker would
reach it: over mutual TLS, with the certificate a boot document gave the agent.

    .venv/bin/python tools/amphora-image/boot_test.py [IMAGE_FOLDER] [--timeout S]

IMAGE_FOLDER is what tools/amphora-image/build.sh wrote (default build/amphora-image). A
controller CA is made, an amphora certificate issued, the boot document put on a config drive
(an ISO labelled config-2, openstack/latest/user_data, as Nova makes it), and QEMU boots the
image's kernel, initrd and root filesystem (a throw-away overlay: the image is not changed)
with the config drive and user networking forwarding a loopback port to the agent's 9443.
Under TCG (software emulation), or KVM with OTTAVA_QEMU_ACCEL=kvm where /dev/kvm runs guests. Prints the seconds from QEMU's
start to the agent's first answer (and its HAProxy's version), and stops QEMU by its PID.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from ottava.domain.errors import Fatal, Retryable  # noqa: E402
from ottava.domain.ports.amphora import AmphoraRef  # noqa: E402
from ottava.domain.ports.compute import AgentBootConfig  # noqa: E402
from ottava.drivers.amphora import pki  # noqa: E402
from ottava.drivers.amphora.rest import RestAmphoraDriver  # noqa: E402

AMPHORA_ID = "00000000-0000-4000-8000-00000000a001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_drive(folder: pathlib.Path, boot: AgentBootConfig) -> pathlib.Path:
    latest = folder / "drive" / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "user_data").write_text(json.dumps(boot.document()))
    (latest / "meta_data.json").write_text(json.dumps({"uuid": AMPHORA_ID}))
    iso = folder / "config-drive.iso"
    tool = shutil.which("genisoimage") or shutil.which("xorrisofs")
    if tool is None:
        raise SystemExit("genisoimage is missing: apt-get install genisoimage")
    subprocess.run([tool, "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J",
                    str(folder / "drive")], check=True, timeout=60)
    return iso


def kvm_works() -> bool:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", default=str(ROOT / "build" / "amphora-image"))
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    image = pathlib.Path(args.image)
    work = pathlib.Path(tempfile.mkdtemp(prefix="ottava-amphora-boot-"))
    qemu = None
    try:
        ca = pki.CertificateAuthority.create()
        cert, key = ca.issue_server(AMPHORA_ID, datetime.timedelta(days=1))
        boot = AgentBootConfig(amphora_id=AMPHORA_ID, ca_pem=ca.cert_pem.decode(),
                               cert_pem=cert.decode(), key_pem=key.decode())
        iso = config_drive(work, boot)
        overlay = work / "root.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        str((image / "amphora.qcow2").resolve()), str(overlay)],
                       check=True, timeout=60)
        port = free_port()
        accel = "kvm" if kvm_works() else "tcg"
        argv = ["qemu-system-x86_64", "-accel", accel, "-m", "1024", "-smp", "1",
                "-display", "none", "-serial", f"file:{work / 'console.log'}",
                "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"),
                "-append", (image / "cmdline").read_text().strip(),
                "-drive", f"file={overlay},if=virtio,format=qcow2",
                "-drive", f"file={iso},media=cdrom,readonly=on",
                "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:9443",
                "-device", "virtio-net-pci,netdev=n0"]
        started = time.monotonic()
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        client_cert, client_key = ca.issue_client("ottava-controller",
                                                  datetime.timedelta(days=1))
        driver = RestAmphoraDriver(pki.client_context(ca.cert_pem, client_cert, client_key),
                                   port, connect_timeout=5.0, read_timeout=30.0,
                                   retry_for=5.0)
        amphora = AmphoraRef(id=AMPHORA_ID, load_balancer_id=None, lb_network_ip="127.0.0.1")
        deadline = started + args.timeout
        while True:
            # QEMU accepts on the forwarded port before the guest listens, then drops the
            # connection: a failed handshake only means "not yet".
            try:
                info = driver.info(amphora)
                break
            except (Fatal, Retryable) as exc:
                if qemu.poll() is not None:
                    raise SystemExit(f"QEMU exited: {qemu.stderr.read().decode()[-2000:]}"
                                     if qemu.stderr else "QEMU exited") from exc
                if time.monotonic() > deadline:
                    raise SystemExit(f"no agent after {args.timeout:g} s: {exc}") from exc
                time.sleep(1.0)
        answered = time.monotonic() - started
        print(f"amphora image booted ({accel}): agent answered after {answered:.1f} s: {info}")
        return 0
    finally:
        if qemu is not None:
            qemu.send_signal(signal.SIGTERM)
            try:
                qemu.wait(timeout=20)
            except subprocess.TimeoutExpired:
                qemu.kill()
                qemu.wait(timeout=20)
        console = work / "console.log"
        if console.exists():
            print("--- console (last 15 lines)", *console.read_text(
                errors="replace").splitlines()[-15:], sep="\n")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
