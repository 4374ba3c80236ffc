"""Config store: strict loading, atomic writes, group commit, serials, the writer API."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ganeti import constants, errors
from ganeti.config import (
    Commit,
    ConfigStore,
    ConfigWriter,
    FileOps,
    IConfigWriter,
    bootstrap_config,
    load_config,
)
from ganeti.config.store import ConfigSerializer
from ganeti.objects import NIC, Disk, Instance, Node, NodeGroup
from tests.unit.test_config_helpers import FIXTURE, U, sample_config


class Boom(OSError):
    pass


def _fail(*args: Any) -> None:
    raise Boom("simulated crash")


class LoadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "config.data"

    def test_load_fixture(self) -> None:
        cfg = load_config(FIXTURE)
        self.assertEqual(cfg.cluster.cluster_name, "cluster.example.com")
        self.assertEqual(len(cfg.instances), 3)

    def assertLoadError(
        self, content: bytes, fragment: str, exc: type[Exception] = errors.ConfigurationError
    ) -> None:
        self.path.write_bytes(content)
        err = self.assertRaises(exc, load_config, self.path)
        self.assertIn(str(self.path), str(err))
        self.assertIn(fragment, str(err))

    def test_corrupt(self) -> None:
        self.assertLoadError(b"{not json", "not valid JSON")

    def test_truncated(self) -> None:
        data = FIXTURE.read_bytes()
        self.assertLoadError(data[: len(data) // 2], "corrupt or truncated")

    def test_empty(self) -> None:
        self.assertLoadError(b"", "empty")

    def test_not_an_object(self) -> None:
        self.assertLoadError(b"[1, 2]", "not a JSON object")

    def test_missing_file(self) -> None:
        err = self.assertRaises(errors.ConfigurationError, load_config, self.path)
        self.assertIn(str(self.path), str(err))

    def test_version_mismatch(self) -> None:
        raw = json.loads(FIXTURE.read_text())
        raw["version"] = 2160000
        self.assertLoadError(
            json.dumps(raw).encode(), "2.16.0 is not supported", errors.ConfigVersionMismatch
        )

    def test_revision_may_differ(self) -> None:
        raw = json.loads(FIXTURE.read_text())
        raw["version"] = constants.CONFIG_VERSION + 3
        self.path.write_text(json.dumps(raw))
        self.assertEqual(load_config(self.path).version, constants.CONFIG_VERSION + 3)

    def test_malformed_structure(self) -> None:
        raw = json.loads(FIXTURE.read_text())
        raw["nodes"] = [1]
        self.assertLoadError(json.dumps(raw).encode(), "malformed")

    def test_does_not_validate(self) -> None:
        raw = json.loads(FIXTURE.read_text())
        raw["instances"][U(402)]["primary_node"] = "gone"
        self.path.write_text(json.dumps(raw))
        err = self.assertRaises(errors.ConfigVerifyError, load_config, self.path)
        self.assertIn(str(self.path), str(err))
        self.assertIn("db1.example.com", str(err))
        self.assertTrue(any("primary node 'gone'" in e for e in err.errors))


class AtomicWriteTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "config.data"
        ConfigStore(self.path).save(sample_config())
        self.before = self.path.read_bytes()

    def _store(self, **ops: Callable[..., Any]) -> ConfigStore:
        return ConfigStore(self.path, ops=FileOps(**ops))

    def test_mode(self) -> None:
        self.assertEqual(stat.S_IMODE(self.path.stat().st_mode), 0o640)

    def test_written_file_equals_to_dict(self) -> None:
        cfg = sample_config()
        self.assertEqual(json.loads(self.before), json.loads(json.dumps(cfg.to_dict())))

    def _assert_intact(self) -> None:
        self.assertEqual(self.path.read_bytes(), self.before)
        self.assertEqual(load_config(self.path).serial_no, 42)
        self.assertEqual(sorted(p.name for p in self.dir.iterdir()), ["config.data"])

    def test_crash_before_rename(self) -> None:
        cfg = sample_config()
        cfg.serial_no = 43
        self.assertRaises(Boom, self._store(replace=_fail).save, cfg)
        self._assert_intact()

    def test_crash_at_fsync(self) -> None:
        cfg = sample_config()
        cfg.serial_no = 43
        self.assertRaises(Boom, self._store(fsync=_fail).save, cfg)
        self._assert_intact()

    def test_short_writes(self) -> None:
        """writev may write less than asked; everything still ends up in the file."""

        def trickle(fd: int, bufs: Any) -> int:
            return os.write(fd, bytes(bufs[0][:7]))

        cfg = sample_config()
        self._store(writev=trickle).save(cfg)
        self.assertEqual(self.path.read_bytes(), self.before)

    def test_invalid_config_never_written(self) -> None:
        cfg = sample_config()
        cfg.cluster.master_node = "nobody"
        self.assertRaises(errors.ConfigVerifyError, ConfigStore(self.path).save, cfg)
        self._assert_intact()


class WriterTestBase(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        self.path = self.dir / "config.data"
        ConfigStore(self.path).save(sample_config())
        self.clock = Clock()
        self.clock.advance(1800000000)
        self.store = ConfigStore(self.path)
        self.writer = ConfigWriter.load(self.store, self.clock)
        self.commits: list[Commit] = []
        self.writer.add_commit_listener(self.commits.append)

    def commit(self) -> int:
        d = self.writer.flush()
        self.clock.advance(0)
        serial: int = self.successResultOf(d)
        return serial

    def on_disk(self) -> Any:
        return json.loads(self.path.read_bytes())

    def new_instance(self, name: str, mac: str, node: str = U(102)) -> tuple[Instance, Disk]:
        disk = Disk(
            dev_type="plain",
            logical_id=["xenvg", f"{name}.disk0"],
            nodes=[node],
            size=1024,
            iv_name="disk/0",
        )
        inst = Instance(
            name=name, primary_node=node, os="debootstrap", hypervisor="kvm", nics=[NIC(mac=mac)]
        )
        return inst, disk


class GroupCommitTests(WriterTestBase):
    def test_interface(self) -> None:
        self.assertTrue(verifyObject(IConfigWriter, self.writer))

    def test_one_tick_one_write(self) -> None:
        for n in range(5):
            inst, disk = self.new_instance(f"vm{n}", f"aa:00:02:00:01:0{n}")
            self.writer.add_instance(inst, [disk])
        self.writer.add_tags("cluster", None, ["batch"])
        d1 = self.writer.flush()
        d2 = self.writer.flush()
        self.assertNoResult(d1)
        self.assertEqual(self.store.writes, 0)
        self.clock.advance(0)
        self.assertEqual(self.store.writes, 1)
        self.assertEqual(self.successResultOf(d1), self.writer.serial_no)
        self.assertEqual(self.successResultOf(d2), self.writer.serial_no)
        self.assertEqual(len(self.on_disk()["instances"]), 8)
        self.assertEqual(len(self.commits), 1)

    def test_two_ticks_two_writes(self) -> None:
        self.writer.add_tags("cluster", None, ["one"])
        self.clock.advance(0)
        self.writer.add_tags("cluster", None, ["two"])
        self.clock.advance(0)
        self.assertEqual(self.store.writes, 2)
        self.assertEqual(
            self.on_disk()["cluster"]["tags"], ["one", "production", "site:ams", "two"]
        )

    def test_flush_during_a_write_of_its_changes(self) -> None:
        """A change committed by a write still in progress: flush waits for that write.

        (Regression: such a flush used to wait for a next commit that never came.)
        """
        pending: list[Any] = []

        def run_later(fn: Any) -> Any:
            d: Any = Deferred()
            pending.append((fn, d))
            return d

        writer = ConfigWriter.load(ConfigStore(self.path), self.clock, run_later)
        writer.add_tags("cluster", None, ["x"])
        self.clock.advance(0)  # the commit starts; the write runs "in a thread"
        self.assertEqual(len(pending), 1)
        d = writer.flush()
        self.assertNoResult(d)
        fn, wd = pending.pop()
        wd.callback(fn())
        self.assertEqual(self.successResultOf(d), writer.serial_no)
        self.assertIn("x", self.on_disk()["cluster"]["tags"])

    def test_flush_when_clean(self) -> None:
        self.assertEqual(self.successResultOf(self.writer.flush()), 42)
        self.assertEqual(self.store.writes, 0)

    def test_commit_listener_gets_file(self) -> None:
        self.writer.add_tags("node", "node2.example.com", ["x"])
        serial = self.commit()
        [commit] = self.commits
        self.assertEqual(commit.serial_no, serial)
        self.assertEqual(commit.data, self.path.read_bytes())

    def test_failing_listener_does_not_break_commit(self) -> None:
        self.writer.add_commit_listener(_fail)
        self.writer.add_tags("cluster", None, ["x"])
        self.commit()
        self.assertEqual(len(self.flushLoggedErrors(Boom)), 1)

    def test_write_failure_keeps_old_file_and_retries(self) -> None:
        before = self.path.read_bytes()
        self.store.ops = FileOps(replace=_fail)
        self.writer.add_tags("cluster", None, ["x"])
        d = self.writer.flush()
        self.clock.advance(0)
        self.failureResultOf(d, Boom)
        self.flushLoggedErrors(Boom)
        self.assertEqual(self.path.read_bytes(), before)
        self.assertEqual(self.writer.durable_serial_no, 42)
        self.store.ops = FileOps()
        serial = self.commit()
        self.assertEqual(self.on_disk()["serial_no"], serial)
        self.assertIn("x", self.on_disk()["cluster"]["tags"])

    def test_out_of_band_corruption_never_written(self) -> None:
        """A live object changed behind the writer's back is caught at commit time."""
        before = self.path.read_bytes()
        inst = self.writer.lookup_instance("db1.example.com")
        inst.primary_node = "nowhere"  # forbidden: bypasses the API
        self.writer.add_tags("instance", inst.uuid, ["x"])
        d = self.writer.flush()
        self.clock.advance(0)
        err = self.failureResultOf(d, errors.ConfigVerifyError).value
        self.assertIn("db1.example.com", str(err))
        self.assertEqual(self.path.read_bytes(), before)

    def test_changes_during_slow_write_go_to_next_commit(self) -> None:
        pending: list[tuple[Callable[[], None], Deferred[None]]] = []

        def later(fn: Callable[[], None]) -> Deferred[None]:
            d: Deferred[None] = Deferred()
            pending.append((fn, d))
            return d

        writer = ConfigWriter.load(self.store, self.clock, run_blocking=later)
        writer.add_tags("cluster", None, ["a"])
        first = writer.flush()
        self.clock.advance(0)
        writer.add_tags("cluster", None, ["b"])
        second = writer.flush()
        self.clock.advance(0)
        self.assertEqual(len(pending), 1)  # no second write while one is in flight
        fn, d = pending.pop(0)
        fn()
        d.callback(None)
        self.assertEqual(self.successResultOf(first), 43)
        self.assertNoResult(second)
        while pending:  # release of the previous file, then the second write
            fn, d = pending.pop(0)
            fn()
            d.callback(None)
            self.clock.advance(0)
        self.assertEqual(self.successResultOf(second), 44)
        self.assertEqual(self.store.writes, 2)
        self.assertIn("b", self.on_disk()["cluster"]["tags"])

    def test_file_matches_memory_after_many_changes(self) -> None:
        w = self.writer
        for n in range(300):
            inst, disk = self.new_instance(f"vm{n}", f"aa:00:02:00:{n // 256:02x}:{n % 256:02x}")
            w.add_instance(inst, [disk])
        self.commit()
        for n in range(0, 300, 3):
            w.remove_instance(w.lookup_instance(f"vm{n}").uuid)
        for n in range(1, 300, 3):
            inst = w.lookup_instance(f"vm{n}").copy()
            inst.admin_state = "up"
            w.update(inst)
        self.commit()
        self.assertEqual(self.on_disk(), json.loads(json.dumps(w.config.to_dict())))
        fresh = ConfigSerializer().render_bytes(w.config)
        self.assertEqual(json.loads(fresh), self.on_disk())
        self.assertEqual(load_config(self.path).serial_no, w.serial_no)


