"""Node migrate/evacuate and instance change-group LUs, the evacuation planner, and the
processor's handling of ``ResultWithJobs``: real processor, locks and config writer
against the node simulation of test_cmdlib_migration (sharedfile disks every node
sees).  The submitted jobs are run through the same processor to check where the
instances end up."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import succeed

from ganeti import constants as C
from ganeti import errors
from ganeti.cmdlib.base import LogicalUnit, ResultWithJobs
from ganeti.masterd import iallocator as ia
from ganeti.mcpu import OpcodeProcessor
from ganeti.opcodes import from_dict
from tests.unit.test_cmdlib_migration import MigrationCase
from tests.unit.test_mcpu import Callbacks


class EvacCase(MigrationCase):
    def setUp(self) -> None:
        super().setUp()
        self.submitted: list[list[dict[str, Any]]] = []
        # (priority, reason) each submitted opcode inherited from its parent (removed
        # from ``submitted`` to keep comparisons short).
        self.inherited: list[list[tuple[Any, Any]]] = []
        self.next_id = 100

        def submit(jobs: list[list[dict[str, Any]]]) -> Any:
            out = []
            for job in jobs:
                self.submitted.append(job)
                self.inherited.append(
                    [(op.pop("priority", None), op.pop("reason", None)) for op in job]
                )
                self.next_id += 1
                out.append([True, self.next_id])
            return succeed(out)

        self.m.hooks.submit_jobs = submit

    def node_op(self, op_id: str, node: str = "node2.test", **kw: Any) -> dict[str, Any]:
        return {"OP_ID": op_id, "node_name": node, **kw}

    def evacuate(self, mode: str = C.NODE_EVAC_PRI, **kw: Any) -> dict[str, Any]:
        return self.node_op("OP_NODE_EVACUATE", mode=mode, **kw)

    def run_submitted(self) -> None:
        """Run every submitted job's opcodes, in order (they must all succeed)."""
        jobs, self.submitted = self.submitted, []
        for job in jobs:
            for op in job:
                self.m.run(op)

    def make_many(self, count: int, node: str = "node2.test", **kw: Any) -> list[str]:
        names = [f"vm{i:02d}" for i in range(count)]
        for name in names:
            self.make(C.DT_SHARED_FILE, name, pnode=node, beparams={"maxmem": 512}, **kw)
        return names

    def add_drbd(self, name: str, pnode: str, snode: str) -> None:
        cfg = self.m.config
        cluster = cfg.get_cluster()
        if C.HT_KVM not in cluster.enabled_hypervisors:
            cluster.enabled_hypervisors = [C.HT_FAKE, C.HT_KVM]
        self.m.add_drbd_instance(
            name,
            cfg.lookup_node(pnode),
            cfg.lookup_node(snode),
            admin_state=C.ADMINST_UP,
            beparams={"maxmem": 512, "minmem": 512},
        )


