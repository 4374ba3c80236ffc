"""The kvm hypervisor with a real guest: a private libvirtd, QEMU in TCG mode (``kvm_flag``
disabled: these machines cannot use KVM acceleration), the tiny test guest of
``tools/make-guest.sh`` booted by ``gnt-instance add`` on a one-node cluster, its serial
console showing ``GUEST-UP``, ``gnt-instance shutdown`` powering it off through ACPI and
``gnt-instance remove``.

Needs root, libvirtd + the QEMU driver, qemu-system-x86_64, virsh, libvirt-python and the
guest (``tools/vm-setup.sh`` installs/builds all of them; ``make test`` runs it first).
Each missing piece skips the test with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from twisted.trial.unittest import SkipTest, TestCase

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
NODE = ("node1.vm.test", "127.0.1.1")
INSTANCE = "gntvm-guest1"
BOOT_LIMIT = 90.0  # GUEST-UP takes 5-8 s under TCG here; generous for a loaded CI machine
SHUTDOWN_LIMIT = 60.0


def missing_requirements() -> str | None:
    """Why the VM test cannot run on this host (None when it can)."""
    if os.geteuid() != 0:
        return "VM tests need root (libvirtd with the QEMU driver runs QEMU as root)"
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "unshare"):
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
    return None


class KvmGuestTests(TestCase):
    """One node, the kvm hypervisor in TCG mode, one diskless guest."""

    timeout = 300

    def setUp(self) -> None:
        reason = missing_requirements()
        if reason:
            raise SkipTest(reason)
        # Short, unique names: unix socket paths are limited to 108 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="gntvm-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.lvdir = self.base / "lv"
        self.start_libvirtd()
        self.uri = self.ctl("uri").strip()
        self.start_cluster()

    # --- private libvirtd ---------------------------------------------------------------

    def ctl(self, action: str) -> str:
        env = {**os.environ, "LIBVIRT_CACHE_DIR": str(GUEST_DIR / "libvirt-cache")}
        proc = subprocess.run(
            ["sh", str(TOOLS / "libvirtd-ctl.sh"), action, str(self.lvdir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            self.fail(f"libvirtd-ctl.sh {action} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def start_libvirtd(self) -> None:
        self.addCleanup(self.ctl, "stop")  # destroys leftover domains, stops the daemon
        self.ctl("start")

    def virsh(self, *args: str) -> str:
        proc = subprocess.run(
            ["virsh", "-q", "-c", self.uri, *args], capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            self.fail(f"virsh {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def domains(self, *flags: str) -> list[str]:
        return [n for n in self.virsh("list", "--name", *flags).split() if n]

    # --- one-node cluster ---------------------------------------------------------------

    def start_cluster(self) -> None:
        """A one-node cluster initialised with the fake and kvm hypervisors; kvm's cluster
        hvparams point at the private libvirtd and select TCG before anything can start."""
        port = devcluster.free_port(NODE[1])
        self.port = port
        paths = Paths(self.base / "nodes" / NODE[0])
        init_cluster(
            paths,
            InitParams(
                cluster_name="vm.cluster.test",
                node_name=NODE[0],
                node_ip=NODE[1],
                master_ip=NODE[1],
                enabled_hypervisors=(C.HT_FAKE, C.HT_KVM),
            ),
        )
        # `gnt-cluster modify -H kvm:libvirt_uri=...` is refused by LUClusterSetParams
        # (it checks cluster hvparams against HVC_DEFAULTS only, without the libvirt extras
        # that instance hvparams accept), so the URI goes into the config before masterd runs.
        config = load_config(paths.config_data)
        config.cluster.hvparams[C.HT_KVM].update(
            {params.LIBVIRT_URI: self.uri, "kvm_flag": "disabled"}
        )
        ConfigStore(paths.config_data).save(config)
        [node] = devcluster.prepare(self.base / "nodes", [NODE], port, "vm.cluster.test")
        self.node = node
        devcluster.start_noded(node, sys.executable)
        self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening([node])
        pid = devcluster.start_masterd(node, sys.executable)
        self.addCleanup(devcluster.stop_pid, pid, node.root, "ganeti.masterd.tap")
        devcluster.wait_socket(node.paths.luxi_socket, pid)

    def gnt(self, *args: str) -> str:
        env = {
            **os.environ,
            "GANETI_ROOT": str(self.node.root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=180
        )
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({proc.returncode}): {out}")
        return out

    def status(self) -> dict[str, str]:
        out = self.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,status"
        )
        return dict(line.split("|", 1) for line in out.splitlines() if line.strip())

    def console_text(self) -> str:
        logs = list(self.node.root.rglob(f"{INSTANCE}.console"))
        return logs[0].read_text(errors="replace") if logs else ""

    def assert_tcg(self) -> None:
        """Safety: the domain must be a TCG one; a type='kvm' guest spins a core here."""
        xml = self.virsh("dumpxml", INSTANCE)
        match = re.search(r"<domain type='(\w+)'", xml)
        if not match or match.group(1) != "qemu":
            subprocess.run(["virsh", "-c", self.uri, "destroy", INSTANCE], timeout=60)
            self.fail(f"domain is not a TCG (type='qemu') domain: {xml[:200]}")

    def wait_for(self, what: str, check: Callable[[], bool], limit: float) -> float:
        """Poll ``check`` until it is true; the seconds it took.  Fails after ``limit``."""
        start = time.monotonic()
        while not check():
            if time.monotonic() - start > limit:
                self.fail(f"{what}: not within {limit:.0f} s")
            time.sleep(0.1)
        return time.monotonic() - start

    def wait_guest_up(self) -> None:
        self.wait_for(
            "GUEST-UP on the serial console", lambda: "GUEST-UP" in self.console_text(), BOOT_LIMIT
        )

    # --- the test -----------------------------------------------------------------------

    def test_boot_console_acpi_shutdown_remove(self) -> None:
        kernel = str(GUEST_DIR / "vmlinuz")
        initrd = str(GUEST_DIR / "initrd.gz")
        self.gnt(
            "gnt-cluster",
            "modify",
            "-H",
            f"kvm:kvm_flag=disabled,kernel_path={kernel},"
            f"initrd_path={initrd},serial_console=true,kernel_args=panic=-1 quiet",
        )
        started = time.monotonic()
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "diskless",
            "-o",
            "noop",
            "--no-nics",  # no bridge or tap on the host; the policy wants >= 1 NIC:
            "--ignore-ipolicy",
            "--hypervisor",
            "kvm",
            "-H",
            f"kvm:kernel_path={kernel},initrd_path={initrd},kvm_flag=disabled",
            "-B",
            "memory=128",
            "-n",
            NODE[0],
            INSTANCE,
        )
        add_seconds = time.monotonic() - started
        self.assertEqual(self.domains(), [INSTANCE])
        self.assert_tcg()
        self.wait_guest_up()
        boot_seconds = time.monotonic() - started
        self.assertEqual(self.status()[INSTANCE], "running")
        self.assertIn(".console", self.gnt("gnt-instance", "console", INSTANCE))

        started = time.monotonic()
        self.gnt("gnt-instance", "shutdown", "--timeout", str(int(SHUTDOWN_LIMIT)), INSTANCE)
        shutdown_seconds = time.monotonic() - started
        # ACPI, not a hard stop: the guest saw the power button and powered itself off.
        self.assertIn("GUEST-POWERBUTTON", self.console_text())
        self.assertEqual(self.domains("--all"), [])
        self.assertEqual(self.status()[INSTANCE], "ADMIN_down")

        # Start it again (a fresh console file) and remove it while it runs.
        for log in self.node.root.rglob(f"{INSTANCE}.console"):
            log.unlink()
        started = time.monotonic()
        self.gnt("gnt-instance", "startup", INSTANCE)
        self.assert_tcg()
        self.wait_guest_up()
        restart_seconds = time.monotonic() - started
        self.assertEqual(self.status()[INSTANCE], "running")

        started = time.monotonic()
        self.gnt("gnt-instance", "remove", "-f", INSTANCE)
        remove_seconds = time.monotonic() - started
        self.assertEqual(self.status(), {})
        self.assertEqual(self.domains("--all"), [])
        print(
            f"\nvm timings: gnt-instance add {add_seconds:.1f} s, GUEST-UP after "
            f"{boot_seconds:.1f} s, ACPI shutdown {shutdown_seconds:.1f} s, startup to "
            f"GUEST-UP {restart_seconds:.1f} s, remove while running {remove_seconds:.1f} s",
            file=sys.stderr,
        )