class SerialTests(WriterTestBase):
    def test_instance_update(self) -> None:
        w = self.writer
        inst = w.lookup_instance("db1.example.com").copy()
        inst.beparams["vcpus"] = 3
        self.clock.advance(5)
        w.update(inst)
        stored = w.get_instance(inst.uuid)
        self.assertIs(stored, inst)
        self.assertEqual((stored.serial_no, stored.mtime), (2, self.clock.seconds()))
        self.assertEqual(w.serial_no, 43)
        self.assertEqual(w.get_cluster().serial_no, 17)  # not cluster-relevant
        self.commit()
        disk = self.on_disk()
        self.assertEqual(disk["serial_no"], 43)
        self.assertEqual(disk["instances"][inst.uuid]["serial_no"], 2)

    def test_rename_is_cluster_relevant(self) -> None:
        inst = self.writer.lookup_instance("db1.example.com").copy()
        inst.name = "db2.example.com"
        self.writer.update(inst)
        self.assertEqual(self.writer.get_cluster().serial_no, 18)
        self.assertEqual(self.writer.lookup_instance("db2.example.com").uuid, U(402))
        self.assertRaises(errors.OpPrereqError, self.writer.lookup_instance, "db1.example.com")

    def test_add_node_and_node_update(self) -> None:
        w = self.writer
        node = Node(name="node4.example.com", primary_ip="192.0.2.4", group=U(10))
        w.add_node(node)
        self.assertEqual((node.serial_no, node.ctime), (1, self.clock.seconds()))
        self.assertEqual((w.serial_no, w.get_cluster().serial_no), (43, 18))
        copy = node.copy()
        copy.drained = True
        w.update(copy)
        self.assertEqual(w.get_node(node.uuid).serial_no, 2)
        self.assertEqual((w.serial_no, w.get_cluster().serial_no), (44, 19))

    def test_tags(self) -> None:
        w = self.writer
        w.add_tags("instance", "web1.example.com", ["b", "a"])
        self.assertEqual(w.get_instance(U(401)).tags, {"web", "a", "b"})
        self.assertEqual(w.get_instance(U(401)).serial_no, 6)
        w.remove_tags("instance", U(401), ["web"])
        self.assertEqual(w.get_instance(U(401)).tags, {"a", "b"})
        self.assertRaises(errors.OpPrereqError, w.remove_tags, "instance", U(401), ["zzz"])
        self.assertRaises(errors.OpPrereqError, w.add_tags, "instance", U(401), ["bad tag"])
        self.assertRaises(errors.OpPrereqError, w.add_tags, "disk", U(301), ["x"])
        w.add_tags("cluster", None, ["c"])
        self.assertEqual(w.get_cluster().serial_no, 18)


