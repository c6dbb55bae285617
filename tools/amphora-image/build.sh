#!/usr/bin/env bash
# Build the amphora image: a Debian bookworm root filesystem with HAProxy, keepalived,
# nftables, iproute2 and Ottava's agent, whose first boot installs the amphora's boot
# document from its config drive and serves (ottava amphora-agent --boot).
#
#   tools/amphora-image/build.sh [OUT]     (as root; OUT defaults to build/amphora-image)
#
# Writes OUT/amphora.qcow2 (the root filesystem, ext4, no partition table: boot it with the
# kernel and initrd beside it, which Glance takes as the image's kernel_id / ramdisk_id, or as
# tools/amphora-image/boot_test.py does), OUT/vmlinuz, OUT/initrd.img, and prints the sizes
# and the build time. Needs mmdebstrap, e2fsprogs and qemu-utils (installed if missing) and
# Debian's and PyPI's mirrors. Upload, tagged for amp_image_tag, with its kernel, initrd and
# command line (KERNEL_CMDLINE below):
#   openstack image create amphora --disk-format qcow2 --container-format bare \
#     --file OUT/amphora.qcow2 --tag amphora --property kernel_id=… --property ramdisk_id=… \
#     --property os_command_line="$(cat OUT/cmdline)"
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/build/amphora-image}"
suite="${SUITE:-bookworm}"
size="${IMAGE_SIZE:-2G}"
die() { echo "amphora-image: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap's root mode)"

missing=""
for p in mmdebstrap e2fsprogs qemu-utils; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing \
    || die "could not install$missing"
fi

started=$SECONDS
work="$(mktemp -d /tmp/ottava-amphora-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# Ottava itself, as a wheel, with only what its agent imports (ottava.agent, .wire and
# .render: the standard library, Jinja2 and typing_extensions): the controller's
# dependencies (oslo, SQLAlchemy, TaskFlow, …) have no business in an amphora.
uv="${UV:-$(command -v uv || echo "$HOME/.local/bin/uv")}"
"$uv" build --wheel --out-dir "$work/wheel" "$root" >/dev/null || die "uv build failed"
wheel="$(ls "$work"/wheel/ottava-*.whl)"
agent_deps="'jinja2>=3.1' typing_extensions"  # quoted: the hook runs in a shell

# Debian's cloud kernel: virtio and the usual clouds' devices, without the desktop's drivers
# (a third of the size).
packages="linux-image-cloud-amd64,systemd-sysv,udev,haproxy,keepalived,nftables,iproute2"
packages="$packages,conntrack,iputils-ping,python3,python3-venv,ca-certificates,mount"

cp "$wheel" "$work/"
# pip inside the image trusts what this host trusts while it installs (a host behind a
# TLS-inspecting proxy has that proxy's CA here); the image's own bundle is made afresh after.
host_ca="$work/host-ca.crt"
cp "${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$host_ca"
mmdebstrap --variant=minbase --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook="copy-in $work/$(basename "$wheel") /tmp" \
  --customize-hook="copy-in $root/tools/amphora-image/rootfs/. /" \
  --customize-hook='chroot "$1" python3 -m venv /opt/ottava' \
  --customize-hook="upload $host_ca /etc/ssl/certs/ca-certificates.crt" \
  --customize-hook='chroot "$1" /opt/ottava/bin/pip install --quiet --no-cache-dir --no-deps /tmp/'"$(basename "$wheel")" \
  --customize-hook='chroot "$1" /opt/ottava/bin/pip install --quiet --no-cache-dir '"$agent_deps" \
  --customize-hook='chroot "$1" update-ca-certificates --fresh >/dev/null' \
  --customize-hook='rm -f "$1"/tmp/*.whl' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd ottava-amphora-agent.service' \
  --customize-hook='chroot "$1" systemctl disable haproxy.service keepalived.service' \
  --customize-hook='chroot "$1" passwd --lock root' \
  --customize-hook='echo amphora > "$1/etc/hostname"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$work/rootfs" || die "mmdebstrap failed"

# eth0 for the first NIC (the management port, the only one configured by DHCP).
echo "root=LABEL=amphora-root ro net.ifnames=0 console=ttyS0" > "$out/cmdline"
cp -L "$work/rootfs/vmlinuz" "$out/vmlinuz"
cp -L "$work/rootfs/initrd.img" "$out/initrd.img"
rootfs_mb=$(du -sm "$work/rootfs" | cut -f1)
mke2fs -q -t ext4 -L amphora-root -d "$work/rootfs" "$work/root.raw" "$size"
qemu-img convert -c -O qcow2 "$work/root.raw" "$out/amphora.qcow2"

echo "amphora image: $out/amphora.qcow2 ($(du -m "$out/amphora.qcow2" | cut -f1) MB;" \
     "root filesystem ${rootfs_mb} MB) built in $((SECONDS - started)) s"
