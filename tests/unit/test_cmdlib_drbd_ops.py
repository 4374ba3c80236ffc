"""DRBD instances on the master: create, remove, start/stop, grow, failover, migrate
(abort, cleanup) and replace-disks (-p, -s, -n, -I, -a), through the real processor, locks
and config writer, against a node simulation that keeps DRBD resources per node.

The simulation decodes every DRBD disk dict with the node driver's own ``side_of``, so a
call with a disk dict annotated for the wrong node fails like it would on a real node.
What it does not model: the data path, real resync timing, split brain."""

from __future__ import annotations

from typing import Any

import attrs
from twisted.internet.defer import Deferred

from ganeti import constants as C
from ganeti.cmdlib import instance_drbd
from ganeti.storage import drbd as D
from ganeti.storage.interface import BlockDevice
from tests.unit.test_cmdlib_instance import FakeNode
from tests.unit.test_cmdlib_migration import MigrationCase, MigrationSim

SYNC_STEPS = 3


@attrs.define
class Res:
    """One DRBD resource (``ganeti-<port>``) up on one node."""

    minor: int
    node_id: int
    peer: str
    lvs: list[str]
    role: str = "Secondary"
    conn: str = "Connected"
    disk: str = "UpToDate"
    two_primaries: bool = False


def _side(disk: dict[str, Any]) -> D.Side:
    try:
        return D.side_of(BlockDevice.from_dict(disk))
    except Exception as exc:  # the node driver's refusal, as an RPC failure
        raise ValueError(str(exc)) from None


def _lv(disk: dict[str, Any]) -> str:
    return str(disk["logical_id"][1])