class WriterApiTests(WriterTestBase):
    def test_lookups(self) -> None:
        w = self.writer
        self.assertEqual(w.lookup_node("node2.example.com").uuid, U(102))
        self.assertEqual(w.lookup_node(U(102)).name, "node2.example.com")
        self.assertEqual(w.lookup_group("rack2").uuid, U(11))
        self.assertEqual(w.lookup_network("public").uuid, U(201))
        self.assertEqual(w.get_master_node().name, "node1.example.com")
        self.assertEqual([d.uuid for d in w.get_instance_disks(U(402))], [U(302), U(303)])
        primary, secondary = w.get_node_instances(U(102))
        self.assertEqual(sorted(i.name for i in primary), ["db1.example.com", "test1.example.com"])
        self.assertEqual([i.name for i in secondary], ["web1.example.com"])
        err = self.assertRaises(errors.OpPrereqError, w.lookup_node, "nope")
        self.assertEqual(err.ecode, errors.ECODE_NOENT)
        self.assertIn("'nope'", str(err))

    def test_duplicates_rejected(self) -> None:
        w = self.writer
        dup = Node(name="node2.example.com", primary_ip="192.0.2.77", group=U(10))
        self.assertEqual(
            self.assertRaises(errors.OpPrereqError, w.add_node, dup).ecode, errors.ECODE_EXISTS
        )
        same_ip = Node(name="node9", primary_ip="192.0.2.2", group=U(10))
        self.assertRaises(errors.OpPrereqError, w.add_node, same_ip)
        same_uuid = Node(uuid=U(401), name="node9", primary_ip="192.0.2.9", group=U(10))
        self.assertRaises(errors.OpPrereqError, w.add_node, same_uuid)
        inst, disk = self.new_instance("db1.example.com", "aa:00:00:99:99:99")
        self.assertRaises(errors.OpPrereqError, w.add_instance, inst, [disk])
        inst, disk = self.new_instance("vm", "aa:00:00:12:34:56")  # MAC of web1
        err = self.assertRaises(errors.OpPrereqError, w.add_instance, inst, [disk])
        self.assertIn("aa:00:00:12:34:56", str(err))
        self.assertRaises(errors.OpPrereqError, w.add_group, NodeGroup(name="rack2"))
        self.assertEqual(w.serial_no, 42)
        self.assertEqual(len(w.config.disks), 3)

    def test_unknown_references_rejected(self) -> None:
        w = self.writer
        err = self.assertRaises(
            errors.OpPrereqError, w.add_node, Node(name="n", primary_ip="192.0.2.9", group="g?")
        )
        self.assertIn("node group 'g?' does not exist", str(err))
        inst, disk = self.new_instance("vm", "aa:00:00:99:99:99", node="ghost")
        self.assertRaises(errors.OpPrereqError, w.add_instance, inst, [disk])
        self.assertEqual(len(w.config.disks), 3)
        self.assertNotIn(inst.uuid, w.config.instances)

    def test_update_needs_current_copy(self) -> None:
        w = self.writer
        live = w.lookup_instance("db1.example.com")
        self.assertRaises(errors.ProgrammerError, w.update, live)
        a, b = live.copy(), live.copy()
        w.update(a)
        err = self.assertRaises(errors.OpPrereqError, w.update, b)
        self.assertIn("modified by someone else", str(err))

    def test_invalid_update_leaves_state(self) -> None:
        w = self.writer
        node = w.lookup_node("node2.example.com").copy()
        node.offline = True  # also master_candidate: invalid
        self.assertRaises(errors.OpPrereqError, w.update, node)
        self.assertFalse(w.lookup_node("node2.example.com").offline)
        master = w.get_master_node().copy()
        master.master_candidate = False
        master.offline = True
        err = self.assertRaises(errors.OpPrereqError, w.update, master)
        self.assertIn("offline or drained", str(err))
        self.assertEqual(w.serial_no, 42)

    def test_remove_instance_removes_disks(self) -> None:
        w = self.writer
        w.remove_instance(U(402))
        self.assertNotIn(U(302), w.config.disks)
        self.commit()
        disk = self.on_disk()
        self.assertNotIn(U(402), disk["instances"])
        self.assertNotIn(U(303), disk["disks"])
        # Its MAC is free again.
        inst, d = self.new_instance("again", "aa:00:00:ab:cd:ef")
        w.add_instance(inst, [d])

    def test_instance_disks(self) -> None:
        w = self.writer
        disk = Disk(dev_type="plain", logical_id=["xenvg", "x"], nodes=[U(102)], size=1)
        w.add_instance_disk(U(402), disk, index=0)
        self.assertEqual(w.get_instance(U(402)).disks[0], disk.uuid)
        w.remove_instance_disk(U(402), U(303))
        self.assertEqual(w.get_instance(U(402)).disks, [disk.uuid, U(302)])
        bad = Disk(dev_type="drbd", nodes=[U(102)], size=1)
        self.assertRaises(errors.OpPrereqError, w.add_instance_disk, U(402), bad)
        self.commit()
        self.assertEqual(self.on_disk()["instances"][U(402)]["disks"], [disk.uuid, U(302)])

    def test_remove_node(self) -> None:
        w = self.writer
        self.assertRaises(errors.OpPrereqError, w.remove_node, U(101))  # master
        err = self.assertRaises(errors.OpPrereqError, w.remove_node, U(102))
        self.assertIn("web1.example.com", str(err))
        w.remove_node(U(110))
        self.assertRaises(errors.OpPrereqError, w.lookup_node, "node10.example.com")

    def test_groups_and_networks(self) -> None:
        w = self.writer
        self.assertRaises(errors.OpPrereqError, w.remove_group, U(11))  # has nodes
        self.assertRaises(errors.OpPrereqError, w.remove_network, U(201))  # connected
        group = NodeGroup(name="empty")
        w.add_group(group)
        w.remove_group(group.uuid)
        renamed = w.lookup_group("rack2").copy()
        renamed.name = "rack-two"
        w.update(renamed)
        self.assertEqual(w.lookup_group("rack-two").serial_no, 2)

    def test_set_master_node(self) -> None:
        w = self.writer
        self.assertRaises(errors.OpPrereqError, w.set_master_node, U(103))  # offline
        w.set_master_node(U(102))
        self.assertEqual(w.get_master_node().uuid, U(102))
        self.commit()
        self.assertEqual(self.on_disk()["cluster"]["master_node"], U(102))

    def test_drbd_ports(self) -> None:
        w = self.writer
        first = w.allocate_drbd_port()
        self.assertEqual(first, constants.FIRST_DRBD_PORT)
        self.assertEqual(w.allocate_drbd_port(), first + 1)
        w.config.cluster.tcpudp_port_pool.append(12345)
        self.assertEqual(w.allocate_drbd_port(), 12345)

    def test_cluster_update(self) -> None:
        w = self.writer
        cluster = w.get_cluster().copy()
        cluster.candidate_pool_size = 0
        self.assertRaises(errors.OpPrereqError, w.update, cluster)
        cluster.candidate_pool_size = 3
        w.update(cluster)
        self.assertEqual(w.get_cluster().serial_no, 18)
        self.commit()
        self.assertEqual(self.on_disk()["cluster"]["candidate_pool_size"], 3)


