"""Migrate and failover LUs through the real processor, locks and config writer, against
the in-memory node simulation of test_cmdlib_instance, extended with the six migration
procedures and a storage directory all nodes share (``sharedfile``)."""

from __future__ import annotations

import json
from typing import Any

from ganeti import constants as C
from tests.unit.test_cmdlib_instance import FakeNode, InstanceCase, NodeSim

SHARED = "/srv/ganeti/shared-file-storage"


class MigrationSim(NodeSim):
    """Sharedfile disks live in one dict every node sees; the fake hypervisor's migration
    semantics: the source hands its state over, the target holds it as "migrating"."""

    shared: dict[str, int]
    status: dict[str, Any]
    live_flags: list[bool]
    status_seq: list[dict[str, Any]]

    def _store(self, node: FakeNode, disk: Any) -> dict[str, int]:
        if not hasattr(self, "shared"):
            self.shared = {}
        return self.shared if self._key(disk).startswith(SHARED + "/") else node.disks

    def p_blockdev_create(self, node: FakeNode, disk: Any, size: int, *rest: Any) -> str:
        self._store(node, disk)[self._key(disk)] = size
        return self._key(disk)

    def p_blockdev_remove(self, node: FakeNode, disk: Any) -> None:
        self._store(node, disk).pop(self._key(disk), None)

    def p_blockdev_find(self, node: FakeNode, disk: Any) -> Any:
        key = self._key(disk)
        return {"dev_path": key} if key in self._store(node, disk) else None

    def p_blockdev_assemble(self, node: FakeNode, disk: Any, inst: Any, *rest: Any) -> Any:
        key = self._key(disk)
        if key not in self._store(node, disk):
            raise ValueError(f"disk {key} missing")
        return [key, "link", None]

    def p_instance_os_add(self, node: FakeNode, inst: Any, reinstall: bool, debug: int) -> None:
        return None

    def p_migration_info(self, node: FakeNode, inst: Any) -> str:
        if inst["name"] not in node.running:
            raise ValueError("not running")
        return json.dumps(node.running[inst["name"]])

    def p_accept_instance(self, node: FakeNode, inst: Any, info: str, target: str) -> None:
        if inst["name"] in node.running:
            raise ValueError("already exists on the target")
        data = json.loads(info)
        data["state"] = "migrating"
        node.running[inst["name"]] = data

    def p_instance_migrate(
        self, node: FakeNode, cluster: str, inst: Any, target: str, live: bool
    ) -> None:
        if inst["name"] not in node.running:
            raise ValueError("not running")
        node.running[inst["name"]]["migrated_to"] = target
        self.live_flags = [*getattr(self, "live_flags", []), live]

    def p_instance_get_migration_status(self, node: FakeNode, inst: Any) -> Any:
        queued = getattr(self, "status_seq", None)
        if queued:
            return queued.pop(0)
        return getattr(self, "status", None) or {"status": "completed"}

    def p_instance_finalize_migration_src(
        self, node: FakeNode, inst: Any, success: bool, live: bool
    ) -> None:
        if success:
            node.running.pop(inst["name"], None)
        elif inst["name"] in node.running:
            node.running[inst["name"]].pop("migrated_to", None)

    def p_instance_finalize_migration_dst(
        self, node: FakeNode, inst: Any, info: str, success: bool
    ) -> None:
        data = node.running.get(inst["name"])
        if not success:
            if data is not None and data.get("state") == "migrating":
                del node.running[inst["name"]]
            return
        if data is None:
            raise ValueError("not accepted here")
        data["state"] = "running"


class MigrationCase(InstanceCase):
    sim: MigrationSim

    def setUp(self) -> None:
        super().setUp()
        self.sim = MigrationSim(self.m.clock)
        self.sim.shared = {}
        self.m.rpc = self.sim  # type: ignore[assignment]
        self.m.processor.rpc = self.sim
        cluster = self.m.config.get_cluster()
        cluster.enabled_disk_templates = [C.DT_FILE, C.DT_DISKLESS, C.DT_PLAIN, C.DT_SHARED_FILE]
        cluster.shared_file_storage_dir = SHARED
        self.node2 = self.sim.node("node2.test")
        self.node3 = self.sim.node("node3.test")

    def op(self, op_id: str, name: str = "web1", **kw: Any) -> dict[str, Any]:
        return {"OP_ID": op_id, "instance_name": name, **kw}

    def migrate(self, name: str = "web1", **kw: Any) -> dict[str, Any]:
        return self.op("OP_INSTANCE_MIGRATE", name, **kw)

    def failover(self, name: str = "web1", **kw: Any) -> dict[str, Any]:
        return self.op("OP_INSTANCE_FAILOVER", name, **kw)

    def make(self, template: str = C.DT_SHARED_FILE, name: str = "web1", **kw: Any) -> None:
        disks = [] if template == C.DT_DISKLESS else [{"size": 1024}]
        self.m.run(self.create(name, disk_template=template, disks=disks, **kw))

    def pnode(self, name: str = "web1") -> str:
        return self.m.config.get_node(self.inst(name).primary_node).name

    def procs(self, node: str) -> list[str]:
        return [p for n, p in self.sim.calls if n == node]


