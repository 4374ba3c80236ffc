"""Job/opcode model: derived status and priority, file format round trip, fields."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti import errors
from ganeti.jobs.model import JOB_FIELDS, QueuedJob, QueuedOpCode, make_timestamp
from ganeti.jobs.storage import decode_job, encode_job
from ganeti.opcodes import from_dict


def job(*statuses: str, prios: list[int] | None = None) -> QueuedJob:
    ops = []
    for i, st in enumerate(statuses):
        op = QueuedOpCode.from_opcode(from_dict({"OP_ID": "OP_TEST_DELAY", "duration": i}))
        op.status = st
        if prios is not None:
            op.priority = prios[i]
        ops.append(op)
    return QueuedJob(id=1, ops=ops, received_timestamp=[5, 6])


class StatusTests(SynchronousTestCase):
    def test_derived_status(self) -> None:
        cases: list[tuple[tuple[str, ...], str]] = [
            (("queued", "queued"), "queued"),
            (("success", "queued"), "queued"),
            (("success", "success"), "success"),
            (("waiting", "queued"), "waiting"),
            (("success", "running", "queued"), "running"),
            (("running", "waiting"), "waiting"),  # the last waiting/running wins
            (("success", "error", "error"), "error"),
            (("canceling", "canceling"), "canceling"),
            (("success", "canceled"), "canceled"),
            (("error", "running"), "error"),  # scanning stops at the first final failure
        ]
        for statuses, expected in cases:
            self.assertEqual(job(*statuses).calc_status(), expected, statuses)

    def test_priority(self) -> None:
        self.assertEqual(job("queued", "queued", prios=[0, -10]).calc_priority(), -10)
        self.assertEqual(job("success", "queued", prios=[-10, 10]).calc_priority(), 10)
        self.assertEqual(job("success", "error", prios=[-10, 10]).calc_priority(), 0)

    def test_finalize_sets_end(self) -> None:
        j = job("running")
        j.ops[0].finalize("success", 5, [1, 2])
        self.assertEqual(
            (j.ops[0].status, j.ops[0].result, j.ops[0].end_timestamp), ("success", 5, [1, 2])
        )
        self.assertTrue(j.finalized)

    def test_timestamp(self) -> None:
        self.assertEqual(make_timestamp(12.5), [12, 500000])
        self.assertEqual(make_timestamp(12.9999999999), [12, 999999])


class FormatTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        j = job("success", "error")
        j.ops[0].log.append([1, [3, 4], "message", "hi"])
        j.ops[1].result = ["OpExecError", ["boom"]]
        j.start_timestamp = [7, 8]
        data = j.to_dict()
        self.assertEqual(
            sorted(data), ["end_timestamp", "id", "ops", "received_timestamp", "start_timestamp"]
        )
        again = decode_job(encode_job(j), what="test")
        self.assertEqual(again.to_dict(), data)
        self.assertEqual(again.ops[0].op, j.ops[0].op)
        self.assertEqual(again.log_serial, 1)

    def test_malformed(self) -> None:
        good = job("queued").to_dict()
        bad_cases: list[Any] = [
            [],
            {**good, "id": "x"},
            {**good, "ops": []},
            {**good, "received_timestamp": [1]},
            {**good, "ops": [{**good["ops"][0], "status": "bogus"}]},
            {**good, "ops": [{**good["ops"][0], "log": [[1, 2]]}]},
        ]
        for data in bad_cases:
            self.assertRaises(errors.JobQueueError, QueuedJob.from_dict, data)
        self.assertRaises(errors.JobQueueError, decode_job, b"{", what="x")

    def test_unknown_opcode_kept(self) -> None:
        data = job("success").to_dict()
        data["ops"][0]["input"] = {"OP_ID": "OP_GONE"}
        j = QueuedJob.from_dict(data)
        self.assertIsNone(j.ops[0].op)
        self.assertEqual(j.get_field("summary"), ["GONE"])


class FieldTests(SynchronousTestCase):
    def test_all_fields(self) -> None:
        j = job("success", "running")
        info = j.get_info(JOB_FIELDS)
        self.assertEqual(len(info), len(JOB_FIELDS))
        values = dict(zip(JOB_FIELDS, info, strict=True))
        self.assertEqual(values["status"], "running")
        self.assertEqual(values["opstatus"], ["success", "running"])
        self.assertEqual(values["summary"], ["TEST_DELAY(0)", "TEST_DELAY(1)"])
        self.assertEqual(values["received_ts"], [5, 6])
        self.assertEqual(values["ops"][1]["duration"], 1)
        self.assertFalse(values["archived"])
        self.assertRaises(errors.OpPrereqError, j.get_field, "nope")

    def test_log_since(self) -> None:
        j = job("running", "queued")
        j.ops[0].log.extend([[1, [0, 0], "message", "a"], [2, [0, 0], "message", "b"]])
        self.assertEqual([e[0] for e in j.log_entries_since(None)], [1, 2])
        self.assertEqual([e[0] for e in j.log_entries_since(1)], [2])
        self.assertEqual(j.log_entries_since(2), [])