class DrbdSim(MigrationSim):
    """MigrationSim plus DRBD resources; LVs live in ``node.disks`` by LV name."""

    res: dict[str, dict[int, Res]]
    resync: dict[int, int]
    args: list[tuple[str, str, list[Any]]]
    new_disk_state: str

    def setup(self) -> None:
        self.res = {}
        self.resync = {}
        self.args = []
        self.new_disk_state = "Inconsistent"

    def _one(self, name: str, proc: str, args: list[Any]) -> Any:
        self.args.append((name, proc, args))
        return super()._one(name, proc, args)

    def on(self, node: str) -> dict[int, Res]:
        return self.res.setdefault(node, {})

    def _peer_res(self, node: FakeNode, port: int) -> Res | None:
        for name, table in self.res.items():
            if name != node.name and port in table:
                return table[port]
        return None

    # -- block devices --

    def p_blockdev_create(self, node: FakeNode, disk: Any, size: int, *rest: Any) -> str:
        if disk["dev_type"] != C.DT_DRBD8:
            key = _lv(disk)
            if key in node.disks:
                raise ValueError(f"LV {key} exists")
            return super().p_blockdev_create(node, disk, size, *rest)
        side = _side(disk)
        on_primary = rest[1]
        port = side.lid.port
        if port in self.on(node.name):
            raise ValueError(f"drbd resource ganeti-{port} already exists")
        lvs = [_lv(c) for c in disk["children"]]
        for lv, child in zip(lvs, disk["children"], strict=True):
            if lv in node.disks:
                raise ValueError(f"LV {lv} exists")
            node.disks[lv] = child["size"]
        standalone = bool(disk["params"].get(D.P_STANDALONE))
        self.on(node.name)[port] = Res(
            minor=side.minor,
            node_id=side.node_id,
            peer=side.remote_name,
            lvs=lvs,
            role="Primary" if on_primary else "Secondary",
            conn="StandAlone" if standalone else "Connected",
            disk="UpToDate" if on_primary else self.new_disk_state,
        )
        if not on_primary:
            self.resync[port] = SYNC_STEPS
        return side.dev_path

    def p_blockdev_remove(self, node: FakeNode, disk: Any) -> None:
        if disk["dev_type"] == C.DT_DRBD8:
            side = _side(disk)
            self.on(node.name).pop(side.lid.port, None)
            for child in disk["children"]:
                node.disks.pop(_lv(child), None)
            return
        node.disks.pop(_lv(disk), None) if disk["dev_type"] == C.DT_PLAIN else None
        if disk["dev_type"] != C.DT_PLAIN:
            super().p_blockdev_remove(node, disk)

    def p_blockdev_assemble(self, node: FakeNode, disk: Any, inst: Any, *rest: Any) -> Any:
        if disk["dev_type"] != C.DT_DRBD8:
            return super().p_blockdev_assemble(node, disk, inst, *rest)
        side = _side(disk)
        on_primary = rest[0]
        port = side.lid.port
        res = self.on(node.name).get(port)
        if res is None:
            lvs = [_lv(c) for c in disk["children"]]
            if any(lv not in node.disks for lv in lvs):
                raise ValueError(f"backing LVs of ganeti-{port} missing")
            res = Res(minor=side.minor, node_id=side.node_id, peer=side.remote_name, lvs=lvs)
            self.on(node.name)[port] = res
        if on_primary:
            peer = self._peer_res(node, port)
            if (
                peer is not None
                and peer.role == "Primary"
                and peer.conn == "Connected"
                and not (peer.two_primaries and res.two_primaries)
            ):
                raise ValueError("the peer is Primary and two primaries are not allowed")
            res.role = "Primary"
        return [side.dev_path, "link", None]

    def p_blockdev_shutdown(self, node: FakeNode, disk: Any) -> None:
        if disk["dev_type"] == C.DT_DRBD8:
            self.on(node.name).pop(_side(disk).lid.port, None)

    def _status(self, node: FakeNode, disk: Any) -> Any:
        side = _side(disk)
        res = self.on(node.name).get(side.lid.port)
        if res is None:
            return None
        syncing = self.resync.get(side.lid.port, 0) > 0 and res.conn == "Connected"
        ldisk = {"UpToDate": "ok", "Diskless": "faulty"}.get(res.disk, "unknown")
        return {
            "dev_path": side.dev_path,
            "minor": res.minor,
            "sync_percent": 50.0 if syncing else None,
            "is_degraded": res.conn != "Connected" or res.disk != "UpToDate",
            "ldisk_status": ldisk,
        }

    def p_blockdev_find(self, node: FakeNode, disk: Any) -> Any:
        if disk["dev_type"] != C.DT_DRBD8:
            return super().p_blockdev_find(node, disk)
        return self._status(node, disk)

    def p_blockdev_getmirrorstatus(self, node: FakeNode, disks: Any) -> Any:
        out = []
        for disk in disks:
            status = self._status(node, disk)
            if status is None:
                raise ValueError("disk not found")
            out.append(status)
        return out

    def p_blockdev_grow(
        self, node: FakeNode, disk: Any, amount: int, dry: bool, backing: bool, es: Any
    ) -> None:
        if disk["dev_type"] != C.DT_DRBD8:
            return super().p_blockdev_grow(node, disk, amount, dry, backing, es)
        side = _side(disk)
        res = self.on(node.name).get(side.lid.port)
        if backing:
            if not dry:
                node.disks[_lv(disk["children"][0])] += amount
            return None
        if res is None or res.conn != "Connected":
            raise ValueError("drbd resize needs the connected resource")
        self.resync[side.lid.port] = SYNC_STEPS
        return None

    def p_blockdev_rename(self, node: FakeNode, pairs: Any) -> None:
        for disk, new_id in pairs:
            old = _lv(disk)
            if old not in node.disks or new_id[1] in node.disks:
                raise ValueError(f"cannot rename {old} to {new_id[1]}")
            node.disks[new_id[1]] = node.disks.pop(old)

    def p_blockdev_removechildren(self, node: FakeNode, disk: Any, children: Any) -> None:
        side = _side(disk)
        res = self.on(node.name)[side.lid.port]
        if [_lv(c) for c in children] != res.lvs:
            raise ValueError("not the device's children")
        res.disk = "Diskless"

    def p_blockdev_addchildren(self, node: FakeNode, disk: Any, children: Any) -> None:
        side = _side(disk)
        res = self.on(node.name)[side.lid.port]
        if res.disk != "Diskless":
            raise ValueError("still has a local disk")
        lvs = [_lv(c) for c in children]
        if any(lv not in node.disks for lv in lvs):
            raise ValueError("new LVs missing")
        res.lvs = lvs
        res.disk = "Inconsistent"
        self.resync[side.lid.port] = SYNC_STEPS

    def p_blockdev_close(self, node: FakeNode, name: str, disks: Any) -> None:
        for disk in disks:
            self.on(node.name)[_side(disk).lid.port].role = "Secondary"

    # -- network --

    def p_drbd_disconnect_net(self, node: FakeNode, disks: Any) -> None:
        for disk in disks:
            res = self.on(node.name).get(_side(disk).lid.port)
            if res is not None:
                res.conn = "StandAlone"

    def p_drbd_attach_net(self, node: FakeNode, disks: Any, multimaster: bool) -> None:
        for disk in disks:
            side = _side(disk)
            res = self.on(node.name).get(side.lid.port)
            if res is None:
                raise ValueError(f"ganeti-{side.lid.port} is not up")
            if res.peer != side.remote_name:
                self.resync[side.lid.port] = SYNC_STEPS
            res.peer = side.remote_name
            res.conn = "Connected"
            res.two_primaries = bool(multimaster)

    def p_drbd_wait_sync(self, node: FakeNode, disks: Any) -> list[Any]:
        done = True
        for disk in disks:
            port = _side(disk).lid.port
            res = self.on(node.name).get(port)
            if res is None:
                raise ValueError(f"ganeti-{port} is not active")
            left = self.resync.get(port, 0)
            if left > 0 and res.conn == "Connected":
                self.resync[port] = left - 1
                done = False
                if left == 1:
                    for table in self.res.values():
                        if port in table and table[port].disk == "Inconsistent":
                            table[port].disk = "UpToDate"
        return [done, 100.0 if done else 50.0]

    def p_instance_os_add(self, node: FakeNode, inst: Any, reinstall: bool, debug: int) -> None:
        for disk in inst["disks_info"]:
            if disk["dev_type"] != C.DT_DRBD8:
                continue
            res = self.on(node.name).get(_side(disk).lid.port)
            if res is None or res.role != "Primary":
                raise ValueError("disk not assembled as primary")


