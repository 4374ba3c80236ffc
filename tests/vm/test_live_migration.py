"""Live migration on real libvirt: two nodes, each a private libvirtd (QEMU TCG) in its own
network namespace, a noded in each, the master on node A (``tests/vm/twonode.py``).  The
tiny test guest with a ``sharedfile`` disk is created with ``gnt-instance add`` on A and
moved with ``gnt-instance migrate`` to B: libvirt peer-to-peer migration over the
secondary network.  A slow migration back, started through the driver, is aborted with
``finalize_migration_src(false)``: the guest stays on B.  The guest prints its uptime
every second (``guest.tick``); the test reads B's console file after the move and sees
the count go on from where it was on A.
A second guest with a node-local ``file`` disk moves with ``--storage-copy`` (libvirt
non-shared-disk migration: QEMU mirrors the disk to B's pre-created file over NBD); the
data written into A's file before the start is in B's file afterwards.

Needs root, libvirtd + the QEMU driver, qemu-system-x86_64, virsh, iproute2,
libvirt-python and the guest (``tools/vm-setup.sh``); each missing piece skips the test
with the reason.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor import DiskRef, InstanceSpec, LibvirtHypervisor, params, run_inline
from ganeti.hypervisor.interface import DISK_SHARED
from tests.vm import twonode

INSTANCE = "gntlm-guest1"
FILE_INSTANCE = "gntlm-guest2"
MARKER = b"GNTLM-DISK-MARKER"
MARKER_OFFSET = 20 * 1024 * 1024 + 512
BOOT_LIMIT = 120.0  # the first tick takes 5-8 s under TCG here; generous for a loaded CI
TICK_LIMIT = 30.0


def guest_hvparams() -> dict[str, object]:
    return {
        "kernel_path": str(twonode.GUEST_DIR / "vmlinuz"),
        "initrd_path": str(twonode.GUEST_DIR / "initrd.gz"),
        "kernel_args": "panic=-1 quiet guest.tick",
        "serial_console": True,
        # No host page cache: the file is then safe to open on two nodes at once, which
        # libvirt requires of a disk it does not copy (it cannot tell the directory is
        # shared: here it is a local file system).
        "disk_cache": "none",
    }


class LiveMigrationTests(TestCase):
    timeout = 600

    def setUp(self) -> None:
        reason = twonode.missing_requirements()
        if reason:
            raise SkipTest(reason)
        base = Path(tempfile.mkdtemp(prefix="gntlm-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        self.lab = twonode.Lab(base)
        self.addCleanup(self._close_lab)
        started = time.monotonic()
        self.lab.start(guest_hvparams())
        self.setup_seconds = time.monotonic() - started

    def _close_lab(self) -> None:
        failures = self.lab.close()
        if failures:
            self.fail("cleanup failed: " + "; ".join(failures))

    def assert_tcg(self, node: twonode.LabNode, name: str = INSTANCE) -> None:
        """Safety: the domain must be a TCG one; a type='kvm' guest spins a core here."""
        kind = self.lab.domain_type(node, name)
        if kind != "qemu":
            self.lab.virsh(node, "destroy", name, check=False)
            self.fail(f"domain on {node.name} is not a TCG (type='qemu') domain: {kind}")

    def listing(self) -> dict[str, list[str]]:
        out = self.lab.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode,status"
        )
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1:] for r in rows}

    def abort_migration_back(self, source: twonode.LabNode, target: twonode.LabNode) -> None:
        """The driver's abort on real libvirt: a slow (1 MiB/s) migration started with
        the driver as noded issues it is aborted by ``finalize_migration_src(false)``
        from another thread once libvirt reports it active; the migrate call fails and
        the guest stays on ``source``."""
        import libvirt

        disk = re.search(r"<source file='([^']+)'", self.lab.virsh(source, "dumpxml", INSTANCE))
        assert disk is not None
        spec = InstanceSpec(
            name=INSTANCE,
            hypervisor=C.HT_KVM,
            hvparams={
                **guest_hvparams(),
                params.LIBVIRT_URI: source.uri,
                "kvm_flag": "disabled",
                C.HV_MIGRATION_BANDWIDTH: 1,
            },
            beparams={"memory": 128},
            disks=(DiskRef(disk.group(1), storage=DISK_SHARED),),
        )

        def driver() -> LibvirtHypervisor:
            return LibvirtHypervisor(C.HT_KVM, self.lab.base / "drv", Clock(), run_inline)

        outcome: list[object] = []

        def migrate() -> None:
            d = defer.Deferred.fromCoroutine(driver().migrate("c", spec, target.secondary_ip, True))
            d.addBoth(outcome.append)

        thread = threading.Thread(target=migrate, daemon=True)
        thread.start()
        conn = libvirt.open(source.uri)
        try:
            dom = conn.lookupByName(INSTANCE)
            twonode.wait_for("migration active", lambda: dom.jobStats().get("type", 0) != 0, 30)
        finally:
            conn.close()
        aborted = defer.Deferred.fromCoroutine(driver().finalize_migration_src(spec, False, True))
        self.assertEqual(self.successResultOf(aborted), None)
        thread.join(60)
        self.assertFalse(thread.is_alive(), "migrateToURI3 did not return after the abort")
        [result] = outcome
        self.assertIsInstance(result, Failure)
        assert isinstance(result, Failure)
        self.assertIsInstance(result.value, errors.HypervisorError)
        self.assertIn("abort", str(result.value).lower())

    def test_live_migration_sharedfile(self) -> None:
        lab = self.lab
        a, b = lab.nodes
        hv = guest_hvparams()
        started = time.monotonic()
        lab.gnt(
            "gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=32M", "-o", "noop",
            "--no-nics", "--ignore-ipolicy", "--hypervisor", "kvm",
            "-H", f"kvm:kernel_path={hv['kernel_path']},initrd_path={hv['initrd_path']},"
            "kvm_flag=disabled",
            "-B", "memory=128", "-n", a.name, INSTANCE,
        )  # fmt: skip
        self.assertEqual(lab.domains(a), [INSTANCE])
        self.assert_tcg(a)
        twonode.wait_for("two ticks on A", lambda: len(lab.ticks(a, INSTANCE)) >= 2, BOOT_LIMIT)
        boot_seconds = time.monotonic() - started
        console_a = a.console_file(INSTANCE).read_text(errors="replace")
        self.assertIn("GUEST-DISK vda sectors=65536", console_a)  # the 32 MiB shared file
        [disk] = [p for p in lab.shared.rglob("*") if p.is_file()]

        started = time.monotonic()
        out = lab.gnt("gnt-instance", "migrate", "-f", "--ignore-ipolicy", "-n", b.name, INSTANCE)
        migrate_seconds = time.monotonic() - started
        self.assertIn(f"Migrating instance {INSTANCE} (live)", out)
        before = lab.ticks(a, INSTANCE)
        self.assertEqual(lab.domains(a), [])
        self.assertEqual(lab.domains(b), [INSTANCE])
        self.assert_tcg(b)
        self.assertEqual(self.listing()[INSTANCE], [b.name, "running"])

        # The guest goes on counting on B (its console file there, not A's): no reboot,
        # no stop.  Its uptime on B starts at or after the last value A saw.
        twonode.wait_for("three ticks on B", lambda: len(lab.ticks(b, INSTANCE)) >= 3, TICK_LIMIT)
        after = lab.ticks(b, INSTANCE)
        self.assertNotIn("GUEST-UP", b.console_file(INSTANCE).read_text(errors="replace"))
        self.assertGreaterEqual(after[0], before[-1])
        self.assertEqual(after, sorted(after))
        self.assertGreater(after[-1], after[0])
        self.assertEqual(len(lab.ticks(a, INSTANCE)), len(before))  # A's copy is gone
        stats = lab.completed_job_stats(b, INSTANCE)
        self.assertIn("downtime", stats)

        self.abort_migration_back(b, a)
        self.assertEqual(lab.domains(a), [])
        self.assertEqual(lab.domains(b), [INSTANCE])
        ticks = len(lab.ticks(b, INSTANCE))
        twonode.wait_for(
            "B ticking after the abort", lambda: len(lab.ticks(b, INSTANCE)) > ticks, TICK_LIMIT
        )

        started = time.monotonic()
        lab.gnt("gnt-instance", "remove", "-f", INSTANCE)
        remove_seconds = time.monotonic() - started
        self.assertEqual(self.listing(), {})
        self.assertEqual(lab.domains(a) + lab.domains(b), [])
        self.assertFalse(disk.exists())
        print(
            f"\nlive migration: lab setup {self.setup_seconds:.1f} s, add to 2 ticks "
            f"{boot_seconds:.1f} s, gnt-instance migrate {migrate_seconds:.1f} s (libvirt "
            f"downtime {stats['downtime']} ms), uptime {before[-1]} on A -> {after[0]} on B, "
            f"remove {remove_seconds:.1f} s",
            file=sys.stderr,
        )

    def test_storage_copy_migration_file(self) -> None:
        lab = self.lab
        a, b = lab.nodes
        hv = guest_hvparams()
        lab.gnt(
            "gnt-instance", "add", "-t", "file", "--disk", "0:size=32M", "-o", "noop",
            "--no-nics", "--ignore-ipolicy", "--hypervisor", "kvm", "--no-start",
            "-H", f"kvm:kernel_path={hv['kernel_path']},initrd_path={hv['initrd_path']},"
            "kvm_flag=disabled",
            "-B", "memory=128", "-n", a.name, FILE_INSTANCE,
        )  # fmt: skip
        storage = "srv/ganeti/file-storage"
        [disk_a] = [p for p in (a.real_root / storage).rglob("*") if p.is_file()]
        with open(disk_a, "r+b") as f:
            f.seek(MARKER_OFFSET)
            f.write(MARKER)
        lab.gnt("gnt-instance", "startup", FILE_INSTANCE)
        self.assert_tcg(a, FILE_INSTANCE)
        twonode.wait_for(
            "two ticks on A", lambda: len(lab.ticks(a, FILE_INSTANCE)) >= 2, BOOT_LIMIT
        )

        started = time.monotonic()
        out = lab.gnt(
            "gnt-instance", "migrate", "-f", "--storage-copy", "--ignore-ipolicy",
            "-n", b.name, FILE_INSTANCE,
        )  # fmt: skip
        migrate_seconds = time.monotonic() - started
        self.assertIn("for the copy", out)
        before = lab.ticks(a, FILE_INSTANCE)
        self.assertEqual(lab.domains(a), [])
        self.assertEqual(lab.domains(b), [FILE_INSTANCE])
        self.assert_tcg(b, FILE_INSTANCE)
        twonode.wait_for(
            "three ticks on B", lambda: len(lab.ticks(b, FILE_INSTANCE)) >= 3, TICK_LIMIT
        )
        after = lab.ticks(b, FILE_INSTANCE)
        self.assertGreaterEqual(after[0], before[-1])
        self.assertEqual(after, sorted(after))
        # B's own file (same path in B's view, another file) holds the data; A's is gone.
        disk_b = b.real_root / disk_a.relative_to(a.real_root)
        with open(disk_b, "rb") as f:
            f.seek(MARKER_OFFSET)
            self.assertEqual(f.read(len(MARKER)), MARKER)
        self.assertFalse(disk_a.exists())
        self.assertEqual(self.listing()[FILE_INSTANCE], [b.name, "running"])
        stats = lab.completed_job_stats(b, FILE_INSTANCE)

        lab.gnt("gnt-instance", "remove", "-f", FILE_INSTANCE)
        self.assertFalse(disk_b.exists())
        self.assertEqual(lab.domains(a) + lab.domains(b), [])
        print(
            f"\nstorage-copy migration: gnt-instance migrate {migrate_seconds:.1f} s "
            f"(libvirt downtime {stats.get('downtime')} ms), uptime {before[-1]} on A -> "
            f"{after[0]} on B",
            file=sys.stderr,
        )