class MigrateTests(MigrationCase):
    def test_diskless_live_migration(self) -> None:
        self.make(C.DT_DISKLESS)
        self.sim.calls.clear()
        self.m.run(self.migrate(target_node="node3.test"))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertNotIn("web1", self.node2.running)
        self.assertEqual(self.node3.running["web1"]["state"], "running")
        self.assertEqual(self.sim.live_flags, [True])
        order = [p for _n, p in self.sim.calls if "migra" in p or p == "accept_instance"]
        self.assertEqual(
            order,
            [
                "migration_info",
                "accept_instance",
                "instance_migrate",
                "instance_get_migration_status",
                "instance_finalize_migration_src",
                "instance_finalize_migration_dst",
            ],
        )
        # The configuration on disk says so too.
        saved = self.m.on_disk()["instances"][self.inst().uuid]
        self.assertEqual(saved["primary_node"], self.n3.uuid)
        # And back, non-live.
        self.m.run(self.migrate(target_node="node2.test", mode="non-live"))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertEqual(self.sim.live_flags, [True, False])

    def test_sharedfile_with_allocator(self) -> None:
        self.make()
        [disk] = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertTrue(str((disk.logical_id or [])[1]).startswith(SHARED + "/web1/"))
        self.sim.node("node1.test").memory_free = 1000
        self.node3.memory_free = 6000
        self.sim.calls.clear()
        self.m.run(self.migrate())
        self.assertEqual(self.pnode(), "node3.test")
        [disk] = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertEqual(disk.nodes, [self.n3.uuid])
        self.assertIn("blockdev_assemble", self.procs("node3.test"))
        self.assertIn("blockdev_shutdown", self.procs("node2.test"))
        self.assertIn("via iallocator builtin", "\n".join(self.m.log))
        # The instance can be restarted where it now is (disks assembled on node3).
        self.m.run(self.op("OP_INSTANCE_REBOOT", reboot_type="full"))
        self.assertIn("web1", self.node3.running)
        self.assertNotIn("web1", self.node2.running)

    def test_refused_templates(self) -> None:
        self.make(C.DT_FILE, "filed")
        exc = self.m.fail(self.migrate("filed", target_node="node3.test"), "wrong_state")
        self.assertIn("--storage-copy", str(exc))
        exc = self.m.fail(self.failover("filed", target_node="node3.test"), "wrong_state")
        self.assertIn("'file' disks", str(exc))
        cluster = self.m.config.get_cluster()
        cluster.enabled_hypervisors = [C.HT_FAKE, C.HT_KVM]
        self.m.add_drbd_instance("mirrored", self.n2, self.n3)
        exc = self.m.fail(self.migrate("mirrored", target_node="node1.test"), "wrong_input")
        self.assertIn("only migrate to its secondary node node3.test", str(exc))
        self.assertEqual(self.pnode("filed"), "node2.test")
        self.assertIn("filed", self.node2.running)

    def test_abort_when_target_refuses(self) -> None:
        self.make()
        self.node3.fail["accept_instance"] = "target exploded"
        exc = self.m.fail(self.migrate(target_node="node3.test"))
        self.assertIn("target exploded", str(exc))
        self.assertIn("still running on node2.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertEqual(self.node2.running["web1"]["state"], "running")
        self.assertNotIn("web1", self.node3.running)
        self.assertIn("instance_finalize_migration_src", self.procs("node2.test"))
        self.assertIn("blockdev_shutdown", self.procs("node3.test"))

    def test_abort_when_migration_fails(self) -> None:
        self.make(C.DT_DISKLESS)
        self.sim.status = {"status": "failed", "info": "connection reset"}
        exc = self.m.fail(self.migrate(target_node="node3.test"))
        self.assertIn("connection reset", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertNotIn("migrated_to", self.node2.running["web1"])
        self.assertNotIn("web1", self.node3.running)  # the half-accepted copy is gone
        self.sim.status = {}
        self.node2.fail["instance_migrate"] = "libvirt: unable to connect"
        self.m.fail(self.migrate(target_node="node3.test"))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertNotIn("web1", self.node3.running)
        self.assertIn("web1", self.node2.running)

    def test_polls_while_active(self) -> None:
        self.make(C.DT_DISKLESS)
        active = {"status": "active", "transferred_ram": 50, "total_ram": 100}
        self.sim.status_seq = [dict(active) for _ in range(12)]
        d = self.m.execute(self.migrate(target_node="node3.test"))
        self.assertNoResult(d)
        self.assertEqual(self.pnode(), "node2.test")
        for _ in range(12):
            self.m.clock.advance(1.0)
        self.successResultOf(d)
        self.assertEqual(self.pnode(), "node3.test")
        polls = self.procs("node2.test").count("instance_get_migration_status")
        self.assertEqual(polls, 13)
        self.assertIn("* memory transfer progress: 50.0%", self.m.log)

    def test_target_checks(self) -> None:
        self.make()
        exc = self.m.fail(self.migrate(target_node="node2.test"), "wrong_input")
        self.assertIn("already has node node2.test as its primary", str(exc))
        self.node3.memory_free = 64
        exc = self.m.fail(self.migrate(target_node="node3.test"), "insufficient_resources")
        self.assertIn("not enough memory", str(exc))
        node = self.n3.copy()
        node.offline = True
        self.m.config.update(node)
        exc = self.m.fail(self.migrate(target_node="node3.test"), "wrong_state")
        self.assertIn("offline", str(exc))
        self.m.fail(self.migrate(target_node="node2.test", live=True, mode="live"))
        self.assertEqual(self.pnode(), "node2.test")

    def test_balloons_down_when_allowed(self) -> None:
        self.make(beparams={"maxmem": 1024, "minmem": 256})
        self.node3.memory_free = 512
        self.m.fail(
            self.migrate(target_node="node3.test", allow_runtime_changes=False),
            "insufficient_resources",
        )
        self.m.run(self.migrate(target_node="node3.test"))
        self.assertEqual(self.node3.running["web1"]["memory"], 512)

    def test_not_running(self) -> None:
        self.make(start=False)
        exc = self.m.fail(self.migrate(target_node="node3.test"), "wrong_state")
        self.assertIn("not running", str(exc))
        self.m.run(self.migrate(target_node="node3.test", allow_failover=True))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(self.node3.running, {})  # admin down: not started

    def test_cleanup_after_crash_on_target_side(self) -> None:
        self.make(C.DT_DISKLESS)
        # The master died after the source finished but before the target was finalized.
        self.node3.running["web1"] = dict(self.node2.running.pop("web1"), state="migrating")
        self.m.run(self.migrate(cleanup=True))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(self.node3.running["web1"]["state"], "running")

    def test_cleanup_reverts_half_migration(self) -> None:
        self.make()
        self.node2.running["web1"]["migrated_to"] = "192.0.2.13"
        self.node3.running["web1"] = dict(self.node2.running["web1"], state="migrating")
        self.m.run(self.migrate(cleanup=True, target_node="node3.test"))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertNotIn("web1", self.node3.running)
        self.assertNotIn("migrated_to", self.node2.running["web1"])

    def test_cleanup_refuses_two_running_copies(self) -> None:
        self.make(C.DT_DISKLESS)
        self.node3.running["web1"] = dict(self.node2.running["web1"])
        exc = self.m.fail(self.migrate(cleanup=True))
        self.assertIn("node3.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")


class FailoverTests(MigrationCase):
    def test_failover_running(self) -> None:
        self.make()
        self.m.run(self.failover(target_node="node3.test"))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertNotIn("web1", self.node2.running)
        self.assertEqual(self.node3.running["web1"]["state"], "running")
        procs = self.procs("node2.test")
        self.assertIn("instance_shutdown", procs)
        self.assertNotIn("migration_info", procs)

    def test_failover_stopped_only_moves_config(self) -> None:
        self.make(C.DT_DISKLESS, start=False)
        self.m.run(self.failover(target_node="node3.test"))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(self.node3.running, {})

    def test_dead_primary_needs_ignore_consistency(self) -> None:
        self.make()
        self.node2.fail["instance_shutdown"] = "connection refused"
        self.node2.fail["blockdev_shutdown"] = "connection refused"
        exc = self.m.fail(self.failover(target_node="node3.test"))
        self.assertIn("--ignore-consistency", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.m.run(self.failover(target_node="node3.test", ignore_consistency=True))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertIn("web1", self.node3.running)
        self.assertIn("make sure node node2.test is really down", "\n".join(self.m.log))

    def test_offline_primary(self) -> None:
        self.make(C.DT_DISKLESS)
        node = self.n2.copy()
        node.offline = True
        self.m.config.update(node)
        self.m.run(self.failover(target_node="node3.test"))
        self.assertEqual(self.pnode(), "node3.test")

    def test_start_failure_on_target(self) -> None:
        self.make()
        self.node3.fail["instance_start"] = "no such bridge"
        exc = self.m.fail(self.failover(target_node="node3.test"))
        self.assertIn("no such bridge", str(exc))
        self.assertEqual(self.pnode(), "node3.test")  # stopped on the source: config follows
        self.assertEqual(self.node3.running, {})
