"""Watcher step 7 decisions (pure): which groups to verify, strict or not, which
instances' disks to activate from a verification result."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti.watcher.decide import (
    STRICT_VERIFY_INTERVAL,
    GroupView,
    InstanceView,
    JobView,
    NodeView,
    activation_plan,
    groups_to_verify,
    pending_verify_groups,
    strict_verify,
    verify_disks_opcode,
)

G1 = GroupView("default", "uuid-g1")
G2 = GroupView("rack2", "uuid-g2")
G3 = GroupView("empty", "uuid-g3")


def inst(name: str, group: str = "uuid-g1", template: str = "drbd", **kw: Any) -> InstanceView:
    return InstanceView(
        name=name,
        status="running",
        admin_state="up",
        group=group,
        disk_template=template,
        **kw,
    )


def verify_job(job_id: int, status: str, group: str) -> JobView:
    return JobView(job_id, status, ({"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": group},))


class GroupsToVerifyTests(SynchronousTestCase):
    def test_groups_with_instances_in_name_order(self) -> None:
        chosen, messages = groups_to_verify(
            [G2, G1, G3], [inst("a"), inst("b", "uuid-g2", "plain")], set()
        )
        self.assertEqual(chosen, [G1, G2])  # empty group: nothing to verify
        self.assertEqual(messages, [])

    def test_all_ext_group_skipped(self) -> None:
        instances = [inst("a", template=C.DT_EXT), inst("b", template=C.DT_EXT)]
        chosen, messages = groups_to_verify([G1], instances, set())
        self.assertEqual(chosen, [])
        self.assertIn("only ext instances", messages[0])
        # One non-ext instance is enough to verify.
        chosen, _m = groups_to_verify([G1], [*instances, inst("c", template="file")], set())
        self.assertEqual(chosen, [G1])

    def test_pending_job_means_no_new_one(self) -> None:
        jobs = [
            verify_job(1, "success", "default"),  # finished: does not count
            verify_job(2, "waiting", "rack2"),
            verify_job(3, "running", "uuid-g1"),  # by uuid
            JobView(4, "queued", ({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "x"},)),
        ]
        pending = pending_verify_groups(jobs)
        self.assertEqual(pending, {"rack2", "uuid-g1"})
        chosen, messages = groups_to_verify([G1, G2], [inst("a"), inst("b", "uuid-g2")], pending)
        self.assertEqual(chosen, [])
        self.assertEqual(len(messages), 2)
        self.assertIn("still pending", messages[0])
        self.assertEqual(
            groups_to_verify([G1, G2], [inst("a"), inst("b", "uuid-g2")], {"rack2"})[0], [G1]
        )

    def test_disabled(self) -> None:
        self.assertEqual(groups_to_verify([G1], [inst("a")], set(), enabled=False), ([], []))

    def test_opcode_is_low_priority(self) -> None:
        self.assertEqual(
            verify_disks_opcode(G1, False),
            {
                "OP_ID": "OP_GROUP_VERIFY_DISKS",
                "group_name": "default",
                "is_strict": False,
                "priority": C.OP_PRIO_LOW,
            },
        )


class StrictTests(SynchronousTestCase):
    def test_strict_every_half_hour(self) -> None:
        state: dict[str, Any] = {}
        t = 1_700_000_000.0
        self.assertTrue(strict_verify(state, t, None))  # first run
        runs = [strict_verify(state, t + 300 * i, None) for i in range(1, 7)]
        self.assertEqual(runs, [False] * 5 + [True])  # 5, 10, ... 25 min; 30 min strict
        self.assertEqual(state["last_strict_verify"], t + STRICT_VERIFY_INTERVAL)

    def test_forced(self) -> None:
        state: dict[str, Any] = {"last_strict_verify": 0.0}
        self.assertFalse(strict_verify(state, 10_000.0, False))
        self.assertEqual(state["last_strict_verify"], 0.0)
        self.assertTrue(strict_verify({"last_strict_verify": 9_999.0}, 10_000.0, True))


class ActivationPlanTests(SynchronousTestCase):
    NODES = [NodeView("n1", "b1"), NodeView("n2", "b2"), NodeView("n3", "b3", offline=True)]

    def test_activates_reported_instances(self) -> None:
        instances = [
            inst("web1", pnode="n1", snodes=("n2",)),
            inst("db1", pnode="n2", template="plain"),
        ]
        ops, messages = activation_plan([{}, ["web1", "db1"], {}], instances, self.NODES)
        self.assertEqual(
            ops,
            [
                {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "db1"},
                {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "web1"},
            ],
        )
        self.assertEqual(messages, ["Activating the disks of db1", "Activating the disks of web1"])

    def test_offline_secondary_or_primary_skipped(self) -> None:
        instances = [
            inst("web1", pnode="n1", snodes=("n3",)),
            inst("web2", pnode="n3", snodes=("n1",)),
            inst("web3", pnode="n1", snodes=("n2",)),
        ]
        ops, messages = activation_plan([{}, ["web1", "web2", "web3"], {}], instances, self.NODES)
        self.assertEqual([o["instance_name"] for o in ops], ["web3"])
        self.assertIn("Not activating the disks of web1: node(s) n3 offline", messages)
        self.assertIn("Not activating the disks of web2: node(s) n3 offline", messages)

    def test_errors_missing_and_unknown_are_logged(self) -> None:
        result = [
            {"n2": "cannot list logical volumes: connection refused"},
            ["gone"],
            {"db1": [["n1", "xenvg/db1.disk0"]]},
        ]
        ops, messages = activation_plan(result, [], self.NODES)
        self.assertEqual(ops, [])
        self.assertEqual(
            messages,
            [
                "Could not verify the disks on node n2: "
                "cannot list logical volumes: connection refused",
                "Instance db1 has missing logical volumes: xenvg/db1.disk0 on n1",
                "Instance gone needs its disks activated but is unknown",
            ],
        )

    def test_malformed_result(self) -> None:
        ops, messages = activation_plan({"jobs": []}, [], self.NODES)
        self.assertEqual(ops, [])
        self.assertIn("Unexpected", messages[0])


class ScriptedLuxi:
    """The LUXI calls of the watcher's disk check, answered from tables."""

    def __init__(self, jobs: list[list[Any]], verify_result: Any, final: str = "success"):
        self.groups: list[list[Any]] = [["default", "uuid-g1"]]
        self.instances: list[list[Any]] = [
            # name, uuid, status, admin_state, disks_active, pnode, snodes, group, template
            ["web1", "u1", "running", "up", True, "n1", ["n2"], "uuid-g1", "drbd"],
            ["web2", "u2", "running", "up", True, "n1", ["n3"], "uuid-g1", "drbd"],
        ]
        self.nodes: list[list[Any]] = [
            ["n1", "b1", False],
            ["n2", "b2", False],
            ["n3", "b3", True],
        ]
        self.jobs = jobs
        self.verify_result = verify_result
        self.final = final
        self.log: list[tuple[str, Any]] = []

    @staticmethod
    def _rows(rows: list[list[Any]]) -> dict[str, Any]:
        return {"data": [[[0, v] for v in row] for row in rows]}

    def query(self, what: str, fields: list[str], qfilter: Any = None) -> Any:
        self.log.append(("query", what))
        table: list[list[Any]] = {
            "group": self.groups,
            "instance": self.instances,
            "node": self.nodes,
            "job": self.jobs,
        }[what]
        return self._rows([row[: len(fields)] for row in table])

    def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> list[Any]:
        self.log.append(("submit_many", jobs))
        return [[True, 100 + i] for i in range(len(jobs))]

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self.log.append(("submit", ops))
        return 200

    def wait_for_job_change(self, job_id: int, *args: Any) -> Any:
        self.log.append(("wait", job_id))
        return [[self.final], []]

    def query_jobs(self, ids: list[int], fields: list[str]) -> Any:
        return [[self.final, [self.verify_result]]]

    def call(self, method: str, *args: Any) -> Any:
        self.log.append((method, list(args)))
        return True


