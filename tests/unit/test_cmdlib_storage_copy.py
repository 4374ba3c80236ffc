"""``OP_INSTANCE_MIGRATE storage_copy``: a ``file`` instance migrates with its disks
(target pre-creates them, source removes them after the switch, the target's copies go
when the migration fails), through the real processor against the node simulation of
test_cmdlib_migration."""

from __future__ import annotations

from ganeti import constants as C
from tests.unit.test_cmdlib_migration import MigrationCase


class StorageCopyTests(MigrationCase):
    def disk_path(self, name: str = "web1") -> str:
        [disk] = self.m.config.get_instance_disks(self.inst(name).uuid)
        return str(disk.logical_id[-1])

    def test_file_instance_moves_with_its_disk(self) -> None:
        self.make(C.DT_FILE)
        path = self.disk_path()
        self.assertIn(path, self.node2.disks)
        self.sim.calls.clear()
        self.m.run(self.migrate(target_node="node3.test", storage_copy=True))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(self.node3.running["web1"]["state"], "running")
        [disk] = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertEqual(disk.nodes, [self.n3.uuid])
        self.assertEqual(self.node3.disks, {path: 1024})
        self.assertNotIn(path, self.node2.disks)
        node3 = self.procs("node3.test")
        # Created (and opened) before the target accepts the instance.
        self.assertLess(node3.index("blockdev_create"), node3.index("blockdev_assemble"))
        self.assertLess(node3.index("blockdev_assemble"), node3.index("accept_instance"))
        node2 = self.procs("node2.test")
        self.assertLess(
            node2.index("instance_finalize_migration_src"), node2.index("blockdev_remove")
        )
        self.assertIn("copied to the target", "\n".join(self.m.log))

    def test_failed_migration_removes_the_targets_copy(self) -> None:
        self.make(C.DT_FILE)
        path = self.disk_path()
        self.node3.fail["accept_instance"] = "target exploded"
        exc = self.m.fail(self.migrate(target_node="node3.test", storage_copy=True))
        self.assertIn("still running on node2.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertEqual(self.node3.disks, {})
        self.assertEqual(self.node2.disks, {path: 1024})
        self.assertIn("web1", self.node2.running)
        # ... and a second attempt succeeds.
        del self.node3.fail["accept_instance"]
        self.m.run(self.migrate(target_node="node3.test", storage_copy=True))
        self.assertEqual(self.node3.disks, {path: 1024})

    def test_refusals(self) -> None:
        self.make(C.DT_FILE, "filed")
        exc = self.m.fail(self.migrate("filed", target_node="node3.test"), "wrong_state")
        self.assertIn("--storage-copy", str(exc))
        exc = self.m.fail(self.migrate("filed", cleanup=True, storage_copy=True), "wrong_input")
        self.assertIn("don't go together", str(exc))
        self.make(C.DT_SHARED_FILE, "shared")
        exc = self.m.fail(
            self.migrate("shared", target_node="node3.test", storage_copy=True), "wrong_input"
        )
        self.assertIn("applies to instances with 'file' disks", str(exc))
        # Failover cannot copy: the source is down.
        exc = self.m.fail(self.failover("filed", target_node="node3.test"), "wrong_state")
        self.assertIn("'file' disks", str(exc))
        self.assertEqual(self.pnode("filed"), "node2.test")
        self.assertEqual(self.pnode("shared"), "node2.test")
