"""The opcode processor and the first logical units, with real locks and config."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.cmdlib import LogicalUnit, lu_registry, register
from ganeti.cmdlib.base import Feedback
from ganeti.locking import ALL_SET, BGL, LEVEL_CLUSTER, LEVEL_NODE
from ganeti.mcpu import IOpcodeProcessor, IOpExecCallbacks, OpcodeProcessor, encode_error
from ganeti.opcodes import from_dict
from tests.unit.test_jobs import Harness


@implementer(IOpExecCallbacks)
class Callbacks:
    def __init__(self, priority: int = 0) -> None:
        self.started = 0
        self.log: list[tuple[str, str]] = []
        self.priority = priority

    def notify_start(self) -> None:
        self.started += 1

    def feedback(self, msg_type: str, message: str) -> None:
        self.log.append((msg_type, message))

    def current_priority(self) -> int:
        return self.priority


class LockingLU(LogicalUnit):
    """Test LU: locks every node, shared or exclusive, records what it held."""

    OP_ID = "OP_TEST_DUMMY"
    REQ_BGL = True

    def expand_names(self) -> None:
        self.needed_locks[LEVEL_NODE] = ALL_SET
        self.share_locks[LEVEL_NODE] = bool(self.op.result)

    def check_prereq(self) -> None:
        if self.op.fail == "prereq":
            raise errors.OpPrereqError("not today", errors.ECODE_STATE)

    async def exec(self, feedback: Feedback) -> Any:
        feedback("running")
        return {
            "bgl": str(self.ctx.locks.owned_mode(self.ctx.job_id, LEVEL_CLUSTER)),
            "nodes": sorted(self.owned_locks(LEVEL_NODE)),
        }


def op(data: dict[str, Any]) -> Any:
    return from_dict(data)


class ProcessorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self)
        self.proc = self.h.processor
        self.node = self.h.config.get_nodes()[0]

    def test_interface(self) -> None:
        verifyObject(IOpcodeProcessor, self.proc)
        verifyObject(IOpExecCallbacks, Callbacks())

    def test_registry(self) -> None:
        reg = lu_registry()
        for op_id in ("OP_TEST_DELAY", "OP_TEST_DUMMY", "OP_CLUSTER_QUERY"):
            self.assertIn(op_id, reg)
        with self.assertRaises(errors.ProgrammerError):
            register(type("Dup", (LogicalUnit,), {"OP_ID": "OP_TEST_DELAY"}))
        with self.assertRaises(errors.OpCodeUnknown):
            register(type("Typo", (LogicalUnit,), {"OP_ID": "OP_TYPO"}))

    def test_not_implemented(self) -> None:
        d = self.proc.execute(
            op({"OP_ID": "OP_RESTRICTED_COMMAND", "nodes": ["x"], "command": "y"}), 1, Callbacks()
        )
        f = self.failureResultOf(d, errors.OpCodeUnknown)
        self.assertIn("OP_RESTRICTED_COMMAND is not implemented yet", str(f.value))

    def test_locks_taken_and_released(self) -> None:
        proc = OpcodeProcessor(
            config=self.h.config,
            locks=self.h.locks,
            rpc=self.h.rpc,
            clock=self.h.clock,
            paths=self.h.paths,
            registry={"OP_TEST_DUMMY": LockingLU},
        )
        cbs = Callbacks()
        dummy = {
            "OP_ID": "OP_TEST_DUMMY",
            "result": 1,
            "fail": False,
            "messages": [],
            "submit_jobs": None,
        }
        result = self.successResultOf(proc.execute(op(dummy), 7, cbs))
        self.assertEqual(result, {"bgl": "exclusive", "nodes": [self.node.uuid]})
        self.assertEqual(cbs.started, 1)
        self.assertEqual(cbs.log, [("message", "running")])
        self.assertEqual(self.h.locks.owned(7, LEVEL_NODE), frozenset())
        self.assertIsNone(self.h.locks.owned_mode(7, LEVEL_CLUSTER))

    def test_prereq_error_releases_locks(self) -> None:
        proc = OpcodeProcessor(
            config=self.h.config,
            locks=self.h.locks,
            rpc=self.h.rpc,
            clock=self.h.clock,
            paths=self.h.paths,
            registry={"OP_TEST_DUMMY": LockingLU},
        )
        dummy = {
            "OP_ID": "OP_TEST_DUMMY",
            "result": 0,
            "fail": "prereq",
            "messages": [],
            "submit_jobs": None,
        }
        f = self.failureResultOf(proc.execute(op(dummy), 7, Callbacks()), errors.OpPrereqError)
        self.assertEqual(encode_error(f.value), ["OpPrereqError", ["not today", "wrong_state"]])
        self.assertIsNone(self.h.locks.owned_mode(7, LEVEL_CLUSTER))

    def test_dry_run(self) -> None:
        cbs = Callbacks()
        d = self.proc.execute(
            op({"OP_ID": "OP_TEST_DELAY", "duration": 5, "dry_run": True}), 1, cbs
        )
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(cbs.started, 1)

    def test_lock_wait_priority_and_cancel(self) -> None:
        self.successResultOf(self.h.locks.acquire("admin", LEVEL_CLUSTER, [BGL]))
        d = self.proc.execute(
            op({"OP_ID": "OP_TEST_DELAY", "duration": 0}), 3, Callbacks(priority=-10)
        )
        self.assertNoResult(d)
        [pending] = self.h.locks.list_locks()[0].pending
        self.assertEqual((pending.owner, pending.priority, str(pending.mode)), (3, -10, "shared"))
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertFalse(self.h.locks.is_waiting(3))

    def test_delay_on_nodes(self) -> None:
        cbs = Callbacks()
        d = self.proc.execute(
            op(
                {
                    "OP_ID": "OP_TEST_DELAY",
                    "duration": 2,
                    "on_master": False,
                    "on_nodes": [self.node.name],
                    "no_locks": False,
                }
            ),
            4,
            cbs,
        )
        self.assertEqual(self.h.rpc.calls, [([self.node.name], "test_delay", [2.0])])
        self.assertEqual(self.h.locks.owned(4, LEVEL_NODE), frozenset([self.node.uuid]))
        self.assertNoResult(d)
        self.h.tick(2)
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.h.locks.owned(4, LEVEL_NODE), frozenset())

    def test_delay_on_nodes_failure(self) -> None:
        h = Harness(self, rpc_fail={"node1.test": "node is sad"})
        d = h.processor.execute(
            op(
                {
                    "OP_ID": "OP_TEST_DELAY",
                    "duration": 0,
                    "on_master": False,
                    "on_nodes": ["node1.test"],
                }
            ),
            4,
            Callbacks(),
        )
        h.tick()
        f = self.failureResultOf(d, errors.OpExecError)
        self.assertIn("node1.test: node is sad", str(f.value))

    def test_delay_cancel_while_sleeping(self) -> None:
        cbs = Callbacks()
        d = self.proc.execute(op({"OP_ID": "OP_TEST_DELAY", "duration": 30, "repeat": 2}), 5, cbs)
        self.assertEqual(cbs.log, [("message", "Test delay iteration 0/2")])
        self.assertEqual(len(self.h.clock.getDelayedCalls()), 1)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.h.clock.getDelayedCalls(), [])
        self.assertIsNone(self.h.locks.owned_mode(5, LEVEL_CLUSTER))

    def test_cluster_query(self) -> None:
        d = self.proc.execute(op({"OP_ID": "OP_CLUSTER_QUERY"}), 1, Callbacks())
        info = self.successResultOf(d)
        self.assertEqual(info["name"], "cluster.test")
        self.assertEqual(info["master"], "node1.test")
        for key in (
            "software_version",
            "architecture",
            "enabled_hypervisors",
            "ipolicy",
            "max_running_jobs",
            "uuid",
            "tags",
            "enabled_disk_templates",
        ):
            self.assertIn(key, info)

    def test_encode_error(self) -> None:
        self.assertEqual(encode_error(errors.OpExecError("x")), ["OpExecError", ["x"]])
        self.assertEqual(
            encode_error(errors.OpPrereqError("y")), ["OpPrereqError", ["y", "wrong_input"]]
        )
        self.assertEqual(encode_error(KeyError("k")), ["OpExecError", ["KeyError: 'k'"]])