class NodeMigrateTests(EvacCase):
    def test_one_job_per_primary_then_all_elsewhere(self) -> None:
        names = self.make_many(4)
        self.make(C.DT_SHARED_FILE, "other", pnode="node3.test")
        result = self.m.run(self.node_op("OP_NODE_MIGRATE", mode="non-live"))
        self.assertEqual(result, {"jobs": [[True, 101], [True, 102], [True, 103], [True, 104]]})
        self.assertEqual(
            [[op["OP_ID"], op["instance_name"], op["mode"]] for [op] in self.submitted],
            [["OP_INSTANCE_MIGRATE", n, "non-live"] for n in names],
        )
        self.assertIn(
            "Migrating 4 instance(s) off node node2.test: vm00, vm01, vm02, vm03", self.m.log
        )
        self.run_submitted()
        for name in names:
            self.assertNotEqual(self.pnode(name), "node2.test")
        self.assertEqual(self.sim.node("node2.test").running, {})
        self.assertEqual(self.sim.live_flags, [False] * 4)

    def test_target_and_options_passed_through(self) -> None:
        self.make_many(2)
        self.m.run(
            self.node_op(
                "OP_NODE_MIGRATE", target_node="node3.test", live=True, ignore_ipolicy=True
            )
        )
        for [op] in self.submitted:
            self.assertEqual(op["target_node"], "node3.test")
            self.assertTrue(op["live"])
            self.assertTrue(op["ignore_ipolicy"])
            self.assertNotIn("mode", op)
        self.run_submitted()
        self.assertEqual({self.pnode("vm00"), self.pnode("vm01")}, {"node3.test"})

    def test_allocator_not_asked_for_drbd(self) -> None:
        self.make_many(1)
        self.add_drbd("d1", "node2.test", "node3.test")
        self.m.run(self.node_op("OP_NODE_MIGRATE", iallocator="hail"))
        by_name = {op["instance_name"]: op for [op] in self.submitted}
        self.assertEqual(by_name["vm00"]["iallocator"], "hail")
        self.assertNotIn("iallocator", by_name["d1"])  # it can only go to its secondary
        self.assertNotIn("target_node", by_name["d1"])

    def test_no_instances(self) -> None:
        result = self.m.run(self.node_op("OP_NODE_MIGRATE"))
        self.assertEqual(result, {"jobs": []})
        self.assertIn("No primary instances on node node2.test", self.m.log)

    def test_refusals(self) -> None:
        exc = self.m.fail(self.node_op("OP_NODE_MIGRATE", target_node="node2.test"), "wrong_input")
        self.assertIn("is the node being migrated", str(exc))
        exc = self.m.fail(
            self.node_op("OP_NODE_MIGRATE", target_node="node3.test", iallocator="hail"),
            "wrong_input",
        )
        self.assertIn("not both", str(exc))
        self.make_many(1)
        exc = self.m.fail(self.node_op("OP_NODE_MIGRATE", live=True, mode="live"), "wrong_input")
        self.assertIn("either 'live' or 'mode'", str(exc))
        self.m.fail(self.node_op("OP_NODE_MIGRATE", node="nosuch.test"), "unknown_entity")
        self.assertEqual(self.submitted, [])