class DrbdCase(MigrationCase):
    sim: DrbdSim

    def setUp(self) -> None:
        super().setUp()
        sim = DrbdSim(self.m.clock)
        sim.setup()
        sim.nodes = self.sim.nodes
        sim.shared = self.sim.shared
        self.sim = sim
        self.m.rpc = sim  # type: ignore[assignment]
        self.m.processor.rpc = sim
        cluster = self.m.config.get_cluster()
        cluster.enabled_disk_templates = [*cluster.enabled_disk_templates, C.DT_DRBD8]
        cluster.volume_group_name = "xenvg"
        self.n1 = self.m.config.lookup_node("node1.test")
        self.node1 = self.sim.node("node1.test")

    def pump(self, d: Deferred[Any], limit: int = 200) -> None:
        for _ in range(limit):
            if d.called:
                return
            self.m.clock.advance(instance_drbd.SYNC_POLL)

    def ok(self, data: dict[str, Any]) -> Any:
        d = self.m.execute(data)
        self.pump(d)
        return self.successResultOf(d)

    def bad(self, data: dict[str, Any], code: str | None = None) -> Exception:
        d = self.m.execute(data)
        self.pump(d)
        exc = self.failureResultOf(d).value
        if code is not None:
            from ganeti.mcpu import encode_error

            self.assertEqual(encode_error(exc)[1][1], code, str(exc))
        return exc

    def make_drbd(self, name: str = "web1", **kw: Any) -> None:
        op = self.create(name, disk_template=C.DT_DRBD8, pnode="node2.test", snode="node3.test")
        op.update(kw)
        self.ok(op)

    def disks(self, name: str = "web1") -> Any:
        return self.m.config.get_instance_disks(self.inst(name).uuid)

    def seq(self, procs: set[str] | None = None) -> list[tuple[str, str]]:
        skip = {"node_info", "instance_info", "version"}
        return [
            (n.split(".")[0], p)
            for n, p, _a in self.sim.args
            if p not in skip and (procs is None or p in procs)
        ]

    def res(self, node: str, name: str = "web1") -> Res | None:
        port = self.disks(name)[0].logical_id[2]
        return self.sim.on(node).get(port)