class VerifyDisksRunTests(SynchronousTestCase):
    """ganeti.watcher.main.verify_disks: the LUXI conversation of step 7."""

    def run_step(self, luxi: ScriptedLuxi, **kw: Any) -> list[str]:
        from ganeti.paths import Paths
        from ganeti.watcher.main import verify_disks

        paths = Paths(self.mktemp())
        paths.ensure_dirs()
        lines: list[str] = []
        verify_disks(paths, luxi, 1_700_000_000.0, lines.append, **kw)  # type: ignore[arg-type]
        return lines

    def test_verify_archive_activate(self) -> None:
        luxi = ScriptedLuxi([], [{}, ["web1", "web2"], {}])
        lines = self.run_step(luxi)
        [(_k, jobs)] = [e for e in luxi.log if e[0] == "submit_many"]
        self.assertEqual(jobs, [[verify_disks_opcode(G1, True)]])
        self.assertIn(("ArchiveJob", [100]), luxi.log)
        # One activation job; web2's secondary n3 is offline.
        [(_k, ops)] = [e for e in luxi.log if e[0] == "submit"]
        self.assertEqual(ops, [{"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": "web1"}])
        self.assertIn("Not activating the disks of web2: node(s) n3 offline", lines)
        self.assertIn("Submitted job 200 activating disks in group default", lines)

    def test_pending_job_skips(self) -> None:
        pending = [[7, "waiting", [{"OP_ID": "OP_GROUP_VERIFY_DISKS", "group_name": "default"}]]]
        luxi = ScriptedLuxi(pending, [{}, ["web1"], {}])
        lines = self.run_step(luxi)
        self.assertFalse([e for e in luxi.log if e[0] in ("submit_many", "submit")])
        self.assertIn("still pending", lines[0])

    def test_unfinished_job_is_left(self) -> None:
        luxi = ScriptedLuxi([], [{}, ["web1"], {}], final="running")
        lines = self.run_step(luxi, wait=0.0)
        self.assertFalse([e for e in luxi.log if e[0] in ("submit", "ArchiveJob")])
        self.assertIn("Disk verification job 100 has not finished, leaving it", lines)

    def test_failed_job_is_archived_nothing_activated(self) -> None:
        luxi = ScriptedLuxi([], ["OpExecError", ["boom"]], final="error")
        lines = self.run_step(luxi, strict=False)
        [(_k, jobs)] = [e for e in luxi.log if e[0] == "submit_many"]
        self.assertFalse(jobs[0][0]["is_strict"])
        self.assertIn(("ArchiveJob", [100]), luxi.log)
        self.assertFalse([e for e in luxi.log if e[0] == "submit"])
        self.assertTrue(any("ended with error" in line for line in lines), lines)