class NodeEvacuateTests(EvacCase):
    def test_primary_only_spreads_and_moves_everything(self) -> None:
        names = self.make_many(6)
        result = self.m.run(self.evacuate())
        self.assertEqual(len(result["jobs"]), 6)
        targets = []
        for name, [op] in zip(names, self.submitted, strict=True):
            self.assertEqual(op["OP_ID"], "OP_INSTANCE_MIGRATE")
            self.assertEqual(op["instance_name"], name)
            self.assertTrue(op["allow_failover"])
            targets.append(op["target_node"])
        # Most free memory first, updated after each placement: alternating targets.
        self.assertEqual(sorted(targets), ["node1.test"] * 3 + ["node3.test"] * 3)
        self.assertIn("via iallocator builtin", "\n".join(self.m.log))
        self.run_submitted()
        for name, target in zip(names, targets, strict=True):
            self.assertEqual(self.pnode(name), target)
            self.assertEqual(self.sim.node(target).running[name]["state"], "running")
        self.assertEqual(self.sim.node("node2.test").running, {})

    def test_stopped_instances_fail_over(self) -> None:
        self.make(C.DT_SHARED_FILE, "down1", pnode="node2.test", start=False)
        self.make(C.DT_DISKLESS, "up1", pnode="node2.test")
        self.m.run(self.evacuate())
        ops = {op["instance_name"]: op["OP_ID"] for [op] in self.submitted}
        self.assertEqual(ops, {"down1": "OP_INSTANCE_FAILOVER", "up1": "OP_INSTANCE_MIGRATE"})
        self.run_submitted()
        self.assertNotEqual(self.pnode("down1"), "node2.test")
        self.assertEqual(self.inst("down1").admin_state, C.ADMINST_DOWN)
        self.assertNotEqual(self.pnode("up1"), "node2.test")

    def test_non_mirrored_refused_naming_them(self) -> None:
        self.make_many(2)
        self.make(C.DT_FILE, "local1", pnode="node2.test")
        exc = self.m.fail(self.evacuate())
        self.assertIsInstance(exc, errors.OpExecError)
        self.assertIn("Unable to evacuate instances local1 (it has 'file' disks", str(exc))
        self.assertNotIn("vm00", str(exc))
        self.assertEqual(self.submitted, [])
        self.assertEqual(self.pnode("vm00"), "node2.test")

    def test_memory_shortage_refused(self) -> None:
        self.make_many(3)
        for node in ("node1.test", "node3.test"):
            self.sim.node(node).memory_free = 600  # one 512 MiB instance each
        exc = self.m.fail(self.evacuate())
        self.assertIn("Unable to evacuate instances vm02 (no node can take it", str(exc))
        self.assertIn("88 MiB memory free, 512 MiB needed", str(exc))
        self.assertEqual(self.submitted, [])

    def test_evacuation_may_use_all_free_memory(self) -> None:
        self.make_many(2)
        for node in ("node1.test", "node3.test"):
            self.sim.node(node).memory_free = 512  # exactly one each, no reserve left
        self.m.run(self.evacuate())
        self.assertEqual(
            sorted(op["target_node"] for [op] in self.submitted), ["node1.test", "node3.test"]
        )

    def test_offline_and_drained_nodes_are_not_targets(self) -> None:
        self.make_many(2)
        n3 = self.m.config.lookup_node("node3.test").copy()
        n3.drained = True
        self.m.config.update(n3)
        self.m.run(self.evacuate())
        self.assertEqual({op["target_node"] for [op] in self.submitted}, {"node1.test"})

    def test_offline_node_is_evacuated_by_failover(self) -> None:
        names = self.make_many(2)
        n2 = self.m.config.lookup_node("node2.test").copy()
        n2.offline = True
        self.m.config.update(n2)
        self.sim.calls.clear()
        self.m.run(self.evacuate())
        self.assertNotIn("node2.test", [n for n, _p in self.sim.calls])
        self.run_submitted()
        for name in names:
            self.assertNotEqual(self.pnode(name), "node2.test")
        self.assertIn(
            "WARNING: source node node2.test is offline: not shutting down there", self.m.log
        )

    def test_hail(self) -> None:
        names = self.make_many(3)
        result = self.m.run(self.evacuate(iallocator="hail"))
        self.assertEqual(len(result["jobs"]), 3)
        for name, [op] in zip(names, self.submitted, strict=True):
            self.assertEqual(op["OP_ID"], "OP_INSTANCE_MIGRATE")
            self.assertEqual(op["instance_name"], name)
            self.assertIn(op["target_node"], ("node1.test", "node3.test"))
        self.run_submitted()
        for name in names:
            self.assertNotEqual(self.pnode(name), "node2.test")

    def test_hail_ignores_other_groups(self) -> None:
        gid = self.m.add_group("g2")
        self.m.add_node("node4.test", "192.0.2.14", group=gid)
        self.make(C.DT_SHARED_FILE, "far", pnode="node4.test")
        self.make_many(2)
        self.sim.calls.clear()
        self.m.run(self.evacuate(iallocator="hail"))
        targets = {op["target_node"] for [op] in self.submitted}
        self.assertTrue(targets <= {"node1.test", "node3.test"}, targets)
        calls = {n for n, p in self.sim.calls if p == "node_info"}
        self.assertNotIn("node4.test", calls)

    def test_hail_refuses_non_mirrored(self) -> None:
        self.make(C.DT_FILE, "local1", pnode="node2.test")
        exc = self.m.fail(self.evacuate(iallocator="hail"))
        self.assertIn("local1 (Instance has non-mirrored disks", str(exc))

    def test_no_instances(self) -> None:
        self.assertEqual(self.m.run(self.evacuate(mode=C.NODE_EVAC_ALL)), {"jobs": []})
        self.assertIn("No instances to evacuate on node node2.test", self.m.log)

    def test_drbd_job_sets(self) -> None:
        self.add_drbd("d1", "node2.test", "node3.test")  # primary on node2
        self.add_drbd("d2", "node3.test", "node2.test")  # secondary on node2
        self.add_drbd("d3", "node1.test", "node3.test")  # not on node2
        self.m.run(self.evacuate(mode=C.NODE_EVAC_PRI))
        self.assertEqual(
            self.submitted,
            [[{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "d1", "allow_failover": True}]],
        )
        self.submitted = []
        self.m.run(self.evacuate(mode=C.NODE_EVAC_SEC, early_release=True))
        self.assertEqual(
            self.submitted,
            [
                [
                    {
                        "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                        "instance_name": "d2",
                        "mode": C.REPLACE_DISK_CHG,
                        "remote_node": "node1.test",
                        "disks": [],
                        "early_release": True,
                    }
                ]
            ],
        )
        self.submitted = []
        self.m.run(self.evacuate(mode=C.NODE_EVAC_ALL))
        summary = [[(op["OP_ID"], op.get("remote_node")) for op in job] for job in self.submitted]
        self.assertEqual(
            summary,
            [
                # d1: migrate to its secondary node3, then node2 (now secondary) replaced.
                [("OP_INSTANCE_MIGRATE", None), ("OP_INSTANCE_REPLACE_DISKS", "node1.test")],
                [("OP_INSTANCE_REPLACE_DISKS", "node1.test")],
            ],
        )

    def test_remote_node(self) -> None:
        self.add_drbd("d2", "node3.test", "node2.test")
        exc = self.m.fail(self.evacuate(mode=C.NODE_EVAC_PRI, remote_node="node1.test"))
        self.assertIn("only secondary instances", str(exc))
        exc = self.m.fail(self.evacuate(mode=C.NODE_EVAC_SEC, remote_node="node2.test"))
        self.assertIn("cannot be the new secondary", str(exc))
        exc = self.m.fail(
            self.evacuate(mode=C.NODE_EVAC_SEC, remote_node="node1.test", iallocator="hail")
        )
        self.assertIn("not both", str(exc))
        self.m.run(self.evacuate(mode=C.NODE_EVAC_SEC, remote_node="node1.test"))
        [[op]] = self.submitted
        self.assertEqual(
            (op["OP_ID"], op["instance_name"], op["remote_node"], op["mode"]),
            ("OP_INSTANCE_REPLACE_DISKS", "d2", "node1.test", C.REPLACE_DISK_CHG),
        )

    def test_drbd_secondary_offline_refused(self) -> None:
        self.add_drbd("d1", "node2.test", "node3.test")
        n3 = self.m.config.lookup_node("node3.test").copy()
        n3.offline = True
        self.m.config.update(n3)
        exc = self.m.fail(self.evacuate(mode=C.NODE_EVAC_PRI))
        self.assertIn("d1 (its secondary node node3.test is offline", str(exc))