class CreateDrbdTests(DrbdCase):
    def test_create_waits_for_sync_and_starts(self) -> None:
        result = self.ok(self.create(disk_template="drbd", pnode="node2.test", snode="node3.test"))
        self.assertEqual(result, ["node2.test"])
        inst = self.inst()
        [disk] = self.disks()
        port = C.FIRST_DRBD_PORT
        self.assertEqual(disk.dev_type, "drbd")
        self.assertEqual(disk.logical_id[:5], [self.n2.uuid, self.n3.uuid, port, 0, 0])
        self.assertRegex(disk.logical_id[5], r"^[0-9a-f]{40}$")
        self.assertEqual(disk.nodes, [self.n2.uuid, self.n3.uuid])
        data, meta = disk.children
        self.assertEqual((data.size, meta.size), (1024, 128))
        self.assertTrue(data.logical_id[1].endswith(".disk0_data"))
        self.assertEqual(data.logical_id[1][:-5], meta.logical_id[1][:-5])
        self.assertEqual(self.m.config.config.instance_secondary_nodes(inst), [self.n3.uuid])
        # Secondary first, then the primary (which becomes Primary); sync; OS; start.
        creates = [(n, a[3]) for n, p, a in self.sim.args if p == "blockdev_create"]
        self.assertEqual(creates, [("node3.test", False), ("node2.test", True)])
        order = [p for _n, p in self.seq()]
        first = order.index("drbd_wait_sync")
        self.assertLess(order.index("blockdev_create"), first)
        self.assertLess(first, order.index("instance_os_add"))
        self.assertLess(order.index("blockdev_getmirrorstatus"), order.index("instance_os_add"))
        self.assertIn("- disks resyncing: 50.0% done", self.m.log)
        self.assertIn("- disks are in sync", self.m.log)
        self.assertEqual(self.res("node2.test").role, "Primary")  # type: ignore[union-attr]
        self.assertEqual(self.res("node3.test").role, "Secondary")  # type: ignore[union-attr]
        self.assertEqual(self.res("node3.test").disk, "UpToDate")  # type: ignore[union-attr]
        self.assertIn("web1", self.node2.running)
        self.assertEqual(self.m.config.drbd_minors()[self.n3.uuid], {0: disk.uuid})
        self.assertEqual(self.m.config._drbd_reserved, {})
        # A second instance gets the next minors and port.
        self.make_drbd("web2")
        [d2] = self.disks("web2")
        self.assertEqual(d2.logical_id[2:5], [port + 1, 1, 1])

    def test_no_wait_for_sync_only_checks_once(self) -> None:
        self.make_drbd(wait_for_sync=False, start=False)
        procs = [p for _n, p in self.seq()]
        self.assertNotIn("drbd_wait_sync", procs)
        self.assertEqual(procs.count("blockdev_getmirrorstatus"), 2)  # one look per node
        # Not started: the mirror is down again on both nodes.
        self.assertEqual(self.sim.on("node2.test"), {})
        self.assertEqual(self.sim.on("node3.test"), {})
        self.assertEqual(self.inst().admin_state, "down")

    def test_allocator_picks_two_nodes_of_one_group(self) -> None:
        self.node1.memory_free = 100
        op = self.create(disk_template="drbd")
        del op["pnode"]
        self.assertEqual(self.ok(op), ["node2.test"])
        inst = self.inst()
        self.assertEqual(self.m.config.config.instance_secondary_nodes(inst), [self.n3.uuid])
        self.assertIn("node2.test, node3.test", "\n".join(self.m.log))

    def test_secondary_checks(self) -> None:
        other = self.m.add_group("other")
        self.m.add_node("node4.test", "192.0.2.14", group=other)
        node = self.n3.copy()
        node.offline = True
        cases: list[tuple[dict[str, Any], str, str]] = [
            (self.create(disk_template="drbd"), "wrong_input", "needs a secondary node"),
            (
                self.create(disk_template="drbd", snode="node2.test"),
                "wrong_input",
                "must differ",
            ),
            (
                self.create(disk_template="drbd", snode="node4.test"),
                "wrong_input",
                "same group",
            ),
            (
                self.create(disk_template="plain", snode="node3.test"),
                "wrong_input",
                "makes no sense",
            ),
        ]
        for op, code, text in cases:
            self.assertIn(text, str(self.bad(op, code)))
        self.m.config.update(node)
        op = self.create(disk_template="drbd", snode="node3.test")
        self.assertIn("node3.test is offline", str(self.bad(op, "wrong_state")))
        self.assertEqual(self.m.config.get_instances(), [])
        self.assertEqual(self.sim.res, {})
        node = self.m.config.get_node(self.n3.uuid).copy()
        node.offline = False
        self.m.config.update(node)
        self.node3.disk_free = 1100  # 1024 + 128 meta does not fit
        op = self.create(disk_template="drbd", snode="node3.test")
        exc = self.bad(op, "insufficient_resources")
        self.assertIn("node3.test", str(exc))

    def test_os_failure_removes_both_sides_and_frees_port(self) -> None:
        self.node2.fail["instance_os_add"] = "create script failed"
        exc = self.bad(
            self.create(
                disk_template="drbd",
                snode="node3.test",
                disks=[{"size": 1024}, {"size": 512}],
            )
        )
        self.assertIn("create script failed", str(exc))
        self.assert_clean()
        self.assertEqual(self.sim.res.get("node2.test"), {})
        self.assertEqual(self.sim.res.get("node3.test"), {})
        cluster = self.m.config.get_cluster()
        self.assertEqual(sorted(cluster.tcpudp_port_pool), [11000, 11001])
        self.assertEqual(self.m.config.drbd_minors(), {})

    def test_primary_create_failure_rolls_back_secondary(self) -> None:
        self.node2.fail["blockdev_create"] = "lvcreate: no space"
        self.bad(self.create(disk_template="drbd", snode="node3.test"))
        self.assertEqual(self.node3.disks, {})
        self.assertEqual(self.sim.res.get("node3.test"), {})
        self.assertEqual(self.m.config.get_cluster().tcpudp_port_pool, [11000])
        self.assertEqual(self.m.config.drbd_minors(), {})
        # The freed port and minors are used by the next instance.
        del self.node2.fail["blockdev_create"]
        self.make_drbd()
        self.assertEqual(self.disks()[0].logical_id[2:5], [11000, 0, 0])

    def test_degraded_after_sync_aborts(self) -> None:
        self.sim.new_disk_state = "Diskless"
        exc = self.bad(self.create(disk_template="drbd", snode="node3.test"))
        self.assertIn("degraded disks", str(exc))
        self.assertIn("WARNING: degraded disks: disk/0 on node3.test", self.m.log)
        self.assert_clean()

    def test_stuck_resync_is_reported(self) -> None:
        self.sim.resync[C.FIRST_DRBD_PORT] = 10**6

        original = self.sim.p_blockdev_create

        def keep_syncing(node: FakeNode, disk: Any, size: int, *rest: Any) -> str:
            out = original(node, disk, size, *rest)
            if disk["dev_type"] == C.DT_DRBD8:
                self.sim.resync[disk["logical_id"][2]] = 10**6
            return out

        self.sim.p_blockdev_create = keep_syncing  # type: ignore[method-assign]
        d = self.m.execute(self.create(disk_template="drbd", snode="node3.test"))
        self.pump(d, limit=2000)
        exc = self.failureResultOf(d).value
        self.assertIn("resync stuck at 50.0%", str(exc))
        self.assert_clean()