class BootstrapTests(SynchronousTestCase):
    def test_fresh_config(self) -> None:
        cfg = bootstrap_config(
            cluster_name="c.example.com",
            master_name="n1.example.com",
            master_ip="192.0.2.100",
            node_ip="192.0.2.1",
            now=1000.0,
            enabled_hypervisors=["fake"],
        )
        self.assertEqual(cfg.verify(), [])
        master = cfg.nodes[cfg.cluster.master_node]
        self.assertTrue(master.master_candidate)
        self.assertEqual(cfg.nodegroups[master.group].name, "default")
        self.assertEqual(cfg.cluster.hvparams, {"fake": {"migration_mode": "live"}})
        self.assertEqual(cfg.cluster.primary_ip_family, constants.IP4_FAMILY)
        path = Path(self.mktemp())
        ConfigStore(path).save(cfg)
        self.assertEqual(load_config(path).cluster.cluster_name, "c.example.com")

    def test_bad_parameters(self) -> None:
        self.assertRaises(
            errors.OpPrereqError,
            bootstrap_config,
            cluster_name="c",
            master_name="n",
            master_ip="x",
            node_ip="192.0.2.1",
            now=0.0,
        )
        self.assertRaises(
            errors.OpPrereqError,
            bootstrap_config,
            cluster_name="c",
            master_name="n",
            master_ip="192.0.2.2",
            node_ip="192.0.2.1",
            now=0.0,
            enabled_hypervisors=["vmware"],
        )
