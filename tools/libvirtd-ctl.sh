#!/bin/sh
# libvirtd-ctl.sh - a private libvirtd (QEMU driver) for tests, started by hand (no systemd).
#
# Usage: tools/libvirtd-ctl.sh start|stop|status|uri DIR
#
# The daemon runs in its own mount namespace where DIR/etc, DIR/run, DIR/lib, DIR/log and
# DIR/cache are bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt
# and /var/cache/libvirt: it shares no state, socket or pid file with any other libvirtd on the
# host.  Clients connect with   qemu:///system?socket=DIR/run/libvirt-sock   (printed by `uri`).
# DIR/etc/qemu.conf: QEMU runs as root, no dynamic ownership, no security driver, no cgroups,
# guest stdio straight to files (no virtlogd).
# LIBVIRT_CACHE_DIR (optional): a persistent directory for /var/cache/libvirt, so the QEMU
# capability probe (~8 s under TCG) is paid once instead of at every start.
# LIBVIRTD_LISTEN_ADDR (optional): also listen on TCP port 16509 of this address without
# authentication (peer-to-peer migration between test daemons, qemu+tcp://ADDR/system).  Only
# for a daemon started inside a private network namespace (tests/vm/twonode.py does that).
#
# `stop` destroys every domain still running in this daemon, stops the daemon (TERM, then KILL
# after 10 s) and kills any QEMU process it left behind (by the pid files in DIR/run/qemu).
# Every wait is bounded.  Must run as root.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 start|stop|status|uri DIR" >&2; exit 2; }
ACTION=$1
S=$(realpath -m "$2")
URI="qemu:///system?socket=$S/run/libvirt-sock"
PIDFILE="$S/run/libvirtd.pid"

alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "$ACTION" in
uri)
  echo "$URI" ;;
status)
  if alive; then echo "running: pid $(cat "$PIDFILE") uri $URI"; else echo "stopped"; exit 1; fi ;;
start)
  if alive; then echo "already running: pid $(cat "$PIDFILE")"; exit 0; fi
  command -v libvirtd >/dev/null || { echo "libvirtd not installed (tools/vm-setup.sh)" >&2; exit 1; }
  CACHE=${LIBVIRT_CACHE_DIR:-$S/cache}
  mkdir -p "$S/etc" "$S/run" "$S/lib" "$S/log" "$CACHE"
  cat > "$S/etc/qemu.conf" <<'CONF'
# test libvirtd (tools/libvirtd-ctl.sh): no systemd, no virtlogd, no cgroups, QEMU as root
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
CONF
  TCP=0
  LISTEN_FLAG=""
  [ -z "${LIBVIRTD_LISTEN_ADDR:-}" ] || { TCP=1; LISTEN_FLAG="--listen"; }
  cat > "$S/etc/libvirtd.conf" <<CONF
# test libvirtd (tools/libvirtd-ctl.sh): unix socket (and TCP with LIBVIRTD_LISTEN_ADDR)
listen_tls = 0
listen_tcp = $TCP
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
CONF
  if [ "$TCP" = 1 ]; then
    printf 'auth_tcp = "none"\nlisten_addr = "%s"\n' "$LIBVIRTD_LISTEN_ADDR" >> "$S/etc/libvirtd.conf"
  fi
  rm -f "$S/run/libvirt-sock" "$PIDFILE"   # a stale socket would end the wait below too early
  unshare --mount --propagation private sh -c '
    set -eu
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
    mount --bind "$1/etc" /etc/libvirt
    mount --bind "$1/run" /run/libvirt
    mount --bind "$1/lib" /var/lib/libvirt
    mount --bind "$1/log" /var/log/libvirt
    mount --bind "$2" /var/cache/libvirt
    exec libvirtd $3 --pid-file /run/libvirt/libvirtd.pid' libvirtd-ctl "$S" "$CACHE" "$LISTEN_FLAG" \
    > "$S/libvirtd.log" 2>&1 < /dev/null &
  pid=$!
  i=0
  while [ $i -lt 150 ]; do
    [ -S "$S/run/libvirt-sock" ] && [ -f "$PIDFILE" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  if ! [ -S "$S/run/libvirt-sock" ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "libvirtd did not start:" >&2
    grep -v OBJECT_ "$S/libvirtd.log" | tail -20 >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  echo "$pid" > "$PIDFILE"   # the process we started (unshare and sh exec into libvirtd)
  echo "libvirtd pid $pid uri $URI" ;;
stop)
  if alive && command -v virsh >/dev/null; then
    for dom in $(timeout 20 virsh -q -c "$URI" list --name 2>/dev/null || true); do
      timeout 20 virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
    done
    for dom in $(timeout 20 virsh -q -c "$URI" list --all --name 2>/dev/null || true); do
      timeout 20 virsh -q -c "$URI" undefine "$dom" >/dev/null 2>&1 || true
    done
  fi
  if alive; then
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    i=0
    while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  # QEMU processes outlive libvirtd: kill those this daemon started and left behind.
  for f in "$S"/run/qemu/*.pid; do
    [ -f "$f" ] || continue
    qpid=$(cat "$f" 2>/dev/null || true)
    case "$qpid" in ''|*[!0-9]*) continue ;; esac
    if tr '\0' ' ' < "/proc/$qpid/cmdline" 2>/dev/null | grep -q qemu-system; then
      kill -KILL "$qpid" 2>/dev/null || true
      echo "killed leftover QEMU pid $qpid ($f)"
    fi
    rm -f "$f"
  done
  echo "stopped" ;;
*)
  echo "usage: $0 start|stop|status|uri DIR" >&2; exit 2 ;;
esac
