"""The fake hypervisor's storage-copy migration: node-local disk data travel with the
state (non-zero blocks only, holes and zero blocks left out) into the target's
pre-created files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.hypervisor import DiskRef, FakeHypervisor, InstanceSpec, fake
from ganeti.hypervisor.interface import DISK_LOCAL, DISK_SHARED

MIB = 1024 * 1024


def run(coro: Any) -> defer.Deferred[Any]:
    return defer.Deferred.fromCoroutine(coro)


class ExtentTests(SynchronousTestCase):
    def test_round_trip_leaves_out_holes_and_zeros(self) -> None:
        src = Path(self.mktemp())
        with open(src, "wb") as f:
            f.truncate(64 * MIB)
            f.seek(3 * MIB + 17)
            f.write(b"hello")
            f.seek(40 * MIB)
            f.write(b"\0" * MIB)  # allocated, but zero
            f.seek(64 * MIB - 3)
            f.write(b"end")
        extents = fake.read_extents(src)
        # Two non-zero blocks (from where the file system's data extents start) and the
        # length; the zero MiB at 40 MiB is left out.
        self.assertEqual(len(extents), 3)
        self.assertEqual(extents[0][0], 3 * MIB)
        self.assertGreater(extents[1][0], 40 * MIB)
        self.assertEqual(extents[2], [64 * MIB, ""])
        self.assertLess(len(json.dumps(extents)), 10_000)
        dst = Path(self.mktemp())
        with open(dst, "wb") as f:
            f.truncate(64 * MIB)
        fake.write_extents(dst, extents)
        self.assertEqual(dst.read_bytes(), src.read_bytes())

    def test_too_much_data_is_refused(self) -> None:
        src = Path(self.mktemp())
        self.patch(fake, "MAX_COPY_BYTES", 2 * MIB)
        src.write_bytes(b"x" * 3 * MIB)
        self.assertRaises(errors.HypervisorError, fake.read_extents, src)

    def test_unwritable_target(self) -> None:
        missing = Path(self.mktemp()) / "nope"
        self.assertRaises(errors.HypervisorError, fake.write_extents, missing, [[0, ""]])


class FakeStorageCopyTests(SynchronousTestCase):
    def spec(self, path: Path, storage: str = DISK_LOCAL) -> InstanceSpec:
        return InstanceSpec(
            name="web1", beparams={"maxmem": 128}, disks=(DiskRef(str(path), storage=storage),)
        )

    def test_disk_data_moves_with_the_state(self) -> None:
        clock = Clock()
        source = FakeHypervisor(Path(self.mktemp()), clock)
        target = FakeHypervisor(Path(self.mktemp()), clock)
        src_disk, dst_disk = Path(self.mktemp()), Path(self.mktemp())
        src_disk.write_bytes(b"\0" * MIB + b"data" + b"\0" * 100)
        dst_disk.write_bytes(b"\0" * (MIB + 104))
        self.successResultOf(run(source.start(self.spec(src_disk), False)))
        info = self.successResultOf(run(source.migration_info(self.spec(src_disk))))
        self.assertIn("disks", json.loads(info))
        self.successResultOf(run(target.accept_instance(self.spec(dst_disk), info, "n2")))
        self.assertEqual(dst_disk.read_bytes(), src_disk.read_bytes())
        state = self.successResultOf(run(target.instance_info("web1", {})))
        self.assertEqual(state.state, "migrating")
        # The copy is not kept in the target's state file.
        self.assertNotIn("disks", json.loads((target.state_dir / "web1").read_text()))

    def test_shared_disks_are_not_copied(self) -> None:
        hv = FakeHypervisor(Path(self.mktemp()), Clock())
        disk = Path(self.mktemp())
        disk.write_bytes(b"data")
        s = self.spec(disk, DISK_SHARED)
        self.successResultOf(run(hv.start(s, False)))
        info = self.successResultOf(run(hv.migration_info(s)))
        self.assertNotIn("disks", json.loads(info))

    def test_copy_count_must_match(self) -> None:
        target = FakeHypervisor(Path(self.mktemp()), Clock())
        info = json.dumps({"name": "web1", "memory": 128, "state": "running"})
        f = self.failureResultOf(
            run(target.accept_instance(self.spec(Path(self.mktemp())), info, "n2")),
            errors.HypervisorError,
        )
        self.assertIn("0 disk copies", str(f.value))