class ChangeGroupTests(EvacCase):
    def test_sharedfile_to_other_group(self) -> None:
        gid = self.m.add_group("g2")
        self.m.add_node("node4.test", "192.0.2.14", group=gid)
        self.make(C.DT_SHARED_FILE, "web1", pnode="node2.test")
        result = self.m.run({"OP_ID": "OP_INSTANCE_CHANGE_GROUP", "instance_name": "web1"})
        self.assertEqual(result, {"jobs": [[True, 101]]})
        [[op]] = self.submitted
        self.assertEqual(op["target_node"], "node4.test")
        self.run_submitted()
        self.assertEqual(self.pnode("web1"), "node4.test")

    def test_refusals(self) -> None:
        self.make(C.DT_SHARED_FILE, "web1", pnode="node2.test")
        exc = self.m.fail({"OP_ID": "OP_INSTANCE_CHANGE_GROUP", "instance_name": "web1"})
        self.assertIn("no node group other than", str(exc))
        exc = self.m.fail(
            {
                "OP_ID": "OP_INSTANCE_CHANGE_GROUP",
                "instance_name": "web1",
                "target_groups": ["default"],
            }
        )
        self.assertIn("already uses group(s) default", str(exc))


class PlannerTests(EvacCase):
    """The pure planner on hand-made figures."""

    def nodes(self, **mem: int) -> list[ia.NodeCandidate]:
        return [
            ia.NodeCandidate(name=n, group="default", alloc_policy="preferred", memory_free=m)
            for n, m in mem.items()
        ]

    def test_places_in_request_order_on_updated_figures(self) -> None:
        insts = [
            ia.EvacInstance(name=f"i{k}", template=C.DT_SHARED_FILE, nodes=("a",), memory=300)
            for k in range(3)
        ]
        req = ia.EvacRequest(instances=("i0", "i1", "i2"), evac_mode=C.NODE_EVAC_PRI)
        res = ia.builtin_node_evacuate(req, "a", insts, self.nodes(a=0, b=1000, c=600))
        self.assertEqual([m[2] for m in res.moved], [["b"], ["b"], ["c"]])
        self.assertEqual(res.failed, [])

    def test_unknown_allocator(self) -> None:
        req = ia.EvacRequest(instances=())
        self.assertRaises(
            errors.OpPrereqError, ia.node_evacuate, "nosuch", req, "a", [], self.nodes(a=1)
        )