class LifecycleTests(DrbdCase):
    def test_stop_start_remove(self) -> None:
        self.make_drbd()
        port = self.disks()[0].logical_id[2]
        self.sim.args.clear()
        self.ok(self.op("OP_INSTANCE_SHUTDOWN"))
        self.assertEqual(self.sim.on("node2.test"), {})
        self.assertEqual(self.sim.on("node3.test"), {})
        self.sim.args.clear()
        self.ok(self.op("OP_INSTANCE_STARTUP"))
        assembles = [(n, a[2]) for n, p, a in self.sim.args if p == "blockdev_assemble"]
        self.assertEqual(assembles, [("node3.test", False), ("node2.test", True)])
        self.assertEqual(self.res("node2.test").role, "Primary")  # type: ignore[union-attr]
        self.ok(self.op("OP_INSTANCE_REMOVE"))
        self.assert_clean()
        self.assertEqual(self.sim.on("node2.test"), {})
        self.assertIn(port, self.m.config.get_cluster().tcpudp_port_pool)

    def test_info_has_both_sides(self) -> None:
        self.make_drbd()
        data = self.ok({"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["web1"]})["web1"]
        self.assertEqual(data["snodes"], ["node3.test"])
        [disk] = data["disks"]
        self.assertEqual(disk["pstatus"]["ldisk_status"], "ok")
        self.assertEqual(disk["sstatus"]["minor"], 0)
        finds = [n for n, p, _a in self.sim.args[-2:] if p == "blockdev_find"]
        self.assertEqual(finds, ["node2.test", "node3.test"])
        static = self.ok({"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["web1"], "static": True})
        self.assertIsNone(static["web1"]["disks"][0]["sstatus"])

    def test_activate_deactivate(self) -> None:
        self.make_drbd(start=False)
        result = self.ok(self.op("OP_INSTANCE_ACTIVATE_DISKS", wait_for_sync=True))
        self.assertEqual(result[0][0], "node2.test")
        self.assertTrue(result[0][2].startswith("/dev/drbd"))
        self.assertEqual(self.res("node3.test").role, "Secondary")  # type: ignore[union-attr]
        self.ok(self.op("OP_INSTANCE_DEACTIVATE_DISKS"))
        self.assertEqual(self.sim.on("node3.test"), {})

    def test_grow_both_sides_then_drbd(self) -> None:
        self.make_drbd()
        [disk] = self.disks()
        data_lv = disk.children[0].logical_id[1]
        self.sim.args.clear()
        self.ok(self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=512))
        grows = [(n, a[2], a[3]) for n, p, a in self.sim.args if p == "blockdev_grow"]
        self.assertEqual(
            grows,
            [
                ("node2.test", True, True),
                ("node3.test", True, True),
                ("node2.test", False, True),
                ("node3.test", False, True),
                ("node2.test", False, False),  # drbdsetup resize on the primary
            ],
        )
        [disk] = self.disks()
        self.assertEqual(
            (disk.size, disk.children[0].size, disk.children[1].size), (1536, 1536, 128)
        )
        self.assertEqual(self.node2.disks[data_lv], 1536)
        self.assertEqual(self.node3.disks[data_lv], 1536)
        self.assertIn("drbd_wait_sync", [p for _n, p in self.seq()])

    def test_grow_stopped_instance_activates_temporarily(self) -> None:
        self.make_drbd(start=False)
        self.ok(self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=100))
        self.assertEqual(self.disks()[0].size, 1124)
        self.assertEqual(self.sim.on("node2.test"), {})
        self.assertEqual(self.sim.on("node3.test"), {})


class FailoverTests(DrbdCase):
    def test_failover_to_secondary(self) -> None:
        self.make_drbd()
        lid = list(self.disks()[0].logical_id)
        self.sim.args.clear()
        self.ok(self.failover())
        inst = self.inst()
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(self.m.config.config.instance_secondary_nodes(inst), [self.n2.uuid])
        [disk] = self.disks()
        self.assertEqual(disk.logical_id, lid)  # node-ids stay; only the role moves
        self.assertEqual(disk.nodes, [self.n2.uuid, self.n3.uuid])
        self.assertEqual(
            self.seq(
                {
                    "blockdev_find",
                    "instance_shutdown",
                    "blockdev_shutdown",
                    "blockdev_assemble",
                    "instance_start",
                }
            ),
            [
                ("node3", "blockdev_find"),
                ("node2", "instance_shutdown"),
                ("node2", "blockdev_shutdown"),
                ("node3", "blockdev_shutdown"),
                ("node2", "blockdev_assemble"),
                ("node3", "blockdev_assemble"),
                ("node3", "instance_start"),
            ],
        )
        self.assertEqual(self.res("node3.test").role, "Primary")  # type: ignore[union-attr]
        self.assertEqual(self.res("node2.test").role, "Secondary")  # type: ignore[union-attr]
        self.assertIn("web1", self.node3.running)
        self.assertNotIn("web1", self.node2.running)
        # And back.
        self.ok(self.failover(target_node="node2.test"))
        self.assertEqual(self.pnode(), "node2.test")

    def test_only_the_secondary(self) -> None:
        self.make_drbd()
        exc = self.bad(self.failover(target_node="node1.test"), "wrong_input")
        self.assertIn("only fail over to its secondary node node3.test", str(exc))
        self.assertIn("replace-disks -n node1.test", str(exc))
        exc = self.bad(self.failover(iallocator="hail"), "wrong_input")
        self.assertIn("an allocator cannot choose", str(exc))
        self.assertEqual(self.pnode(), "node2.test")

    def test_degraded_target_needs_ignore_consistency(self) -> None:
        self.make_drbd()
        self.res("node3.test").disk = "Inconsistent"  # type: ignore[union-attr]
        exc = self.bad(self.failover())
        self.assertIn("degraded on the target node node3.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertIn("web1", self.node2.running)

    def test_dead_primary(self) -> None:
        self.make_drbd()
        self.node2.fail["instance_shutdown"] = "connection refused"
        self.node2.fail["blockdev_shutdown"] = "connection refused"
        self.node2.fail["blockdev_assemble"] = "connection refused"
        for node in ("node2.test", "node3.test"):
            self.res(node).conn = "Connecting"  # type: ignore[union-attr]
        self.bad(self.failover())
        self.assertEqual(self.pnode(), "node2.test")
        self.ok(self.failover(ignore_consistency=True))
        self.assertEqual(self.pnode(), "node3.test")
        self.assertIn("web1", self.node3.running)
        self.assertTrue(
            any("WARNING: cannot assemble disk/0 on node node2.test" in m for m in self.m.log)
        )


class MigrateDrbdTests(DrbdCase):
    STEPS = {
        "blockdev_find",
        "migration_info",
        "blockdev_close",
        "drbd_disconnect_net",
        "drbd_attach_net",
        "blockdev_assemble",
        "accept_instance",
        "instance_migrate",
        "instance_finalize_migration_src",
        "instance_finalize_migration_dst",
    }

    def test_live_migration_dual_primary_dance(self) -> None:
        self.make_drbd()
        self.sim.args.clear()
        self.ok(self.migrate())
        self.assertEqual(self.pnode(), "node3.test")
        self.assertEqual(
            self.seq(self.STEPS),
            [
                ("node3", "blockdev_find"),
                ("node2", "migration_info"),
                ("node3", "blockdev_close"),
                ("node2", "drbd_disconnect_net"),
                ("node3", "drbd_disconnect_net"),
                ("node2", "drbd_attach_net"),
                ("node3", "drbd_attach_net"),
                ("node3", "blockdev_assemble"),
                ("node3", "accept_instance"),
                ("node2", "instance_migrate"),
                ("node2", "instance_finalize_migration_src"),
                ("node3", "instance_finalize_migration_dst"),
                ("node2", "blockdev_close"),
                ("node2", "drbd_disconnect_net"),
                ("node3", "drbd_disconnect_net"),
                ("node2", "drbd_attach_net"),
                ("node3", "drbd_attach_net"),
            ],
        )
        attach = [a[1] for _n, p, a in self.sim.args if p == "drbd_attach_net"]
        self.assertEqual(attach, [True, True, False, False])
        r2, r3 = self.res("node2.test"), self.res("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual((r2.role, r3.role), ("Secondary", "Primary"))
        self.assertEqual((r2.two_primaries, r3.two_primaries), (False, False))
        self.assertEqual(self.node3.running["web1"]["state"], "running")
        self.assertNotIn("web1", self.node2.running)
        self.assertEqual(self.m.config.config.instance_secondary_nodes(self.inst()), [self.n2.uuid])

    def test_abort_restores_single_primary_on_source(self) -> None:
        self.make_drbd()
        self.node3.fail["accept_instance"] = "target exploded"
        exc = self.bad(self.migrate())
        self.assertIn("still running on node2.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        r2, r3 = self.res("node2.test"), self.res("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual((r2.role, r3.role), ("Primary", "Secondary"))
        self.assertEqual((r2.two_primaries, r3.two_primaries), (False, False))
        self.assertEqual((r2.conn, r3.conn), ("Connected", "Connected"))
        self.assertIn("web1", self.node2.running)
        attach = [a[1] for _n, p, a in self.sim.args if p == "drbd_attach_net"]
        self.assertEqual(attach[-2:], [False, False])

    def test_migration_failed_by_hypervisor(self) -> None:
        self.make_drbd()
        self.sim.status = {"status": "failed", "info": "guest crashed"}
        exc = self.bad(self.migrate())
        self.assertIn("guest crashed", str(exc))
        self.assertEqual(self.res("node3.test").role, "Secondary")  # type: ignore[union-attr]
        self.assertEqual(self.pnode(), "node2.test")

    def test_degraded_target_refused(self) -> None:
        self.make_drbd()
        self.res("node3.test").conn = "StandAlone"  # type: ignore[union-attr]
        exc = self.bad(self.migrate())
        self.assertIn("not fully synchronised on the target node node3.test", str(exc))
        procs = [p for _n, p in self.seq()]
        self.assertNotIn("migration_info", procs)

    def test_cleanup_after_crash_on_target(self) -> None:
        self.make_drbd()
        # The migration went through but the master died before the configuration
        # changed: the instance runs on node3, both sides Primary, dual-primary mode.
        self.node3.running["web1"] = self.node2.running.pop("web1")
        for node in ("node2.test", "node3.test"):
            res = self.res(node)
            assert res is not None
            res.role, res.two_primaries = "Primary", True
        self.ok(self.migrate(cleanup=True))
        self.assertEqual(self.pnode(), "node3.test")
        r2, r3 = self.res("node2.test"), self.res("node3.test")
        assert r2 is not None and r3 is not None
        self.assertEqual((r2.role, r3.role), ("Secondary", "Primary"))
        self.assertEqual((r2.two_primaries, r3.two_primaries), (False, False))

    def test_cleanup_when_still_on_source(self) -> None:
        self.make_drbd()
        self.res("node3.test").role = "Primary"  # type: ignore[union-attr]
        self.ok(self.migrate(cleanup=True))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertEqual(self.res("node3.test").role, "Secondary")  # type: ignore[union-attr]

    def test_stopped_falls_back_to_failover(self) -> None:
        self.make_drbd(start=False)
        self.ok(self.migrate(allow_failover=True))
        self.assertEqual(self.pnode(), "node3.test")


class ReplaceDisksTests(DrbdCase):
    def replace(self, mode: str, name: str = "web1", **kw: Any) -> dict[str, Any]:
        return self.op("OP_INSTANCE_REPLACE_DISKS", name, mode=mode, **kw)

    def test_replace_on_secondary(self) -> None:
        self.make_drbd()
        before = [d.to_dict() for d in self.disks()]
        [disk] = self.disks()
        names = [c.logical_id[1] for c in disk.children]
        self.sim.args.clear()
        self.m.clock.advance(1000)
        self.ok(self.replace(C.REPLACE_DISK_SEC))
        self.assertEqual(
            self.seq(
                {
                    "blockdev_find",
                    "blockdev_create",
                    "blockdev_removechildren",
                    "blockdev_rename",
                    "blockdev_addchildren",
                    "blockdev_remove",
                }
            ),
            [
                ("node2", "blockdev_find"),
                ("node3", "blockdev_find"),
                ("node2", "blockdev_find"),  # peer consistency
                ("node3", "blockdev_create"),
                ("node3", "blockdev_create"),
                ("node3", "blockdev_removechildren"),
                ("node3", "blockdev_rename"),
                ("node3", "blockdev_rename"),
                ("node3", "blockdev_addchildren"),
                ("node3", "blockdev_remove"),
                ("node3", "blockdev_remove"),
            ],
        )
        self.assertEqual(sorted(self.node3.disks), sorted(names))
        self.assertEqual(sorted(self.node2.disks), sorted(names))
        self.assertEqual([d.to_dict() for d in self.disks()], before)
        steps = [m for m in self.m.log if m.startswith("STEP ")]
        self.assertEqual(len(steps), 6)
        self.assertEqual(steps[3], "STEP 4/6 Changing drbd configuration")
        renames = [a[0] for n, p, a in self.sim.args if p == "blockdev_rename"]
        self.assertRegex(renames[0][0][1][1], rf"^{names[0]}_replaced-1700001\d\d\d$")
        self.assertEqual(renames[1][0][1], ["xenvg", names[0]])
        r3 = self.res("node3.test")
        assert r3 is not None
        self.assertEqual(r3.disk, "UpToDate")
        self.assertIn("drbd_wait_sync", [p for _n, p in self.seq()])

    def test_replace_on_primary_selected_disks_early_release(self) -> None:
        self.make_drbd(disks=[{"size": 1024}, {"size": 512}])
        self.sim.args.clear()
        self.ok(self.replace(C.REPLACE_DISK_PRI, disks=[1], early_release=True))
        procs = [
            (n, p) for n, p in self.seq({"blockdev_remove", "drbd_wait_sync", "blockdev_create"})
        ]
        self.assertEqual(procs[:2], [("node2", "blockdev_create"), ("node2", "blockdev_create")])
        # Early release: old volumes gone before the resync is waited for.
        self.assertLess(
            procs.index(("node2", "blockdev_remove")), procs.index(("node2", "drbd_wait_sync"))
        )
        removed = [a[0]["logical_id"][1] for n, p, a in self.sim.args if p == "blockdev_remove"]
        self.assertTrue(all("disk1" in r and "_replaced-" in r for r in removed))
        self.assertIn("STEP 5/6 Removing old storage (early release)", self.m.log)

    def test_degraded_peer_refused(self) -> None:
        self.make_drbd()
        self.res("node2.test").conn = "StandAlone"  # type: ignore[union-attr]
        exc = self.bad(self.replace(C.REPLACE_DISK_SEC))
        self.assertIn("node2.test has degraded storage", str(exc))
        self.assertNotIn("blockdev_create", [p for _n, p in self.seq()][-3:])

    def test_change_secondary(self) -> None:
        self.make_drbd()
        [disk] = self.disks()
        port, secret = disk.logical_id[2], disk.logical_id[5]
        lvs = sorted(c.logical_id[1] for c in disk.children)
        self.sim.args.clear()
        self.ok(self.replace(C.REPLACE_DISK_CHG, remote_node="node1.test"))
        [disk] = self.disks()
        self.assertEqual(disk.logical_id, [self.n2.uuid, self.n1.uuid, port, 0, 0, secret])
        self.assertEqual(disk.nodes, [self.n2.uuid, self.n1.uuid])
        self.assertEqual(self.m.config.config.instance_secondary_nodes(self.inst()), [self.n1.uuid])
        self.assertEqual(
            self.seq(
                {
                    "blockdev_create",
                    "blockdev_shutdown",
                    "drbd_disconnect_net",
                    "drbd_attach_net",
                    "blockdev_remove",
                }
            ),
            [
                ("node1", "blockdev_create"),
                ("node3", "blockdev_shutdown"),
                ("node2", "drbd_disconnect_net"),
                ("node2", "drbd_attach_net"),
                ("node1", "drbd_attach_net"),
                ("node3", "blockdev_remove"),
            ],
        )
        create = next(a for n, p, a in self.sim.args if p == "blockdev_create")
        self.assertTrue(create[0]["params"][D.P_STANDALONE])
        self.assertEqual(create[3], False)
        self.assertEqual(self.node3.disks, {})
        self.assertEqual(self.sim.on("node3.test"), {})
        self.assertEqual(sorted(self.node1.disks), lvs)
        r1, r2 = self.res("node1.test"), self.res("node2.test")
        assert r1 is not None and r2 is not None
        self.assertEqual((r2.peer, r2.conn), ("node1.test", "Connected"))
        self.assertEqual((r1.peer, r1.role, r1.disk), ("node2.test", "Secondary", "UpToDate"))
        self.assertEqual(self.m.config._drbd_reserved, {})
        # The instance can fail over to its new secondary.
        self.ok(self.failover())
        self.assertEqual(self.pnode(), "node1.test")

    def test_change_secondary_after_failover_keeps_primary_slot(self) -> None:
        self.make_drbd()
        self.ok(self.failover())  # primary node3 holds slot 1 of the logical_id
        [disk] = self.disks()
        minor3 = disk.logical_id[4]
        self.ok(self.replace(C.REPLACE_DISK_CHG, remote_node="node1.test"))
        [disk] = self.disks()
        self.assertEqual(disk.logical_id[:2], [self.n1.uuid, self.n3.uuid])
        self.assertEqual(disk.logical_id[4], minor3)
        self.assertEqual(self.res("node1.test").node_id, 0)  # type: ignore[union-attr]
        self.assertEqual(self.res("node3.test").node_id, 1)  # type: ignore[union-attr]

    def test_change_secondary_by_allocator_with_dead_old_secondary(self) -> None:
        self.make_drbd()
        node = self.m.config.get_node(self.n3.uuid).copy()
        node.offline = True
        self.m.config.update(node)
        self.res("node2.test").conn = "StandAlone"  # type: ignore[union-attr]
        self.sim.args.clear()
        self.ok(self.replace(C.REPLACE_DISK_CHG, iallocator="builtin"))
        self.assertEqual(self.m.config.config.instance_secondary_nodes(self.inst()), [self.n1.uuid])
        self.assertIn("Selected new secondary node node1.test", "\n".join(self.m.log))
        self.assertTrue(any("node3.test is offline" in m for m in self.m.log))
        self.assertEqual(self.res("node2.test").peer, "node1.test")  # type: ignore[union-attr]
        self.assertEqual([n for n, _p in self.seq() if n == "node3"], [])

    def test_stopped_instance_disks_activated_then_shut_down(self) -> None:
        self.make_drbd(start=False)
        self.ok(self.replace(C.REPLACE_DISK_CHG, remote_node="node1.test"))
        self.assertEqual(self.sim.on("node2.test"), {})
        self.assertEqual(self.sim.on("node1.test"), {})
        self.assertEqual(len(self.node1.disks), 2)
        self.assertFalse(self.inst().disks_active)

    def test_auto(self) -> None:
        self.make_drbd(disks=[{"size": 1024}, {"size": 512}])
        self.ok(self.replace(C.REPLACE_DISK_AUTO))
        self.assertIn("No disks of web1 need replacement", self.m.log)
        port1 = self.disks()[1].logical_id[2]
        self.sim.on("node3.test")[port1].disk = "Diskless"
        self.sim.args.clear()
        self.ok(self.replace(C.REPLACE_DISK_AUTO))
        self.assertIn("Replacing disk/1 of web1 on node3.test", self.m.log)
        creates = [n for n, p in self.seq({"blockdev_create"})]
        self.assertEqual(creates, ["node3", "node3"])
        self.assertEqual(self.sim.on("node3.test")[port1].disk, "UpToDate")
        # Faulty on both nodes: refused.
        self.sim.on("node3.test")[port1].disk = "Diskless"
        self.res("node2.test").disk = "Diskless"  # type: ignore[union-attr]
        exc = self.bad(self.replace(C.REPLACE_DISK_AUTO), "wrong_state")
        self.assertIn("faulty disks on both nodes", str(exc))

    def test_refusals(self) -> None:
        self.make_drbd()
        self.make(C.DT_SHARED_FILE, "shared")
        cases: list[tuple[dict[str, Any], str, str]] = [
            (self.replace(C.REPLACE_DISK_CHG), "wrong_input", "needs the new node"),
            (
                self.replace(C.REPLACE_DISK_CHG, remote_node="node1.test", iallocator="x"),
                "wrong_input",
                "not both",
            ),
            (
                self.replace(C.REPLACE_DISK_CHG, remote_node="node1.test", disks=[0]),
                "wrong_input",
                "moves all disks",
            ),
            (
                self.replace(C.REPLACE_DISK_PRI, remote_node="node1.test"),
                "wrong_input",
                "goes only with changing the secondary",
            ),
            (
                self.replace(C.REPLACE_DISK_CHG, remote_node="node2.test"),
                "wrong_input",
                "is the instance's primary node",
            ),
            (
                self.replace(C.REPLACE_DISK_CHG, remote_node="node3.test"),
                "wrong_input",
                "already is the secondary",
            ),
            (self.replace(C.REPLACE_DISK_SEC, disks=[3]), "unknown_entity", "no disk/3"),
            (self.replace(C.REPLACE_DISK_SEC, "shared"), "wrong_input", "only drbd disks"),
        ]
        for op, code, text in cases:
            self.assertIn(text, str(self.bad(op, code)))
        self.ok(self.op("OP_INSTANCE_SHUTDOWN"))
        exc = self.bad(self.replace(C.REPLACE_DISK_AUTO), "wrong_state")
        self.assertIn("activate-disks", str(exc))
