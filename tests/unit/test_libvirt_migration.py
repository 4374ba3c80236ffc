"""What the libvirt driver asks of ``virDomainMigrateToURI3``: URIs, parameters, flags,
storage copy of node-local disks, the downtime limit (stub domains: libvirt's test
driver has no migration).  The real thing runs in tests/vm/test_live_migration.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti import errors
from ganeti.hypervisor import (
    DiskRef,
    InstanceSpec,
    LibvirtHypervisor,
    libvirt_available,
    run_inline,
)
from ganeti.hypervisor.interface import DISK_LOCAL, DISK_SHARED
from ganeti.hypervisor.libvirt_hv import disk_targets
from ganeti.noded.instargs import disk_storage

DOMAIN_XML = """<domain type='qemu'><name>web1</name><devices>
  <disk type='file' device='disk'><source file='/srv/ganeti/file-storage/web1/d0'/>
    <target dev='vda' bus='virtio'/></disk>
  <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
  <disk type='block' device='disk'><source dev='/dev/xenvg/d1'/>
    <target dev='vdb' bus='virtio'/></disk>
</devices></domain>"""


def run(coro: Any) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(coro)


def spec(*disks: DiskRef, **hvp: Any) -> InstanceSpec:
    return InstanceSpec(
        name="web1",
        hypervisor=C.HT_KVM,
        hvparams={**C.HVC_DEFAULTS[C.HT_KVM], **hvp},
        disks=disks,
    )


class _Dom:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def metadata(self, *args: Any) -> str:
        return "<instance/>"

    def XMLDesc(self, flags: int) -> str:
        return DOMAIN_XML

    def migrateSetMaxDowntime(self, ms: int, flags: int) -> None:
        self.calls.append(("downtime", ms))

    def migrateToURI3(self, uri: str, params: dict[str, Any], flags: int) -> None:
        self.calls.append(("migrate", uri, params, flags))

    job_type = 0

    def jobStats(self) -> dict[str, int]:
        return {"type": self.job_type}

    def abortJob(self) -> None:
        self.calls.append(("abort",))


class _Conn:
    def __init__(self, dom: _Dom) -> None:
        self.dom = dom

    def isAlive(self) -> bool:
        return True

    def lookupByName(self, name: str) -> _Dom:
        return self.dom


class DiskTargetsTests(SynchronousTestCase):
    def test_by_source_path_in_domain_order(self) -> None:
        both = {"/dev/xenvg/d1", "/srv/ganeti/file-storage/web1/d0"}
        self.assertEqual(disk_targets(DOMAIN_XML, both), ["vda", "vdb"])
        self.assertEqual(disk_targets(DOMAIN_XML, {"/dev/xenvg/d1"}), ["vdb"])
        self.assertEqual(disk_targets(DOMAIN_XML, {"/elsewhere"}), [])

    def test_storage_of_each_template(self) -> None:
        self.assertEqual(disk_storage(C.DT_FILE), DISK_LOCAL)
        self.assertEqual(disk_storage(C.DT_PLAIN), DISK_LOCAL)
        for shared in (C.DT_SHARED_FILE, C.DT_DRBD8, C.DT_RBD, C.DT_BLOCK):
            self.assertEqual(disk_storage(shared), DISK_SHARED)
        self.assertEqual(disk_storage(C.DT_DISKLESS), "")


class MigrateCallTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not libvirt_available():
            self.skipTest("libvirt-python is not installed")
        import libvirt

        self.lv = libvirt
        self.dom = _Dom()
        self.hv = LibvirtHypervisor(
            C.HT_KVM,
            Path(self.mktemp()),
            Clock(),
            run_inline,
            default_uri="qemu:///system?socket=/x/sock",
            opener=lambda uri: _Conn(self.dom),
        )

    def migrate(self, s: InstanceSpec, target: str, live: bool = True) -> tuple[Any, ...]:
        self.successResultOf(run(self.hv.migrate("c", s, target, live)))
        return self.dom.calls[-1]

    def test_live_peer_to_peer_over_the_given_address(self) -> None:
        _, uri, params, flags = self.migrate(spec(), "192.0.2.2")
        lv = self.lv
        self.assertEqual(uri, "qemu+tcp://192.0.2.2/system")
        self.assertEqual(
            params,
            {lv.VIR_MIGRATE_PARAM_URI: "tcp://192.0.2.2", lv.VIR_MIGRATE_PARAM_BANDWIDTH: 32},
        )
        self.assertEqual(
            flags, lv.VIR_MIGRATE_PEER2PEER | lv.VIR_MIGRATE_UNDEFINE_SOURCE | lv.VIR_MIGRATE_LIVE
        )
        # Ganeti's migration_downtime (ms) is set before the migration starts.
        self.assertEqual(self.dom.calls[0], ("downtime", 30))

    def test_non_live_ipv6_no_bandwidth_limit(self) -> None:
        s = spec(migration_bandwidth=0)
        _, uri, params, flags = self.migrate(s, "2001:db8::2", live=False)
        self.assertEqual(uri, "qemu+tcp://2001:db8::2/system")
        self.assertEqual(params, {self.lv.VIR_MIGRATE_PARAM_URI: "tcp://[2001:db8::2]"})
        self.assertFalse(flags & self.lv.VIR_MIGRATE_LIVE)
        self.assertEqual([c[0] for c in self.dom.calls], ["migrate"])

    def test_shared_file_disks_are_vouched_for(self) -> None:
        d0 = DiskRef("/srv/ganeti/shared-file-storage/web1/d0", storage=DISK_SHARED)
        _, _, params, flags = self.migrate(spec(d0), "192.0.2.2")
        self.assertTrue(flags & self.lv.VIR_MIGRATE_UNSAFE)
        self.assertFalse(flags & self.lv.VIR_MIGRATE_NON_SHARED_DISK)
        self.assertNotIn(self.lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS, params)

    def test_shared_block_disks_are_left_to_libvirt(self) -> None:
        d1 = DiskRef("/dev/xenvg/d1", "block", storage=DISK_SHARED)
        _, _, _, flags = self.migrate(spec(d1), "192.0.2.2")
        self.assertFalse(flags & self.lv.VIR_MIGRATE_UNSAFE)

    def test_local_disks_are_copied(self) -> None:
        d0 = DiskRef("/srv/ganeti/file-storage/web1/d0", storage=DISK_LOCAL)
        _, _, params, flags = self.migrate(spec(d0), "192.0.2.2")
        self.assertTrue(flags & self.lv.VIR_MIGRATE_NON_SHARED_DISK)
        self.assertFalse(flags & self.lv.VIR_MIGRATE_UNSAFE)
        self.assertEqual(params[self.lv.VIR_MIGRATE_PARAM_MIGRATE_DISKS], ["vda"])

    def test_local_disk_missing_from_the_domain_is_refused(self) -> None:
        d9 = DiskRef("/srv/ganeti/file-storage/web1/d9", storage=DISK_LOCAL)
        f = self.failureResultOf(
            run(self.hv.migrate("c", spec(d9), "192.0.2.2", True)), errors.HypervisorError
        )
        self.assertIn("not every local disk", str(f.value))
        self.assertEqual(self.dom.calls, [])

    def test_failed_finalize_aborts_a_running_migration(self) -> None:
        s = spec()
        self.successResultOf(run(self.hv.finalize_migration_src(s, True, True)))
        self.successResultOf(run(self.hv.finalize_migration_src(s, False, True)))
        self.assertEqual(self.dom.calls, [])  # success, or no job: nothing to abort
        self.dom.job_type = 2  # VIR_DOMAIN_JOB_UNBOUNDED: a migration in progress
        self.successResultOf(run(self.hv.finalize_migration_src(s, False, True)))
        self.assertEqual(self.dom.calls, [("abort",)])
