#!/bin/sh
# vm-setup.sh - install what the VM tests (tests/vm) and the host-tool tests need, idempotently.
#
#   * as root: Debian packages (libvirtd + QEMU driver, virsh, QEMU system emulator, qemu-img,
#     busybox-static; drbd-utils for the `drbdadm -d` dry-run tests, lvm2 for the LVM
#     verify-disks cluster test) with --no-install-recommends, and the libvirt-qemu user/group that the
#     QEMU driver resolves before it reads qemu.conf;
#   * as anyone: the tiny test guest (tools/make-guest.sh) in the cache directory.
#
# Usage: tools/vm-setup.sh [GUEST_DIR]      (default: $GANETI_VM_GUEST_DIR or build/vm-guest)
# Fast when everything is there already (dpkg -s checks, the guest is built once).
# Never starts a daemon and never touches /etc/libvirt: tools/libvirtd-ctl.sh gives each
# test its own libvirtd with its own configuration.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
GUEST_DIR=${1:-${GANETI_VM_GUEST_DIR:-$REPO/build/vm-guest}}
PACKAGES="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils busybox-static drbd-utils lvm2"

note() { echo "vm-setup: $*"; }

missing=""
for p in $PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    note "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Only refresh the lists when a package is unknown to apt (keeps re-runs offline).
    for p in $missing; do
      if ! apt-cache show "$p" >/dev/null 2>&1; then apt-get update -q >/dev/null; break; fi
    done
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
  else
    note "missing packages:$missing (run as root to install them); VM tests will be skipped"
    exit 0
  fi
fi

if [ "$(id -u)" = 0 ]; then
  # libvirt's QEMU driver looks its compiled-in default user up before reading qemu.conf.
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  getent passwd libvirt-qemu >/dev/null ||
    useradd --system -g libvirt-qemu -M -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
fi

if [ -s "$GUEST_DIR/vmlinuz" ] && [ -s "$GUEST_DIR/initrd.gz" ] &&
   [ "$GUEST_DIR/initrd.gz" -nt "$HERE/make-guest.sh" ]; then
  exit 0
fi
note "building the test guest in $GUEST_DIR"
sh "$HERE/make-guest.sh" "$GUEST_DIR" >/dev/null
note "guest ready: $GUEST_DIR/vmlinuz $GUEST_DIR/initrd.gz"
