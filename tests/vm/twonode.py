"""Two cluster nodes with real libvirtd on one host, for live migration (tests and bench).

Each node is a pair of private namespaces on this host:

* a **network namespace** ``<tag>a`` / ``<tag>b`` linked to the other by two veth pairs
  that exist only inside the namespaces: the primary network (``10.N.1.0/24``, node RPC)
  and the secondary network (``10.N.2.0/24``, libvirt and the QEMU migration stream).  A
  blackhole route for ``10.N.0.0/16`` is added in the host's namespace first (so nothing
  the host sends to those addresses can leave the machine) and removed at the end;
* a **mount namespace** per process in which the node's own directory
  (``BASE/nodes/<name>``) is bind-mounted on the common path ``BASE/root``.  Every daemon
  of a node (libvirtd, QEMU, noded, masterd, the CLI) runs with ``--root BASE/root``, so
  both nodes use identical paths that name different files, as on two real machines:
  the serial console file a migrated guest writes is the *target's* file, the libvirt
  socket in the cluster's ``libvirt_uri`` is each node's own daemon.

Only the shared file storage directory (``BASE/shared``) is the same on both nodes (the
``sharedfile`` template's "one directory every node sees").  The master daemon and the
CLI run on node A.  ``Lab.close`` undoes everything in reverse order, also after a failed
start; each step is bounded.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import attrs

from ganeti import constants as C
from ganeti import devcluster
from ganeti.bootstrap import InitParams, init_cluster
from ganeti.config.store import ConfigStore, load_config
from ganeti.hypervisor import params
from ganeti.paths import Paths

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
BIN = Path(sys.executable).parent
GUEST_DIR = Path(os.environ.get("GANETI_VM_GUEST_DIR") or REPO / "build" / "vm-guest")
PORT = 1811  # noded; each namespace has its own port space
SHARED_WIRE = "/srv/ganeti/shared-file-storage"
CLUSTER = "lm.cluster.test"


def missing_requirements() -> str | None:
    """Why the two-node lab cannot run on this host (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, libvirtd running QEMU as root)"
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "unshare", "ip", "ss"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (run tools/vm-setup.sh as root)"
    if not list(Path("/usr/lib").glob("*/libvirt/connection-driver/libvirt_driver_qemu.so")):
        return "the libvirt QEMU driver is not installed (libvirt-daemon-driver-qemu)"
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return "libvirt-python is not installed in this environment (pip install '.[libvirt]')"
    for name in ("vmlinuz", "initrd.gz"):
        if not (GUEST_DIR / name).is_file():
            return f"test guest missing: {GUEST_DIR / name} (run tools/vm-setup.sh)"
    init = subprocess.run(
        ["sh", "-c", "zcat initrd.gz | grep -a -c guest.tick"],
        cwd=GUEST_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if init.stdout.strip() in ("", "0"):
        return f"the test guest in {GUEST_DIR} predates guest.tick (run tools/vm-setup.sh)"
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "true"], capture_output=True, text=True, timeout=30
    )
    if probe.returncode != 0:
        return f"cannot create network/mount namespaces: {probe.stderr.strip()}"
    return None


