"""OP_GROUP_VERIFY_DISKS and OP_CLUSTER_VERIFY_DISKS through the real processor, lock
manager and config writer, against the DRBD node simulation of test_cmdlib_drbd_ops
extended with ``lv_list`` and ``drbd_needs_activation`` (answered from the simulated
LVs and DRBD resources, as the node daemon answers them from ``lvs`` and
``drbdsetup status``)."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import succeed

from ganeti import constants as C
from ganeti.locking import ALL_SET, LEVEL_INSTANCE, LEVEL_NODE
from tests.unit.test_cmdlib_drbd_ops import DrbdCase, DrbdSim
from tests.unit.test_cmdlib_instance import FakeNode

VG = "xenvg"


class VerifySim(DrbdSim):
    """LVs of ``node.disks`` (keys without a slash) are in volume group xenvg."""

    inactive: set[tuple[str, str]]

    def p_lv_list(self, node: FakeNode, vgs: Any) -> dict[str, list[Any]]:
        if not isinstance(vgs, list) or any(v != VG for v in vgs):
            raise ValueError(f'Volume group "{vgs}" not found')
        inactive: set[tuple[str, str]] = getattr(self, "inactive", set())
        return {
            f"{VG}/{lv}": [float(size), (node.name, lv) in inactive, False]
            for lv, size in node.disks.items()
            if "/" not in lv
        }

    def p_drbd_needs_activation(self, node: FakeNode, disks: Any) -> list[str]:
        out = []
        for disk in disks:
            if disk["dev_type"] != C.DT_DRBD8:
                raise ValueError("not a drbd disk")
            status = self._status(node, disk)  # also checks the annotation for this node
            if status is None or status["ldisk_status"] == "faulty":
                out.append(disk["uuid"])
        return out


class VerifyDisksCase(DrbdCase):
    def setUp(self) -> None:
        super().setUp()
        self.sim.__class__ = VerifySim
        self.sim.inactive = set()  # type: ignore[attr-defined]
        cluster = self.m.config.get_cluster()
        cluster.enabled_disk_templates = [*cluster.enabled_disk_templates]
        # web1: drbd node2 -> node3, running; db1: plain on node2, running;
        # files1: file on node3, running.
        self.make_drbd("web1")
        self.ok(self.create("db1", disk_template=C.DT_PLAIN))
        self.ok(self.create("files1", disk_template=C.DT_FILE, pnode="node3.test"))
        self.sim.args.clear()

    def verify(self, **kw: Any) -> Any:
        return self.ok({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "default", **kw})

    def lv(self, name: str, idx: int = 0) -> str:
        disk = self.disks(name)[idx]
        if disk.dev_type == C.DT_DRBD8:
            return str(disk.children[0].logical_id[1])
        return str(disk.logical_id[1])

    def meta_lv(self, name: str) -> str:
        return str(self.disks(name)[0].children[1].logical_id[1])

    def calls(self, proc: str) -> list[tuple[str, list[Any]]]:
        return [(n, a) for n, p, a in self.sim.args if p == proc]


class GroupVerifyDisksTests(VerifyDisksCase):
    def test_healthy(self) -> None:
        self.assertEqual(self.verify(), [{}, [], {}])
        # Every online vm_capable node of the group lists its volumes (LVM is enabled),
        # asking for the cluster's volume group.
        lv_calls = self.calls("lv_list")
        self.assertEqual(
            sorted(n for n, _a in lv_calls), ["node1.test", "node2.test", "node3.test"]
        )
        self.assertTrue(all(a == [[VG]] for _n, a in lv_calls))
        # DRBD state is asked where web1's mirror lives, with the disk annotated for
        # that node (the simulation decodes it with the node driver's side_of).
        drbd = self.calls("drbd_needs_activation")
        self.assertEqual(sorted(n for n, _a in drbd), ["node2.test", "node3.test"])
        for _node, args in drbd:
            self.assertEqual([d["uuid"] for d in args[0]], [self.disks("web1")[0].uuid])
        self.assertIn("* Verifying the disks of group 'default': 3 instance(s)", self.m.log)

    def test_inactive_lv_of_active_instance(self) -> None:
        self.sim.inactive.add(("node2.test", self.lv("db1")))  # type: ignore[attr-defined]
        self.assertEqual(self.verify(), [{}, ["db1"], {}])
        self.assertIn("  - instance db1 needs its disks activated", self.m.log)
        # A DRBD backing volume not activated on the secondary counts too.
        self.sim.inactive = {("node3.test", self.meta_lv("web1"))}  # type: ignore[attr-defined]
        self.assertEqual(self.verify(), [{}, ["web1"], {}])

    def test_inactive_lv_of_stopped_instance_is_fine(self) -> None:
        self.ok(self.op("OP_INSTANCE_SHUTDOWN", "db1"))
        self.assertFalse(self.inst("db1").disks_active)
        self.sim.inactive.add(("node2.test", self.lv("db1")))  # type: ignore[attr-defined]
        self.assertEqual(self.verify(), [{}, [], {}])

    def test_missing_lvs(self) -> None:
        del self.node2.disks[self.lv("db1")]
        del self.node3.disks[self.meta_lv("web1")]
        errors, activate, missing = self.verify()
        self.assertEqual(errors, {})
        self.assertEqual(
            missing,
            {
                "db1": [["node2.test", f"{VG}/{self.lv('db1')}"]],
                "web1": [["node3.test", f"{VG}/{self.meta_lv('web1')}"]],
            },
        )
        # Activation would not bring them back: not in the activation list.
        self.assertEqual(activate, [])
        self.assertIn(
            f"  - ERROR: instance db1: missing volumes: {VG}/{self.lv('db1')} on node2.test",
            self.m.log,
        )

    def test_missing_lv_reported_for_stopped_instance(self) -> None:
        self.ok(self.op("OP_INSTANCE_SHUTDOWN", "db1"))
        del self.node2.disks[self.lv("db1")]
        self.assertEqual(
            self.verify(), [{}, [], {"db1": [["node2.test", f"{VG}/{self.lv('db1')}"]]}]
        )

    def test_drbd_needs_activation(self) -> None:
        # The secondary's device is down (e.g. the node rebooted) ...
        port = self.disks("web1")[0].logical_id[2]
        del self.sim.on("node3.test")[port]
        self.assertEqual(self.verify(), [{}, ["web1"], {}])
        # ... activate-disks brings it back, and the next check is clean.
        self.ok(self.op("OP_INSTANCE_ACTIVATE_DISKS", "web1"))
        self.assertEqual(self.verify(), [{}, [], {}])
        # A device that lost its local disk (Diskless) needs activation as well.
        self.sim.on("node2.test")[port].disk = "Diskless"
        self.assertEqual(self.verify(), [{}, ["web1"], {}])

    def test_unreachable_node(self) -> None:
        self.node3.fail["lv_list"] = "connection refused"
        self.node3.fail["drbd_needs_activation"] = "connection refused"
        del self.node2.disks[self.lv("db1")]
        errors, activate, missing = self.verify()
        self.assertEqual(errors, {"node3.test": "cannot list logical volumes: connection refused"})
        # The other nodes are still checked.
        self.assertEqual(list(missing), ["db1"])
        self.assertEqual(activate, [])
        self.assertIn(
            "  - ERROR: node node3.test: cannot list logical volumes: connection refused",
            self.m.log,
        )
        # Only the DRBD status failing is reported too.
        del self.node3.fail["lv_list"]
        errors, _a, _m = self.verify()
        self.assertEqual(errors, {"node3.test": "cannot get the DRBD status: connection refused"})

    def test_offline_and_non_vm_capable_nodes_skipped(self) -> None:
        node = self.m.config.get_node(self.n3.uuid).copy()
        node.offline = True
        self.m.config.update(node)
        self.node3.fail["lv_list"] = "unreachable"
        node1 = self.m.config.get_node(self.n1.uuid).copy()
        node1.vm_capable = False
        self.m.config.update(node1)
        self.assertEqual(self.verify(), [{}, [], {}])
        self.assertEqual([n for n, _a in self.calls("lv_list")], ["node2.test"])
        self.assertEqual([n for n, _a in self.calls("drbd_needs_activation")], ["node2.test"])

    def test_non_lvm_templates_contribute_nothing(self) -> None:
        # files1's file disk vanishing is not looked for (no per-file RPC here).
        self.node3.disks.clear()
        self.node3.disks.update({self.lv("web1"): 1024, self.meta_lv("web1"): 128})
        self.assertEqual(self.verify(), [{}, [], {}])

    def test_without_lvm_only_nodes_with_volumes_are_asked(self) -> None:
        self.ok(self.op("OP_INSTANCE_REMOVE", "db1"))
        self.ok(self.op("OP_INSTANCE_REMOVE", "web1"))
        cluster = self.m.config.get_cluster()
        cluster.enabled_disk_templates = [C.DT_FILE, C.DT_DISKLESS]
        self.sim.args.clear()
        self.assertEqual(self.verify(), [{}, [], {}])
        self.assertEqual(self.calls("lv_list"), [])

    def test_other_group_is_not_checked(self) -> None:
        other = self.m.add_group("other")
        self.m.add_node("node4.test", "192.0.2.14", group=other)
        self.sim.node("node4.test").fail["lv_list"] = "unreachable"
        self.assertEqual(self.verify(), [{}, [], {}])
        result = self.ok({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "other"})
        self.assertEqual(
            result, [{"node4.test": "cannot list logical volumes: unreachable"}, [], {}]
        )

    def test_unknown_group(self) -> None:
        exc = self.bad({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "nope"}, "unknown_entity")
        self.assertIn("nope", str(exc))


class StrictModeTests(VerifyDisksCase):
    """Strict (default) waits for every lock; non-strict takes what is free now."""

    def hold(self, level: int, uuid: str, owner: int = 999) -> None:
        d = self.m.locks.acquire(owner, level, [uuid])
        self.assertTrue(d.called)

    def test_strict_waits_for_a_busy_node(self) -> None:
        port = self.disks("web1")[0].logical_id[2]
        del self.sim.on("node3.test")[port]
        self.hold(LEVEL_NODE, self.n3.uuid)
        d = self.m.execute({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "default"})
        self.assertNoResult(d)
        self.assertEqual(self.calls("lv_list"), [])
        self.m.locks.release(999)
        self.m.settle()
        self.assertEqual(self.successResultOf(d), [{}, ["web1"], {}])

    def test_non_strict_skips_busy_node_and_instance(self) -> None:
        port = self.disks("web1")[0].logical_id[2]
        del self.sim.on("node3.test")[port]  # only visible on node3
        del self.node2.disks[self.lv("db1")]
        self.hold(LEVEL_INSTANCE, self.inst("db1").uuid, owner=999)
        d = self.m.locks.acquire(999, LEVEL_NODE, [self.n3.uuid])
        self.assertTrue(d.called)
        result = self.verify(is_strict=False)
        # node3 (web1's secondary) and db1 are held by job 999: neither is looked at.
        self.assertEqual(result, [{}, [], {}])
        self.assertIn("  - skipping instance(s) held by other jobs: db1", self.m.log)
        self.assertIn("  - skipping node(s) held by other jobs: node3.test", self.m.log)
        self.assertNotIn("node3.test", [n for n, _a in self.calls("lv_list")])
        # Our locks are gone afterwards; job 999 still holds its own.
        self.assertEqual(self.m.locks.owned(self.m.job_id, LEVEL_NODE), frozenset())
        self.assertEqual(self.m.locks.owned(999, LEVEL_NODE), frozenset([self.n3.uuid]))
        self.m.locks.release(999)
        _errors, activate, missing = self.verify(is_strict=False)
        self.assertEqual((activate, list(missing)), (["web1"], ["db1"]))

    def test_non_strict_with_every_instance_busy(self) -> None:
        d = self.m.locks.acquire(999, LEVEL_INSTANCE, ALL_SET)
        self.assertTrue(d.called)
        del self.node2.disks[self.lv("db1")]
        self.assertEqual(self.verify(is_strict=False), [{}, [], {}])
        self.assertIn("  - skipping instance(s) held by other jobs: db1, files1, web1", self.m.log)
        # The nodes are still asked (an unreachable one would be reported).
        self.assertEqual(len(self.calls("lv_list")), 3)
        self.assertEqual(self.calls("drbd_needs_activation"), [])


class ClusterVerifyDisksTests(VerifyDisksCase):
    def submit_capture(self) -> list[list[dict[str, Any]]]:
        submitted: list[list[dict[str, Any]]] = []

        def submit(jobs: list[list[dict[str, Any]]]) -> Any:
            submitted.extend(jobs)
            return succeed([[True, 100 + i] for i in range(len(jobs))])

        self.m.hooks.submit_jobs = submit
        return submitted

    def test_one_job_per_group(self) -> None:
        self.m.add_group("zeta")
        self.m.add_group("alpha")
        submitted = self.submit_capture()
        result = self.ok({"OP_ID": "OP_CLUSTER_VERIFY_DISKS", "priority": 5})
        self.assertEqual(result, {"jobs": [[True, 100], [True, 101], [True, 102]]})
        self.assertEqual(
            [(j[0]["OP_ID"], j[0]["group_name"], j[0]["is_strict"]) for j in submitted],
            [
                ("OP_GROUP_VERIFY_DISKS", "alpha", True),
                ("OP_GROUP_VERIFY_DISKS", "default", True),
                ("OP_GROUP_VERIFY_DISKS", "zeta", True),
            ],
        )
        self.assertTrue(all(len(j) == 1 and j[0]["priority"] == 5 for j in submitted))
        # The group jobs run on their own and give the triple.
        for job in submitted:
            op = {k: v for k, v in job[0].items() if k not in ("priority", "reason")}
            self.assertEqual(self.ok(op), [{}, [], {}])

    def test_named_group_and_not_strict(self) -> None:
        self.m.add_group("alpha")
        submitted = self.submit_capture()
        self.ok({"OP_ID": "OP_CLUSTER_VERIFY_DISKS", "group_name": "default", "is_strict": False})
        self.assertEqual(
            [(j[0]["group_name"], j[0]["is_strict"]) for j in submitted], [("default", False)]
        )
        self.bad({"OP_ID": "OP_CLUSTER_VERIFY_DISKS", "group_name": "nope"}, "unknown_entity")
