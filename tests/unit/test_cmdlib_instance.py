"""Instance LUs through the real processor, locks and config writer, against a node
simulation that keeps block devices, running instances and OS definitions in memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.os_diagnose import merge_diagnoses
from ganeti.masterd import iallocator
from ganeti.rpc.client import IRpcClient, RpcResult, RpcTarget
from tests.unit.cmdlib_harness import Master


class FakeNode:
    def __init__(self, name: str) -> None:
        self.name = name
        self.memory_free = 8192
        self.disk_free = 100_000
        self.disks: dict[str, int] = {}  # path/lv -> size
        self.dirs: set[str] = set()
        self.running: dict[str, dict[str, Any]] = {}
        self.os = {"noop": True}
        self.fail: dict[str, str] = {}


@implementer(IRpcClient)
class NodeSim:
    """Just enough of noded's instance procedures (docs/node-procedures.md)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.nodes: dict[str, FakeNode] = {}
        self.calls: list[tuple[str, str]] = []

    def node(self, name: str) -> FakeNode:
        return self.nodes.setdefault(name, FakeNode(name))

    def target_for(self, name: str, address: str) -> RpcTarget:
        return RpcTarget(name, address)

    def call(
        self,
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> Deferred[dict[str, RpcResult]]:
        out = {}
        for n in nodes:
            name = n if isinstance(n, str) else n.name
            out[name] = self._one(name, procedure, list(args))
        return succeed(out)

    def call_one(
        self, node: RpcTarget | str, procedure: str, args: Sequence[Any], timeout: Any = None
    ) -> Deferred[RpcResult]:
        name = node if isinstance(node, str) else node.name
        return succeed(self._one(name, procedure, list(args)))

    def _one(self, name: str, proc: str, args: list[Any]) -> RpcResult:
        self.calls.append((name, proc))
        node = self.node(name)
        if proc in node.fail:
            return RpcResult(name, fail_msg=node.fail[proc])
        try:
            return RpcResult(name, getattr(self, "p_" + proc)(node, *args))
        except ValueError as exc:
            return RpcResult(name, fail_msg=str(exc))

    @staticmethod
    def _key(disk: dict[str, Any]) -> str:
        return str(disk["logical_id"][-1])

    def p_version(self, node: FakeNode) -> int:
        return C.PROTOCOL_VERSION

    def p_node_info(self, node: FakeNode, storage: Any, hvs: Any) -> list[Any]:
        used = sum(int(i["memory"]) for i in node.running.values())
        units = [
            {"type": s[0], "name": s[1], "storage_free": node.disk_free - sum(node.disks.values())}
            for s in storage
        ]
        return [
            "boot-" + node.name,
            units,
            [{"memory_free": node.memory_free - used, "memory_total": 16384, "cpu_total": 4}],
        ]

    def p_hypervisor_validate_params(self, node: FakeNode, hv: str, params: Any) -> None:
        bad = sorted(set(params) - set(C.HVC_DEFAULTS[hv]))
        if bad:
            raise ValueError(f"unknown parameter(s) {bad}")

    def p_os_validate(self, node: FakeNode, required: Any, name: str, *rest: Any) -> bool:
        if name.split("+")[0] not in node.os:
            raise ValueError(f"OS {name} not found")
        return True

    def p_file_storage_dir_create(self, node: FakeNode, path: str) -> None:
        node.dirs.add(path)

    def p_file_storage_dir_remove(self, node: FakeNode, path: str) -> None:
        if not any(k.startswith(path + "/") for k in node.disks):
            node.dirs.discard(path)

    def p_file_storage_dir_rename(self, node: FakeNode, old: str, new: str) -> None:
        node.dirs.discard(old)
        node.dirs.add(new)
        for key in list(node.disks):
            if key.startswith(old + "/"):
                node.disks[new + key[len(old) :]] = node.disks.pop(key)

    def p_blockdev_create(self, node: FakeNode, disk: Any, size: int, *rest: Any) -> str:
        node.disks[self._key(disk)] = size
        return self._key(disk)

    def p_blockdev_remove(self, node: FakeNode, disk: Any) -> None:
        node.disks.pop(self._key(disk), None)

    def p_blockdev_find(self, node: FakeNode, disk: Any) -> Any:
        key = self._key(disk)
        return {"dev_path": key} if key in node.disks else None

    def p_blockdev_assemble(self, node: FakeNode, disk: Any, inst: Any, *rest: Any) -> Any:
        key = self._key(disk)
        if key not in node.disks:
            raise ValueError(f"disk {key} missing")
        return [key, "link", None]

    def p_blockdev_shutdown(self, node: FakeNode, disk: Any) -> None:
        return None

    def p_blockdev_grow(self, node: FakeNode, disk: Any, amount: int, dry: bool, *r: Any) -> None:
        if not dry:
            node.disks[self._key(disk)] += amount

    def p_instance_os_add(self, node: FakeNode, inst: Any, reinstall: bool, debug: int) -> None:
        for d in inst["disks_info"]:
            if self._key(d) not in node.disks:
                raise ValueError("disk missing")

    def p_instance_run_rename(self, node: FakeNode, inst: Any, old: str, debug: int) -> None:
        return None

    def p_instance_start(self, node: FakeNode, inst: Any, paused: bool, reason: Any) -> None:
        if inst["name"] in node.running:
            raise ValueError("already running")
        node.running[inst["name"]] = {
            "memory": inst["beparams"]["maxmem"],
            "vcpus": inst["beparams"]["vcpus"],
            "state": "running",
        }

    def p_instance_shutdown(self, node: FakeNode, inst: Any, timeout: Any, reason: Any) -> None:
        node.running.pop(inst["name"], None)

    def p_instance_reboot(self, node: FakeNode, inst: Any, kind: str, *rest: Any) -> None:
        if inst["name"] not in node.running:
            raise ValueError("not running")

    def p_instance_info(self, node: FakeNode, name: str, hv: str, hvp: Any) -> Any:
        return node.running.get(name, {})

    def p_instance_balloon_memory(self, node: FakeNode, inst: Any, mem: int) -> None:
        node.running[inst["name"]]["memory"] = mem

    def p_instance_console_info(self, node: FakeNode, req: Any) -> Any:
        return {n: {"kind": "message", "message": f"console of {n}"} for n in req}

    def p_os_diagnose(self, node: FakeNode) -> Any:
        return [
            [n, f"/srv/ganeti/os/{n}", True, "", [], [["p", "help"]], [20], True] for n in node.os
        ]


class InstanceCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.m = Master(self)
        self.sim = NodeSim(self.m.clock)
        self.m.rpc = self.sim  # type: ignore[assignment]
        self.m.processor.rpc = self.sim
        cluster = self.m.config.get_cluster()
        cluster.enabled_hypervisors = [C.HT_FAKE]
        cluster.enabled_disk_templates = [C.DT_FILE, C.DT_DISKLESS, C.DT_PLAIN]
        cluster.file_storage_dir = "/srv/ganeti/file-storage"
        cluster.hvparams = {C.HT_FAKE: dict(C.HVC_DEFAULTS[C.HT_FAKE])}
        self.n2 = self.m.add_node("node2.test", "192.0.2.12")
        self.n3 = self.m.add_node("node3.test", "192.0.2.13")

    def create(self, name: str = "web1", **kw: Any) -> dict[str, Any]:
        op: dict[str, Any] = {
            "OP_ID": "OP_INSTANCE_CREATE",
            "instance_name": name,
            "mode": "create",
            "os_type": "noop",
            "disk_template": "file",
            "disks": [{"size": 1024}],
            "nics": [{}],
            "pnode": "node2.test",
        }
        op.update(kw)
        return op

    def inst(self, name: str = "web1") -> Any:
        return self.m.config.lookup_instance(name)

    def assert_clean(self, name: str = "web1") -> None:
        names = [i.name for i in self.m.config.get_instances()]
        self.assertNotIn(name, names)
        self.assertEqual(self.m.config.config.disks, {})
        for node in self.sim.nodes.values():
            self.assertEqual(node.disks, {}, node.name)
            self.assertEqual(node.running, {}, node.name)


class CreateTests(InstanceCase):
    def test_create_file_started(self) -> None:
        result = self.m.run(self.create(beparams={"maxmem": 256, "minmem": 256}))
        self.assertEqual(result, ["node2.test"])
        inst = self.inst()
        self.assertEqual(inst.admin_state, "up")
        self.assertTrue(inst.disks_active)
        self.assertTrue(inst.nics[0].mac.startswith("aa:00:00:"))
        [disk] = self.m.config.get_instance_disks(inst.uuid)
        self.assertEqual(disk.dev_type, "file")
        self.assertEqual(disk.size, 1024)
        self.assertTrue(disk.logical_id[1].startswith("/srv/ganeti/file-storage/web1/"))
        node2 = self.sim.node("node2.test")
        self.assertIn("web1", node2.running)
        self.assertEqual(node2.running["web1"]["memory"], 256)
        self.assertIn(inst.uuid, self.m.on_disk()["instances"])
        self.assertIn("* running the instance OS create scripts...", self.m.log)

    def test_create_no_install_no_start_diskless(self) -> None:
        self.m.run(self.create(disk_template="diskless", disks=[], no_install=True, start=False))
        inst = self.inst()
        self.assertEqual(inst.admin_state, "down")
        procs = [p for _n, p in self.sim.calls]
        self.assertNotIn("instance_os_add", procs)
        self.assertNotIn("instance_start", procs)

    def test_allocator_picks_most_free_memory(self) -> None:
        self.sim.node("node1.test").memory_free = 1000
        self.sim.node("node2.test").memory_free = 3000
        self.sim.node("node3.test").memory_free = 5000
        op = self.create()
        del op["pnode"]
        self.assertEqual(self.m.run(op), ["node3.test"])
        self.assertEqual(self.inst().primary_node, self.n3.uuid)

    def test_unique_macs(self) -> None:
        for i in range(5):
            self.m.run(self.create(f"i{i}", disk_template="diskless", disks=[], nics=[{}, {}]))
        macs = [n.mac for i in self.m.config.get_instances() for n in i.nics]
        self.assertEqual(len(set(macs)), 10)
        exc = self.m.fail(self.create("dup", nics=[{"mac": macs[0]}]), "resource_not_unique")
        self.assertIn("already in use", str(exc))

    def test_bad_input_leaves_nothing(self) -> None:
        self.m.run(self.create())
        cases = [
            (self.create("web1"), "already_exists", "already exists"),
            (self.create("x", os_type="nosuch"), "wrong_input", "nosuch"),
            (self.create("x", disks=[{"size": 200_000}]), "insufficient_resources", "disk space"),
            (self.create("x", hvparams={"bogus": 1}), "wrong_input", "bogus"),
            (self.create("x", disk_template="drbd", snode="node3.test"), "wrong_input", "drbd"),
            (self.create("x", beparams={"maxmem": 100_000}), "wrong_input", "memory-size"),
            (self.create("x", pnode="nosuch"), "unknown_entity", "nosuch"),
        ]
        for op, code, text in cases:
            exc = self.m.fail(op, code)
            self.assertIn(text, str(exc))
        self.assertEqual([i.name for i in self.m.config.get_instances()], ["web1"])
        self.assertEqual(len(self.m.config.config.disks), 1)
        self.assertEqual(len(self.sim.node("node2.test").disks), 1)

    def test_offline_node_refused(self) -> None:
        node = self.n2.copy()
        node.offline = True
        self.m.config.update(node)
        exc = self.m.fail(self.create(), "wrong_state")
        self.assertIn("offline", str(exc))
        self.assert_clean()

    def test_os_install_failure_rolls_back(self) -> None:
        self.sim.node("node2.test").fail["instance_os_add"] = "create script failed"
        exc = self.m.fail(self.create(disks=[{"size": 1024}, {"size": 2048}]))
        self.assertIn("create script failed", str(exc))
        self.assert_clean()
        self.assertEqual(self.sim.node("node2.test").dirs, set())
        self.assertNotIn("web1", str(self.m.on_disk()["instances"]))

    def test_disk_creation_failure_rolls_back(self) -> None:
        node = self.sim.node("node2.test")
        original = NodeSim.p_blockdev_create
        count = [0]

        def flaky(sim: NodeSim, n: FakeNode, disk: Any, size: int, *rest: Any) -> str:
            count[0] += 1
            if count[0] == 2:
                raise ValueError("no space left")
            return original(sim, n, disk, size)

        self.sim.p_blockdev_create = flaky.__get__(self.sim)  # type: ignore[method-assign]
        self.m.fail(self.create(disks=[{"size": 1024}, {"size": 1024}]))
        self.assertEqual(node.disks, {})
        self.assert_clean()

    def test_start_failure_rolls_back(self) -> None:
        self.sim.node("node2.test").fail["instance_start"] = "hypervisor refused"
        self.m.fail(self.create())
        self.assert_clean()


class LifecycleTests(InstanceCase):
    def setUp(self) -> None:
        super().setUp()
        self.m.run(self.create())
        self.node2 = self.sim.node("node2.test")

    def op(self, op_id: str, **kw: Any) -> dict[str, Any]:
        return {"OP_ID": op_id, "instance_name": "web1", **kw}

    def test_shutdown_startup_reboot(self) -> None:
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN", timeout=5))
        self.assertEqual(self.inst().admin_state, "down")
        self.assertFalse(self.inst().disks_active)
        self.assertEqual(self.node2.running, {})
        self.m.run(self.op("OP_INSTANCE_STARTUP"))
        self.assertEqual(self.inst().admin_state, "up")
        self.assertIn("web1", self.node2.running)
        for kind in ("soft", "hard", "full"):
            self.m.run(self.op("OP_INSTANCE_REBOOT", reboot_type=kind))
            self.assertIn("web1", self.node2.running)
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN", admin_state_source="user"))
        self.assertEqual(self.inst().admin_state_source, "user")
        # A full reboot of a stopped instance starts it.
        self.m.run(self.op("OP_INSTANCE_REBOOT", reboot_type="full"))
        self.assertEqual(self.inst().admin_state, "up")
        self.assertEqual(self.inst().admin_state_source, "admin")

    def test_startup_not_enough_memory(self) -> None:
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN"))
        self.node2.memory_free = 64
        exc = self.m.fail(self.op("OP_INSTANCE_STARTUP"), "insufficient_resources")
        self.assertIn("not enough memory", str(exc))
        self.assertEqual(self.inst().admin_state, "down")

    def test_reinstall_and_rename(self) -> None:
        self.m.fail(self.op("OP_INSTANCE_REINSTALL"), "wrong_state")
        self.m.fail(self.op("OP_INSTANCE_RENAME", new_name="web2"), "wrong_state")
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN"))
        self.m.run(self.op("OP_INSTANCE_REINSTALL"))
        self.m.fail(self.op("OP_INSTANCE_REINSTALL", os_type="nosuch"), "wrong_input")
        self.assertEqual(self.m.run(self.op("OP_INSTANCE_RENAME", new_name="web2")), "web2")
        inst = self.inst("web2")
        [disk] = self.m.config.get_instance_disks(inst.uuid)
        self.assertIn("/file-storage/web2/", disk.logical_id[1])
        self.assertIn(disk.logical_id[1], self.node2.disks)
        self.m.run(self.create("other", disk_template="diskless", disks=[]))
        self.m.fail(
            {"OP_ID": "OP_INSTANCE_RENAME", "instance_name": "web2", "new_name": "other"},
            "already_exists",
        )

    def test_set_params(self) -> None:
        result = self.m.run(
            self.op(
                "OP_INSTANCE_SET_PARAMS",
                beparams={"maxmem": 512, "vcpus": 2},
                nics=[["add", -1, {}]],
            )
        )
        self.assertIn(["be/maxmem", 512], result)
        inst = self.inst()
        self.assertEqual(inst.beparams, {"maxmem": 512, "vcpus": 2})
        self.assertEqual(len(inst.nics), 2)
        self.m.fail(self.op("OP_INSTANCE_SET_PARAMS", hvparams={"bogus": 1}), "wrong_input")
        self.m.fail(
            self.op("OP_INSTANCE_SET_PARAMS", disks=[["add", -1, {"size": 1024}]]),
            "wrong_state",
        )
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", runtime_mem=256))
        self.assertEqual(self.node2.running["web1"]["memory"], 256)
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN"))
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", disks=[["add", -1, {"size": 2048}]]))
        disks = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertEqual([d.size for d in disks], [1024, 2048])
        self.assertEqual(len(self.node2.disks), 2)
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", disks=[["remove", 0, {}]]))
        disks = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertEqual([(d.size, d.iv_name) for d in disks], [(2048, "disk/0")])
        self.assertEqual(list(self.node2.disks.values()), [2048])
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", nics=[["remove", 1, {}]]))
        self.assertEqual(len(self.inst().nics), 1)
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", offline=True))
        self.assertEqual(self.inst().admin_state, "offline")
        self.m.fail(self.op("OP_INSTANCE_STARTUP"), "wrong_state")
        self.m.run(self.op("OP_INSTANCE_SET_PARAMS", offline=False))
        self.assertEqual(self.inst().admin_state, "down")

    def test_disks(self) -> None:
        self.m.run(self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=1024))
        [disk] = self.m.config.get_instance_disks(self.inst().uuid)
        self.assertEqual(disk.size, 2048)
        self.assertEqual(list(self.node2.disks.values()), [2048])
        self.m.run(self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=4096, absolute=True))
        self.assertEqual(list(self.node2.disks.values()), [4096])
        self.m.fail(
            self.op("OP_INSTANCE_GROW_DISK", disk=0, amount=500_000), "insufficient_resources"
        )
        self.m.fail(self.op("OP_INSTANCE_DEACTIVATE_DISKS"), "wrong_state")
        self.m.run(self.op("OP_INSTANCE_SHUTDOWN"))
        self.m.run(self.op("OP_INSTANCE_DEACTIVATE_DISKS"))
        result = self.m.run(self.op("OP_INSTANCE_ACTIVATE_DISKS"))
        self.assertEqual(result[0][:2], ["node2.test", "disk/0"])
        self.assertTrue(self.inst().disks_active)
        self.node2.disks.clear()
        self.m.run(self.op("OP_INSTANCE_RECREATE_DISKS"))
        self.assertEqual(list(self.node2.disks.values()), [4096])
        self.m.run(self.op("OP_INSTANCE_RECREATE_DISKS", nodes=["node3.test"]))
        self.assertEqual(self.inst().primary_node, self.n3.uuid)
        self.assertEqual(list(self.sim.node("node3.test").disks.values()), [4096])

    def test_query_data_console_remove(self) -> None:
        data = self.m.run({"OP_ID": "OP_INSTANCE_QUERY_DATA", "instances": ["web1"]})
        info = data["web1"]
        self.assertEqual(info["run_state"], "up")
        self.assertEqual(info["pnode"], "node2.test")
        self.assertEqual(info["disks"][0]["pstatus"]["dev_path"], info["disks"][0]["logical_id"][1])
        console = self.m.run(self.op("OP_INSTANCE_CONSOLE"))
        self.assertEqual(console["kind"], "message")
        self.m.run(self.op("OP_INSTANCE_REMOVE"))
        self.assert_clean()
        self.m.fail(self.op("OP_INSTANCE_STARTUP"), "unknown_entity")

    def test_os_diagnose(self) -> None:
        self.sim.node("node3.test").os = {"noop": True, "image": True}
        self.sim.node("node1.test").os = {"noop": True, "image": True}
        rows = self.m.run(
            {"OP_ID": "OP_OS_DIAGNOSE", "output_fields": ["name", "valid", "api_versions"]}
        )
        self.assertEqual(rows, [["image", False, [20]], ["noop", True, [20]]])


class PureTests(SynchronousTestCase):
    def test_merge_diagnoses_failed_node(self) -> None:
        row = ["noop", "/p", True, "", ["a", "b"], [], [20], True]
        merged = merge_diagnoses(
            {"n1": [row], "n2": [["noop", "/q", True, "", ["a"], [], [20], True]], "n3": None}
        )
        self.assertTrue(merged["noop"]["valid"])
        self.assertEqual(merged["noop"]["variants"], ["a"])

    def test_builtin_allocator_policy(self) -> None:
        req = iallocator.AllocRequest("x", 128, 1, "diskless", ())
        nodes = [
            iallocator.NodeCandidate("a", "g1", "last_resort", 9000),
            iallocator.NodeCandidate("b", "g2", "preferred", 1000),
            iallocator.NodeCandidate("c", "g3", "unallocable", 20000),
            iallocator.NodeCandidate("d", "g2", "preferred", 50, usable=True),
        ]
        self.assertEqual(iallocator.allocate("", req, nodes), ["b"])
        with self.assertRaises(errors.OpPrereqError):
            iallocator.allocate("", req, nodes[2:3])
        with self.assertRaises(errors.OpPrereqError):
            iallocator.allocate("nosuch", req, nodes)