DUMMY: dict[str, Any] = {
    "OP_ID": "OP_TEST_DUMMY",
    "result": None,
    "messages": [],
    "fail": False,
    "submit_jobs": None,
}


class _FanOutLU(LogicalUnit):
    OP_ID = "OP_TEST_DUMMY"
    REQ_BGL = False

    async def exec(self, feedback: Any) -> Any:
        return ResultWithJobs([[{"OP_ID": "OP_TEST_DELAY", "duration": 0}]], {"extra": 1})


class ResultWithJobsTests(EvacCase):
    def processor(self) -> OpcodeProcessor:
        return OpcodeProcessor(
            config=self.m.config,
            locks=self.m.locks,
            rpc=self.sim,
            clock=self.m.clock,
            paths=self.m.paths,
            registry={"OP_TEST_DUMMY": _FanOutLU},
            hooks=self.m.hooks,
        )

    def test_submits_with_parent_priority_and_reason(self) -> None:
        op = from_dict({**DUMMY, "priority": -10, "reason": [["gnt:client:x", "why", 1]]})
        d = self.processor().execute(op, 7, Callbacks())
        self.assertEqual(self.successResultOf(d), {"extra": 1, "jobs": [[True, 101]]})
        self.assertEqual(self.inherited, [[(-10, [["gnt:client:x", "why", 1]])]])
        self.assertEqual(self.m.locks.owned(7, 0), frozenset())

    def test_without_submitter(self) -> None:
        self.m.hooks.submit_jobs = None
        d = self.processor().execute(from_dict(DUMMY), 7, Callbacks())
        self.failureResultOf(d, errors.OpExecError)


class TargetDiesTests(MigrationCase):
    def test_target_dies_during_transfer(self) -> None:
        self.make(C.DT_SHARED_FILE)
        active = {"status": "active", "transferred_ram": 10, "total_ram": 100}
        self.sim.status_seq = [dict(active) for _ in range(5)]
        d = self.m.execute(self.migrate(target_node="node3.test"))
        self.assertNoResult(d)
        self.assertEqual(self.node3.running["web1"]["state"], "migrating")
        # The target's node daemon dies: every call to it fails from now on.
        for proc in ("version", "instance_finalize_migration_dst", "blockdev_shutdown"):
            self.node3.fail[proc] = "Connection was refused by other side: 111"
        self.m.clock.advance(1.0)
        exc = self.failureResultOf(d, errors.OpExecError).value
        self.assertIn("the target node node3.test stopped answering", str(exc))
        self.assertIn("still running on node2.test", str(exc))
        self.assertEqual(self.pnode(), "node2.test")
        self.assertNotIn("migrated_to", self.node2.running["web1"])
        self.assertIn("instance_finalize_migration_src", self.procs("node2.test"))
