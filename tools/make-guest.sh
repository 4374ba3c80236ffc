#!/bin/sh
# make-guest.sh - build the tiny VM test guest: a Debian cloud kernel (direct kernel boot) and a
# busybox-static initramfs.
#
# Usage: tools/make-guest.sh OUTDIR        -> OUTDIR/vmlinuz, OUTDIR/initrd.gz (~15 MB, a few s)
# Needs: busybox-static, cpio-capable busybox, gzip, apt lists (the kernel package is fetched with
# `apt-get download` and only unpacked; nothing is installed on the host).
#
# Guest behaviour on the serial console (ttyS0): loads the ACPI button and virtio modules, prints
#   GUEST-UP kernel=<release> uptime=<seconds>
#   GUEST-DISK <vdX> sectors=<n>      for each virtio disk
#   GUEST-NIC <ethN> <mac>            for each network interface
# and then idles.  An ACPI power-button press (libvirt shutdown, QMP system_powerdown) makes it print
# GUEST-POWERBUTTON and power off.  Kernel command line switches: `guest.halt` powers off right
# after GUEST-UP (boot smoke test); `guest.tick` prints `GUEST-TICK uptime=<seconds>` every second
# (a live migration test reads it on the target to see the guest kept running).
# The output is written to a temporary directory and moved into place at the end, so an
# interrupted run never leaves a half-built guest behind.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$(realpath -m "$1")
mkdir -p "$(dirname "$OUT")"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || { echo "make-guest: $BUSYBOX missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d "$(dirname "$OUT")/.make-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$pkg" ] || { echo "make-guest: no linux-image-cloud-amd64 in the apt lists (apt-get update?)" >&2; exit 1; }
# Download as the calling user: apt would otherwise drop to _apt, which may not reach $work.
(cd "$work" && apt-get download -q -o APT::Sandbox::User="$(id -un)" "$pkg" >/dev/null &&
  dpkg-deb -x "$pkg"_*.deb k)
mkdir -p "$work/out"
cp "$work"/k/boot/vmlinuz-* "$work/out/vmlinuz"
kver=$(ls "$work/k/lib/modules")
M="$work/k/lib/modules/$kver/kernel"
R="$work/root"
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/etc" "$R/lib/modules"
cp "$BUSYBOX" "$R/bin/busybox"
for m in drivers/acpi/button.ko drivers/input/evdev.ko drivers/virtio/virtio.ko \
         drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_legacy_dev.ko \
         drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko \
         drivers/block/virtio_blk.ko net/core/failover.ko drivers/net/net_failover.ko \
         drivers/net/virtio_net.ko; do
  cp "$M/$m" "$R/lib/modules/"
done
cat > "$R/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
for m in button evdev virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
         virtio_blk failover net_failover virtio_net; do
  $B insmod /lib/modules/$m.ko || echo "GUEST-INSMOD-FAIL $m"
done
# Arm the power button first: no acpid, wait for any event on the "Power Button" evdev node.
for e in /sys/class/input/event*; do
  if [ "$($B cat $e/device/name 2>/dev/null)" = "Power Button" ]; then
    ( $B head -c 24 /dev/input/$($B basename $e) >/dev/null; echo GUEST-POWERBUTTON; $B poweroff -f ) &
  fi
done
echo "GUEST-UP kernel=$($B uname -r) uptime=$($B cut -d' ' -f1 /proc/uptime)"
for d in /sys/block/vd*; do [ -e "$d" ] && echo "GUEST-DISK $($B basename $d) sectors=$($B cat $d/size)"; done
for n in /sys/class/net/*; do [ -e "$n" ] && echo "GUEST-NIC $($B basename $n) $($B cat $n/address)"; done
case " $($B cat /proc/cmdline) " in *" guest.halt "*) $B poweroff -f ;; esac
# guest.tick: the guest's uptime every second; a live migration must not reset or stop it.
case " $($B cat /proc/cmdline) " in *" guest.tick "*)
  while true; do echo "GUEST-TICK uptime=$($B cut -d' ' -f1 /proc/uptime)"; $B sleep 1; done ;;
esac
while true; do $B sleep 3600; done
INIT
chmod +x "$R/init"
mknod -m 600 "$R/dev/console" c 5 1
(cd "$R" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null | gzip -1 > "$work/out/initrd.gz")
echo "$kver" > "$work/out/kernel-release"
mkdir -p "$OUT"
for f in vmlinuz kernel-release initrd.gz; do mv -f "$work/out/$f" "$OUT/$f"; done
ls -la "$OUT"
