"""OP_INSTANCE_MOVE, OP_BACKUP_* and OP_INSTANCE_CREATE mode import through the real
processor, locks and config writer, against a node simulation whose transfer procedures
copy bytes between in-memory disks and export files."""

from __future__ import annotations

import hashlib
from typing import Any

from ganeti import errors
from ganeti import exportmanifest as em
from tests.unit.test_cmdlib_instance import FakeNode, InstanceCase, NodeSim


class TransferSim(NodeSim):
    """Adds data to the simulated disks, the transfer and the export procedures."""

    def __init__(self, clock: Any) -> None:
        super().__init__(clock)
        self.data: dict[tuple[str, str], bytes] = {}  # (node, disk key or export/file)
        self.pending: dict[str, tuple[str, list[Any], dict[str, Any]]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self.exports: dict[tuple[str, str], str] = {}  # (node, export) -> manifest
        self.corrupt_receive = False
        self.seq = 0
        self.last_transfer: tuple[str, list[Any], str, list[Any], dict[str, Any]] = (
            "",
            [],
            "",
            [],
            {},
        )

    def _io_key(self, spec: list[Any]) -> str:
        kind = spec[0]
        if kind == "file":
            return f"{spec[1]}/{spec[2]}"
        return self._key(spec[1])

    def p_import_start(self, node: FakeNode, opts: Any, inst: Any, comp: str, dest: Any) -> Any:
        self.seq += 1
        name = f"import-{self.seq}"
        self.pending[f"magic{self.seq}"] = (node.name, dest, dict(opts))
        self.status[name] = {"exit_status": None}
        return {"name": name, "port": 40000 + self.seq, "magic": f"magic{self.seq}"}

    def p_export_start(
        self, node: FakeNode, opts: Any, host: str, port: int, inst: Any, comp: str, src: Any
    ) -> str:
        dst_node, dest, ropts = self.pending.pop(opts["magic"])
        if ropts["peer_node"] != node.name:
            raise ValueError("wrong peer")
        payload = self.data.get((node.name, self._io_key(src)), b"")
        got = payload + (b"!" if self.corrupt_receive else b"")
        digest = hashlib.sha256(payload).hexdigest()
        rname = f"import-{port - 40000}"
        sname = f"export-{port - 40000}"
        expected = ropts.get("expected_size")
        ok = expected is None or expected == len(got)
        self.data[(dst_node, self._io_key(dest))] = got
        if dest[0] == "file":
            self.nodes[dst_node].dirs.add(dest[1])
        common = {"size": len(payload), "sha256": digest, "elapsed": 0.1, "wire_bytes": 1}
        self.status[sname] = {**common, "exit_status": 0, "error_message": None}
        self.status[rname] = {
            **common,
            "size": len(got),
            "sha256": hashlib.sha256(got).hexdigest(),
            "exit_status": 0 if ok else 1,
            "error_message": None if ok else f"received {len(got)} bytes, expected {expected}",
        }
        self.last_transfer = (node.name, src, dst_node, dest, dict(ropts))
        return sname

    def p_impexp_status(self, node: FakeNode, names: list[str]) -> list[Any]:
        return [
            {**self.status[n], "progress_mbytes": 0, "progress_throughput": 0}
            if n in self.status
            else None
            for n in names
        ]

    def p_impexp_abort(self, node: FakeNode, name: str) -> None:
        return None

    def p_impexp_cleanup(self, node: FakeNode, name: str) -> None:
        self.status.pop(name, None)

    def p_export_remove(self, node: FakeNode, name: str) -> None:
        found = (node.name, name) in self.exports or any(
            k[0] == node.name and k[1].startswith(name + "/") for k in self.data
        )
        self.exports.pop((node.name, name), None)
        for key in [k for k in self.data if k[0] == node.name and k[1].startswith(name + "/")]:
            del self.data[key]
        if not found:
            raise ValueError(f"no export {name!r} on this node")

    def p_finalize_export(self, node: FakeNode, inst: Any, snap: list[Any]) -> None:
        name = inst["name"]
        disks = [
            em.ExportDisk(d["iv_name"], d["dump"], d["size"], d["name"], d["sha256"])
            for d in snap
            if d
        ]
        opts = inst["export_options"]
        self.exports[(node.name, name)] = em.build(
            inst,
            disks,
            source=opts["source"],
            timestamp=1,
            compression=opts["compression"],
            dump_method=opts["dump_method"],
        )
        for key in [k for k in self.data if k[0] == node.name and k[1].startswith(name + ".new/")]:
            self.data[(node.name, name + key[1][len(name) + 4 :])] = self.data.pop(key)

    def p_export_list(self, node: FakeNode) -> list[str]:
        return sorted(e for n, e in self.exports if n == node.name)

    def p_export_info(self, node: FakeNode, path: str) -> str:
        name = path.rsplit("/", 1)[-1]
        if (node.name, name) not in self.exports:
            raise ValueError(f"no export {name!r} on this node")
        return self.exports[(node.name, name)]


class MoveBackupCase(InstanceCase):
    sim: TransferSim

    def setUp(self) -> None:
        super().setUp()
        self.sim = TransferSim(self.m.clock)
        self.m.rpc = self.sim  # type: ignore[assignment]
        self.m.processor.rpc = self.sim
        self.sim.node("node1.test").os["image"] = True
        self.sim.node("node2.test").os["image"] = True
        self.sim.node("node3.test").os["image"] = True

    def make(self, name: str = "web1", node: str = "node1.test", **kw: Any) -> list[str]:
        self.m.run(
            self.create(
                name,
                pnode=node,
                os_type="image",
                disks=[{"size": 16}, {"size": 8}],
                ignore_ipolicy=True,
                **kw,
            )
        )
        disks = self.m.config.get_instance_disks(self.inst(name).uuid)
        keys = [str(d.logical_id[1]) for d in disks]  # type: ignore[index]
        for i, key in enumerate(keys):
            self.sim.data[(node, key)] = bytes([65 + i]) * (1024 * 1024 * (16 if i == 0 else 8))
        return keys

    def set_offline(self, name: str, offline: bool) -> None:
        node = self.m.config.lookup_node(name).copy()
        node.offline = offline
        if offline:
            node.master_candidate = False
        self.m.config.update(node)

    def procs(self, since: int = 0) -> list[tuple[str, str]]:
        return [
            c
            for c in self.sim.calls[since:]
            if c[1] not in ("impexp_status", "version", "node_info", "instance_info")
        ]


class MoveTests(MoveBackupCase):
    def test_move_running_file_instance(self) -> None:
        keys = self.make()
        mark = len(self.sim.calls)
        self.m.run(
            {
                "OP_ID": "OP_INSTANCE_MOVE",
                "instance_name": "web1",
                "target_node": "node2.test",
                "ignore_ipolicy": True,
            }
        )
        inst = self.inst()
        n2 = self.m.config.lookup_node("node2.test")
        self.assertEqual(inst.primary_node, n2.uuid)
        self.assertEqual(
            {tuple(d.nodes) for d in self.m.config.get_instance_disks(inst.uuid)}, {(n2.uuid,)}
        )
        for i, key in enumerate(keys):
            self.assertEqual(
                self.sim.data[("node2.test", key)], self.sim.data[("node1.test", key)], i
            )
        self.assertEqual(self.sim.node("node1.test").disks, {})
        self.assertIn("web1", self.sim.node("node2.test").running)
        self.assertNotIn("web1", self.sim.node("node1.test").running)
        calls = self.procs(mark)
        order = [
            c
            for c in calls
            if c[1]
            in (
                "instance_shutdown",
                "blockdev_create",
                "import_start",
                "export_start",
                "blockdev_remove",
                "instance_start",
            )
        ]
        self.assertEqual(
            order,
            [
                ("node1.test", "instance_shutdown"),
                ("node2.test", "blockdev_create"),
                ("node2.test", "blockdev_create"),
                ("node2.test", "import_start"),
                ("node1.test", "export_start"),
                ("node2.test", "import_start"),
                ("node1.test", "export_start"),
                ("node1.test", "blockdev_remove"),
                ("node1.test", "blockdev_remove"),
                ("node2.test", "instance_start"),
            ],
        )
        src, source, dst, dest, opts = self.sim.last_transfer
        self.assertEqual((src, source[0], dst, dest[0]), ("node1.test", "raw", "node2.test", "raw"))
        self.assertEqual(opts["peer_node"], "node1.test")
        self.assertEqual(opts["listen_address"], "192.0.2.12")
        self.assertEqual(opts["expected_size"], 8 * 1024 * 1024)
        self.assertIn(("node1.test", "impexp_cleanup"), calls)
        self.assertIn(("node2.test", "impexp_cleanup"), calls)

    def test_failed_copy_leaves_the_instance_on_the_source(self) -> None:
        keys = self.make()
        self.sim.corrupt_receive = True
        exc = self.m.fail(
            {
                "OP_ID": "OP_INSTANCE_MOVE",
                "instance_name": "web1",
                "target_node": "node2.test",
                "ignore_ipolicy": True,
            }
        )
        self.assertIn("stays on node1.test", str(exc))
        self.assertIn("expected 16777216", str(exc))
        n1 = self.m.config.lookup_node("node1.test")
        self.assertEqual(self.inst().primary_node, n1.uuid)
        self.assertEqual(self.sim.node("node2.test").disks, {})
        self.assertEqual(sorted(self.sim.node("node1.test").disks), sorted(keys))
        self.assertIn("web1", self.sim.node("node1.test").running)

    def test_sender_that_cannot_start_aborts_the_receiver(self) -> None:
        self.make()
        self.sim.node("node1.test").fail["export_start"] = "cannot open the disk"
        mark = len(self.sim.calls)
        exc = self.m.fail(
            {
                "OP_ID": "OP_INSTANCE_MOVE",
                "instance_name": "web1",
                "target_node": "node2.test",
                "ignore_ipolicy": True,
            }
        )
        self.assertIn("cannot send from node1.test: cannot open the disk", str(exc))
        calls = self.procs(mark)
        started = calls.index(("node2.test", "import_start"))
        self.assertEqual(
            calls[started + 1 : started + 4],
            [
                ("node1.test", "export_start"),
                ("node2.test", "impexp_abort"),
                ("node2.test", "impexp_cleanup"),
            ],
        )
        self.assertEqual(self.sim.node("node2.test").disks, {})
        self.assertIn("web1", self.sim.node("node1.test").running)

    def test_refusals(self) -> None:
        self.make()
        op = {"OP_ID": "OP_INSTANCE_MOVE", "instance_name": "web1", "ignore_ipolicy": True}
        exc = self.m.fail({**op, "target_node": "node1.test"}, errors.ECODE_INVAL)
        self.assertIn("already on node node1.test", str(exc))
        self.m.run({"OP_ID": "OP_NODE_SET_PARAMS", "node_name": "node3.test", "offline": True})
        exc = self.m.fail({**op, "target_node": "node3.test"}, errors.ECODE_STATE)
        self.assertIn("offline", str(exc))
        exc = self.m.fail({**op, "target_node": "node2.test", "compress": "xz"})
        self.assertIn("unknown compression", str(exc))
        self.make("web3", node="node2.test")
        self.set_offline("node2.test", True)
        exc = self.m.fail(
            {**op, "instance_name": "web3", "target_node": "node1.test", "ignore_consistency": True}
        )
        self.assertIn("node node2.test is offline: its file disks cannot be copied", str(exc))
        self.set_offline("node2.test", False)
        exc = self.m.fail({**op, "target_node": "nosuch.test"}, errors.ECODE_NOENT)
        self.assertIn("nosuch.test", str(exc))

    def test_diskless_only_switches(self) -> None:
        self.m.run(
            self.create(
                "dl", pnode="node1.test", disk_template="diskless", disks=[], ignore_ipolicy=True
            )
        )
        mark = len(self.sim.calls)
        self.m.run(
            {
                "OP_ID": "OP_INSTANCE_MOVE",
                "instance_name": "dl",
                "target_node": "node3.test",
                "ignore_ipolicy": True,
            }
        )
        self.assertEqual(self.inst("dl").primary_node, self.n3.uuid)
        self.assertNotIn("import_start", [c[1] for c in self.sim.calls[mark:]])
        self.assertIn("dl", self.sim.node("node3.test").running)

    def test_sharedfile_only_switches(self) -> None:
        cluster = self.m.config.get_cluster()
        cluster.enabled_disk_templates.append("sharedfile")
        cluster.shared_file_storage_dir = "/srv/ganeti/shared-file-storage"
        self.m.run(
            self.create("sh", pnode="node1.test", disk_template="sharedfile", ignore_ipolicy=True)
        )
        # The simulation keeps disks per node: show node2 the shared directory.
        self.sim.node("node2.test").disks.update(self.sim.node("node1.test").disks)
        mark = len(self.sim.calls)
        self.m.run(
            {
                "OP_ID": "OP_INSTANCE_MOVE",
                "instance_name": "sh",
                "target_node": "node2.test",
                "ignore_ipolicy": True,
            }
        )
        inst = self.inst("sh")
        self.assertEqual(inst.primary_node, self.n2.uuid)
        [disk] = self.m.config.get_instance_disks(inst.uuid)
        self.assertEqual(disk.nodes, [self.n2.uuid])
        names = [c[1] for c in self.sim.calls[mark:]]
        self.assertNotIn("import_start", names)
        self.assertNotIn("blockdev_create", names)
        self.assertNotIn("blockdev_remove", names)
        self.assertIn("sh", self.sim.node("node2.test").running)


class BackupTests(MoveBackupCase):
    def export(self, **kw: Any) -> Any:
        op = {
            "OP_ID": "OP_BACKUP_EXPORT",
            "instance_name": "web1",
            "target_node": "node2.test",
            "mode": "local",
            **kw,
        }
        return self.m.run(op)

    def test_export_then_import_elsewhere(self) -> None:
        keys = self.make(nics=[{"mac": "aa:00:00:12:34:56"}], beparams={"maxmem": 256})
        self.assertEqual(self.export(), [True, [True, True]])
        self.assertIn("web1", self.sim.node("node1.test").running)  # restarted
        _src, source, _dst, dest, _ = self.sim.last_transfer
        self.assertEqual((source[0], source[2]), ("script", 1))
        self.assertEqual(dest, ["file", "web1.new", "disk1.dump"])
        manifest = em.parse(self.sim.exports[("node2.test", "web1")])
        self.assertEqual(manifest.os, "image")
        self.assertEqual([d.dump for d in manifest.disks], ["disk0.dump", "disk1.dump"])
        self.assertEqual(manifest.beparams["maxmem"], "256")
        dump = self.sim.data[("node2.test", "web1/disk0.dump")]
        self.assertEqual(dump, self.sim.data[("node1.test", keys[0])])

        result = self.m.run(
            self.create(
                "copy",
                mode="import",
                src_node="node2.test",
                src_path="web1",
                pnode="node3.test",
                os_type=None,
                disk_template=None,
                disks=[],
                nics=[],
                ignore_ipolicy=True,
            )
        )
        self.assertEqual(result, ["node3.test"])
        copy = self.inst("copy")
        self.assertEqual(copy.os, "image")
        # The export's values become the instance's own (Ganeti's default) ...
        self.assertEqual(copy.beparams["maxmem"], 256)
        self.assertIn("vcpus", copy.beparams)
        self.assertNotEqual(copy.nics[0].mac, "aa:00:00:12:34:56")  # in use by web1
        disks = self.m.config.get_instance_disks(copy.uuid)
        self.assertEqual([d.size for d in disks], [16, 8])
        key = str(disks[1].logical_id[1])  # type: ignore[index]
        self.assertEqual(self.sim.data[("node3.test", key)], self.sim.data[("node1.test", keys[1])])
        _, source, _, dest, _ = self.sim.last_transfer
        self.assertEqual(source, ["file", "web1", "disk1.dump"])
        self.assertEqual((dest[0], dest[2]), ("script", 1))
        self.assertIn("copy", self.sim.node("node3.test").running)

    def test_import_identify_defaults(self) -> None:
        self.make(beparams={"maxmem": 256})
        self.assertEqual(self.export(), [True, [True, True]])
        self.m.run(
            self.create(
                "copy",
                mode="import",
                src_node="node2.test",
                src_path="web1",
                pnode="node3.test",
                os_type=None,
                disk_template=None,
                disks=[],
                nics=[],
                ignore_ipolicy=True,
                identify_defaults=True,
            )
        )
        # ... and with --identify-defaults only what differs from the cluster's.
        self.assertEqual(self.inst("copy").beparams, {"maxmem": 256})

    def test_import_with_damaged_dump_undoes_the_instance(self) -> None:
        self.make()
        self.export()
        self.sim.data[("node2.test", "web1/disk0.dump")] += b"junk"
        exc = self.m.fail(
            self.create(
                "copy",
                mode="import",
                src_path="web1",
                pnode="node3.test",
                os_type=None,
                disk_template=None,
                disks=[],
                nics=[],
                ignore_ipolicy=True,
            )
        )
        self.assertIn("the export is damaged", str(exc))
        self.assertNotIn("copy", [i.name for i in self.m.config.get_instances()])
        self.assertEqual(self.sim.node("node3.test").disks, {})

    def test_export_failure_cleans_up_and_restarts(self) -> None:
        self.make()
        self.sim.node("node2.test").fail["finalize_export"] = "disk full"
        exc = self.m.fail(
            {
                "OP_ID": "OP_BACKUP_EXPORT",
                "instance_name": "web1",
                "target_node": "node2.test",
                "mode": "local",
            }
        )
        self.assertIn("disk full", str(exc))
        self.assertFalse([k for k in self.sim.data if k[0] == "node2.test"])
        self.assertIn("web1", self.sim.node("node1.test").running)

    def test_export_refusals_remove_and_older_exports(self) -> None:
        self.make()
        op = {"OP_ID": "OP_BACKUP_EXPORT", "instance_name": "web1", "target_node": "node2.test"}
        exc = self.m.fail({**op, "mode": "remote"}, errors.ECODE_INVAL)
        self.assertIn("not supported", str(exc))
        exc = self.m.fail({**op, "mode": "local", "shutdown": False}, errors.ECODE_STATE)
        self.assertIn("cannot be snapshotted", str(exc))
        exc = self.m.fail({**op, "mode": "local", "shutdown": False, "remove_instance": True})
        self.assertIn("without shutting it down", str(exc))
        self.set_offline("node3.test", True)
        exc = self.m.fail({**op, "mode": "local", "target_node": "node3.test"}, errors.ECODE_STATE)
        self.assertIn("target node node3.test is offline", str(exc))
        self.set_offline("node3.test", False)
        self.export()
        self.export(target_node="node3.test")
        self.assertEqual(sorted(self.sim.exports), [("node3.test", "web1")])
        self.m.run({"OP_ID": "OP_BACKUP_REMOVE", "instance_name": "web1"})
        self.assertEqual(self.sim.exports, {})
        exc = self.m.fail({"OP_ID": "OP_BACKUP_REMOVE", "instance_name": "web1"})
        self.assertIn("no export of web1", str(exc))
        self.export(remove_instance=True)
        self.assertNotIn("web1", [i.name for i in self.m.config.get_instances()])
        self.assertEqual(self.sim.node("node1.test").disks, {})
        self.m.run({"OP_ID": "OP_BACKUP_REMOVE", "instance_name": "web1"})  # gone instance
        self.assertEqual(self.sim.exports, {})

    def test_prepare(self) -> None:
        self.make()
        op = {"OP_ID": "OP_BACKUP_PREPARE", "instance_name": "web1"}
        self.assertIsNone(self.m.run({**op, "mode": "local"}))
        exc = self.m.fail({**op, "mode": "remote"}, errors.ECODE_INVAL)
        self.assertIn("inter-cluster", str(exc))

    def test_import_unknown_export(self) -> None:
        exc = self.m.fail(
            self.create("copy", mode="import", src_path="nosuch", pnode="node3.test"),
            errors.ECODE_NOENT,
        )
        self.assertIn("no export named 'nosuch'", str(exc))
        exc = self.m.fail(self.create("copy", mode="remote-import", src_path="x"))
        self.assertIn("not supported", str(exc))