def run(
    argv: list[str], timeout: float = 60, check: bool = True, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return str(proc.stdout)


@attrs.define
class LabNode:
    name: str
    netns: str
    primary_ip: str
    secondary_ip: str
    real_root: Path  # this node's directory as the host's namespace sees it

    @property
    def paths(self) -> Paths:
        return Paths(self.real_root)

    @property
    def lvdir(self) -> Path:
        return self.real_root / "lv"

    @property
    def uri(self) -> str:
        """The node's libvirtd from the host's namespace (unix socket by path)."""
        return f"qemu:///system?socket={self.lvdir}/run/libvirt-sock"

    def console_file(self, instance: str) -> Path:
        return self.paths.run_dir / "libvirt" / C.HT_KVM / f"{instance}.console"


class Lab:
    """Two nodes (A: master + node, B: node) in namespaces; see the module docstring."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.tag = "gntlm" + uuid.uuid4().hex[:5]
        self.root = base / "root"  # what every node's processes see as their root
        self.shared = base / "shared"
        self.subnet: str | None = None
        self.nodes: list[LabNode] = []
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self.pids: dict[str, int] = {}

    # --- undo stack ---------------------------------------------------------------------

    def _later(self, what: str, f: Callable[[], object]) -> None:
        self._undo.append((what, f))

    def close(self) -> list[str]:
        """Undo every step taken, newest first; returns the failures (never raises)."""
        failures = []
        while self._undo:
            what, f = self._undo.pop()
            try:
                f()
            except Exception as exc:  # keep going: the rest must be cleaned up too
                failures.append(f"{what}: {exc}")
        return failures

    # --- network ------------------------------------------------------------------------

    def _blackhole(self) -> None:
        """Claim a 10.N.0.0/16 nobody on this host routes yet: the blackhole route in the
        host's namespace comes first, so a stray packet to the lab's addresses is dropped."""
        start = 40 + os.getpid() % 150
        for i in range(60):
            n = 40 + (start - 40 + i) % 190
            subnet = f"10.{n}.0.0/16"
            proc = subprocess.run(
                ["ip", "route", "add", "blackhole", subnet], capture_output=True, timeout=30
            )
            if proc.returncode == 0:
                self.subnet = subnet
                undo = ["ip", "route", "del", "blackhole", subnet]
                self._later("blackhole route", functools.partial(run, undo, check=False))
                return
        raise RuntimeError("no free 10.N.0.0/16 for the lab's blackhole route")

    def _network(self) -> None:
        assert self.subnet is not None
        n = self.subnet.split(".")[1]
        names = [("nodea.lm.test", "a"), ("nodeb.lm.test", "b")]
        for i, (name, letter) in enumerate(names, start=1):
            ns = f"{self.tag}{letter}"
            run(["ip", "netns", "add", ns])
            undo = ["ip", "netns", "del", ns]
            self._later(f"netns {ns}", functools.partial(run, undo, check=False))
            self.nodes.append(
                LabNode(name, ns, f"10.{n}.1.{i}", f"10.{n}.2.{i}", self.base / "nodes" / name)
            )
        a, b = self.nodes
        for link in ("pri", "sec"):
            # Created inside A with the peer moved straight into B: no device in the host.
            run(["ip", "-n", a.netns, "link", "add", link, "type", "veth",
                 "peer", "name", link, "netns", b.netns])  # fmt: skip
        for node in self.nodes:
            for link, ip in (("pri", node.primary_ip), ("sec", node.secondary_ip)):
                run(["ip", "-n", node.netns, "addr", "add", f"{ip}/24", "dev", link])
                run(["ip", "-n", node.netns, "link", "set", link, "up"])
            run(["ip", "-n", node.netns, "link", "set", "lo", "up"])

    # --- running things on a node ---------------------------------------------------------

    def on(self, node: LabNode, argv: list[str]) -> list[str]:
        """``argv`` inside ``node``'s network namespace with its directory on ``self.root``."""
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return [
            "ip", "netns", "exec", node.netns,
            "unshare", "--mount", "--propagation", "private",
            "sh", "-c", script, "lab-node", str(node.real_root), str(self.root), *argv,
        ]  # fmt: skip

    def _spawn(self, key: str, node: LabNode, argv: list[str], log: Path) -> int:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                self.on(node, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.pids[key] = proc.pid
        module = argv[2]
        self._later(key, functools.partial(self._stop, proc, module))
        return proc.pid

    def _stop(self, proc: subprocess.Popen[bytes], module: str) -> None:
        """TERM (KILL after 10 s) a daemon we started, if that pid is still it."""
        if proc.poll() is not None:
            return
        try:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        except OSError:
            return
        if module.encode() not in cmdline:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _wait_listening(self, node: LabNode, pid: int, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while True:
            out = run(["ip", "netns", "exec", node.netns, "ss", "-Hltn", f"sport = :{PORT}"])
            if out.strip():
                return
            if not devcluster.pid_alive(pid):
                tail = node.paths.daemon_log("node-daemon").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"noded on {node.name} exited:\n{tail}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"noded on {node.name} not listening within {limit:.0f} s")
            time.sleep(0.1)

    def libvirtd(self, node: LabNode, action: str) -> str:
        env = {
            **os.environ,
            "LIBVIRT_CACHE_DIR": str(GUEST_DIR / "libvirt-cache"),
            "LIBVIRTD_LISTEN_ADDR": node.secondary_ip,
        }
        ctl = ["sh", str(TOOLS / "libvirtd-ctl.sh"), action]
        if action == "start":  # inside the node: the daemon and its QEMUs see the node's root
            return run(self.on(node, [*ctl, str(self.root / "lv")]), timeout=120, env=env)
        return run([*ctl, str(node.lvdir)], timeout=120, env=env)

    # --- the cluster --------------------------------------------------------------------

    def start(self, kvm_hvparams: dict[str, object]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(parents=True, exist_ok=True)
        self._blackhole()
        self._network()
        a, b = self.nodes
        # Configuration: A initialises the cluster; the kvm hvparams reach each node's own
        # libvirtd through the same socket path (written with the initial config, before
        # masterd starts).
        init_cluster(
            a.paths,
            InitParams(
                cluster_name=CLUSTER,
                node_name=a.name,
                node_ip=a.primary_ip,
                master_ip=a.primary_ip,
                secondary_ip=a.secondary_ip,
                enabled_hypervisors=(C.HT_FAKE, C.HT_KVM),
            ),
        )
        config = load_config(a.paths.config_data)
        config.cluster.hvparams[C.HT_KVM].update(
            {
                params.LIBVIRT_URI: f"qemu:///system?socket={self.root}/lv/run/libvirt-sock",
                "kvm_flag": "disabled",
                **kvm_hvparams,
            }
        )
        ConfigStore(a.paths.config_data).save(config)
        devcluster.prepare(
            self.base / "nodes",
            [(n.name, n.primary_ip) for n in self.nodes],
            PORT,
            CLUSTER,
        )
        for node in self.nodes:
            self._share_storage(node)
            self._later(f"libvirtd {node.name}", functools.partial(self.libvirtd, node, "stop"))
            self.libvirtd(node, "start")
        for node in self.nodes:
            dev = devcluster.DevNode(node.name, node.primary_ip, PORT, self.root)
            argv = devcluster.noded_command(dev, sys.executable)
            pid = self._spawn(
                f"noded {node.name}", node, argv, node.paths.daemon_log("node-daemon")
            )
            self._wait_listening(node, pid)
        dev = devcluster.DevNode(a.name, a.primary_ip, PORT, self.root)
        pid = self._spawn(
            "masterd",
            a,
            devcluster.masterd_command(dev, sys.executable),
            a.paths.daemon_log("master-daemon"),
        )
        devcluster.wait_socket(a.paths.luxi_socket, pid, timeout=60)
        self.gnt(
            "gnt-node", "add", "--primary-ip", b.primary_ip, "--secondary-ip", b.secondary_ip,
            b.name,
        )  # fmt: skip
        self.gnt(
            "gnt-cluster", "modify", "--enabled-disk-templates", "file,sharedfile,diskless",
            "--shared-file-storage-dir", SHARED_WIRE,
        )  # fmt: skip

    def _share_storage(self, node: LabNode) -> None:
        """The node's shared file storage directory is ``self.shared`` (one for both)."""
        paths = node.paths
        link = paths.from_virtual(SHARED_WIRE)
        if link.is_dir() and not link.is_symlink():
            link.rmdir()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(self.shared)
        allowed = paths.file_storage_paths
        lines = allowed.read_text().splitlines() if allowed.exists() else []
        allowed.write_text("\n".join([*lines, SHARED_WIRE]) + "\n")

    def gnt(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """A CLI command on the master node A; stdout + stderr."""
        env = {**os.environ, "GANETI_ROOT": str(self.root), "GANETI_NODED_PORT": str(PORT)}
        argv = self.on(self.nodes[0], [str(BIN / args[0]), *args[1:]])
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        out = proc.stdout + proc.stderr
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}): {out}")
        return out

    # --- observing ----------------------------------------------------------------------

    def virsh(self, node: LabNode, *args: str, check: bool = True) -> str:
        return run(["virsh", "-q", "-c", node.uri, *args], check=check)

    def domains(self, node: LabNode) -> list[str]:
        return [n for n in self.virsh(node, "list", "--all", "--name").split() if n]

    def domain_type(self, node: LabNode, name: str) -> str | None:
        match = re.search(r"<domain type='(\w+)'", self.virsh(node, "dumpxml", name))
        return match.group(1) if match else None

    def ticks(self, node: LabNode, instance: str) -> list[float]:
        """The guest's uptime values from ``node``'s console file of ``instance``."""
        path = node.console_file(instance)
        text = path.read_text(errors="replace") if path.exists() else ""
        return [float(x) for x in re.findall(r"GUEST-TICK uptime=([0-9.]+)", text)]

    def completed_job_stats(self, node: LabNode, name: str) -> dict[str, int]:
        """libvirt's statistics of the last completed job of ``name`` on ``node`` (on a
        migration target: the incoming migration, incl. ``downtime`` in ms)."""
        import libvirt

        conn = libvirt.open(node.uri)
        try:
            stats = conn.lookupByName(name).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        finally:
            conn.close()
        return {str(k): int(v) for k, v in stats.items() if isinstance(v, int)}


def wait_for(what: str, check: Callable[[], bool], limit: float) -> float:
    """Poll ``check`` every 0.1 s until true; the seconds it took (TimeoutError after limit)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > limit:
            raise TimeoutError(f"{what}: not within {limit:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - start
