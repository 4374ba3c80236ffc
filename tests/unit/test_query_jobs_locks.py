"""The job resource over job-file dicts and the lock resource over a real LockManager."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants as C
from ganeti import errors, locking
from ganeti.query import job_priority, job_status, op_summary, query, query_jobs
from tests.unit.test_query_fixture import make_ctx


def _op(status: str, op_id: str = "OP_TEST_DELAY", prio: int = 0, **kw: Any) -> dict[str, Any]:
    return {
        "input": {"OP_ID": op_id, **kw.pop("params", {})},
        "status": status,
        "result": kw.pop("result", None),
        "log": kw.pop("log", []),
        "priority": prio,
        "start_timestamp": kw.pop("start", None),
        "exec_timestamp": kw.pop("exec_ts", None),
        "end_timestamp": kw.pop("end", None),
    }


def _jobs() -> list[dict[str, Any]]:
    return [
        {
            "id": 10,
            "ops": [
                _op("success", "OP_INSTANCE_STARTUP", params={"instance_name": "web1"},
                    start=[100, 0], exec_ts=[100, 5], end=[101, 0], result=None,
                    log=[[1, [100, 7], "message", "starting"]]),
                _op("running", "OP_INSTANCE_REBOOT", prio=-10,
                    params={"instance_name": "web1", "reason": [["gnt:client", "x", 1]]},
                    start=[101, 0], exec_ts=[101, 1]),
            ],
            "received_timestamp": [99, 500],
            "start_timestamp": [100, 0],
            "end_timestamp": None,
        },
        {"id": 2, "ops": [_op("queued"), _op("queued", prio=10)],
         "received_timestamp": [50, 0], "start_timestamp": None, "end_timestamp": None},
        {"id": 9, "ops": [_op("error", result=["OpExecError", ["boom"]]),
                          _op("error", result=["OpExecError", ["Preceding opcode failed"]])],
         "received_timestamp": [60, 0], "start_timestamp": [61, 0], "end_timestamp": [62, 0],
         "archived": True},
    ]  # fmt: skip


class JobStatusTests(SynchronousTestCase):
    def test_derivation(self) -> None:
        cases = [
            (["success", "success"], "success"),
            (["queued", "queued"], "queued"),
            (["success", "queued"], "queued"),
            (["success", "waiting", "queued"], "waiting"),
            (["success", "running"], "running"),
            (["waiting", "running"], "running"),  # the last active one decides
            (["running", "waiting"], "waiting"),
            (["success", "error", "error"], "error"),
            (["running", "canceling"], "canceling"),
            (["canceled", "canceled"], "canceled"),
            (["error", "canceled"], "error"),  # the first stopping one decides
            ([], "queued"),
        ]
        for statuses, expected in cases:
            self.assertEqual(job_status(statuses), expected, statuses)

    def test_priority(self) -> None:
        self.assertEqual(job_priority([_op("success", prio=-20), _op("queued", prio=5)]), 5)
        self.assertEqual(job_priority([_op("success", prio=-20)]), C.OP_PRIO_DEFAULT)

    def test_summary(self) -> None:
        self.assertEqual(
            op_summary({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web1"}),
            "INSTANCE_STARTUP(web1)",
        )
        self.assertEqual(op_summary({"OP_ID": "OP_NO_SUCH_THING"}), "NO_SUCH_THING")
        self.assertEqual(op_summary({}), "(unknown opcode)")
        self.assertEqual(op_summary("junk"), "(unknown opcode)")
        long_name = "x" * 100
        shown = op_summary({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": long_name})
        self.assertTrue(shown.endswith("...)"), shown)


class JobQueryTests(SynchronousTestCase):
    def test_query_sorted_by_id_without_archive(self) -> None:
        result = query("job", ["id", "status", "summary", "priority"], None, make_ctx(jobs=_jobs()))
        self.assertEqual(
            [[v for _, v in row] for row in result["data"]],
            [
                [2, "queued", ["TEST_DELAY", "TEST_DELAY"], 0],
                [10, "running", ["INSTANCE_STARTUP(web1)", "INSTANCE_REBOOT(web1)"], -10],
            ],
        )

    def test_archive_only_when_asked(self) -> None:
        ctx = make_ctx(jobs=_jobs())
        with_field = query("job", ["id", "archived"], None, ctx)
        self.assertEqual(
            [[v for _, v in row] for row in with_field["data"]],
            [[2, False], [9, True], [10, False]],
        )
        via_filter = query("job", ["id"], ["?", "archived"], ctx)
        self.assertEqual(via_filter["data"], [[[0, 9]]])

    def test_provider_is_told_about_the_archive(self) -> None:
        calls: list[bool] = []

        def provider(include_archived: bool) -> list[dict[str, Any]]:
            calls.append(include_archived)
            return [j for j in _jobs() if include_archived or not j.get("archived")]

        ctx = make_ctx(jobs=provider)
        self.assertEqual(len(query("job", ["id"], None, ctx)["data"]), 2)
        self.assertEqual(len(query("job", ["archived"], None, ctx)["data"]), 3)
        self.assertEqual(calls, [False, True])

    def test_per_opcode_fields_and_timestamps(self) -> None:
        fields = ["ops", "opstatus", "opresult", "oplog", "opstart", "opexec", "opend",
                  "oppriority", "received_ts", "start_ts", "end_ts", "reason"]  # fmt: skip
        rows = query_jobs([10], fields, make_ctx(jobs=_jobs()))
        row = dict(zip(fields, rows[0] or []))
        self.assertEqual(row["ops"][0], {"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web1"})
        self.assertEqual(row["opstatus"], ["success", "running"])
        self.assertEqual(row["opresult"], [None, None])
        self.assertEqual(row["oplog"], [[[1, [100, 7], "message", "starting"]], []])
        self.assertEqual(row["opstart"], [[100, 0], [101, 0]])
        self.assertEqual(row["opexec"], [[100, 5], [101, 1]])
        self.assertEqual(row["opend"], [[101, 0], None])
        self.assertEqual(row["oppriority"], [0, -10])
        self.assertEqual(row["received_ts"], [99, 500])
        self.assertEqual(row["start_ts"], [100, 0])
        self.assertIsNone(row["end_ts"])
        self.assertEqual(row["reason"], [[], [["gnt:client", "x", 1]]])

    def test_query_jobs_old_style(self) -> None:
        ctx = make_ctx(jobs=_jobs())
        self.assertEqual(query_jobs(None, ["id"], ctx), [[2], [10]])
        self.assertEqual(query_jobs([], ["id"], ctx), [[2], [10]])
        # Named jobs are found in the archive too; unknown ids give None.
        self.assertEqual(
            query_jobs(["9", 77, 2], ["id", "status", "opresult"], ctx),
            [[9, "error", [["OpExecError", ["boom"]],
                           ["OpExecError", ["Preceding opcode failed"]]]], None,
             [2, "queued", [None, None]]],
        )  # fmt: skip
        self.assertRaises(errors.OpPrereqError, query_jobs, ["x"], ["id"], ctx)
        self.assertRaises(errors.OpPrereqError, query_jobs, [2], ["nosuch"], ctx)

    def test_no_job_source(self) -> None:
        self.assertEqual(query("job", ["id"], None, make_ctx())["data"], [])

    def test_filter_on_jobs(self) -> None:
        ctx = make_ctx(jobs=_jobs())
        result = query("job", ["id"], ["=[]", "opstatus", "running"], ctx)
        self.assertEqual(result["data"], [[[0, 10]]])
        result = query("job", ["id"], ["|", ["==", "id", 2], ["==", "status", "error"]], ctx)
        self.assertEqual(result["data"], [[[0, 2]]])  # 9 is archived and not asked for


class LockQueryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.locks = locking.LockManager(
            self.clock, {locking.LEVEL_INSTANCE: ["web1", "db1"], locking.LEVEL_NODE: ["n1"]}
        )

    def _rows(self, qfilter: Any = None) -> dict[str, list[Any]]:
        result = query(
            "lock", ["name", "mode", "owner", "pending"], qfilter, make_ctx(locks=self.locks)
        )
        return {row[0][1]: [v for _, v in row[1:]] for row in result["data"]}

    def test_owner_and_waiter(self) -> None:
        got = self.locks.acquire("job/1", locking.LEVEL_CLUSTER, [locking.BGL], shared=True)
        self.assertTrue(got.called)
        self.locks.acquire("job/1", locking.LEVEL_INSTANCE, ["web1"])
        waiting = self.locks.acquire("job/2", locking.LEVEL_INSTANCE, ["web1"], shared=True)
        waiting2 = self.locks.acquire("job/3", locking.LEVEL_INSTANCE, ["web1"], shared=True)
        self.assertFalse(waiting.called or waiting2.called)
        rows = self._rows()
        self.assertEqual(rows["cluster/BGL"], ["shared", ["job/1"], []])
        self.assertEqual(
            rows["instance/web1"], ["exclusive", ["job/1"], [["shared", ["job/2", "job/3"]]]]
        )
        self.assertEqual(rows["instance/db1"], [None, [], []])
        self.assertEqual(rows["node/n1"], [None, [], []])
        # Names are nicely sorted.
        names = list(rows)
        self.assertEqual(names.index("instance/db1") + 1, names.index("instance/web1"))
        self.locks.release("job/1")
        self.assertEqual(self._rows()["instance/web1"], ["shared", ["job/2", "job/3"], []])
        for d in (waiting, waiting2):
            d.cancel()

    def test_filter_held_locks(self) -> None:
        self.locks.acquire(7, locking.LEVEL_CLUSTER, [locking.BGL])
        self.assertEqual(self._rows(["?", "owner"]), {"cluster/BGL": ["exclusive", ["7"], []]})
        self.assertEqual(list(self._rows(["=~", "name", "^node/"])), ["node/[lockset]", "node/n1"])

    def test_no_lock_manager(self) -> None:
        self.assertEqual(query("lock", ["name"], None, make_ctx())["data"], [])
