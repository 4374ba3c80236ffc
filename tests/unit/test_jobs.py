"""The job queue with a real lock manager, a real config writer and real job files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.config import ConfigStore, ConfigWriter, bootstrap_config
from ganeti.jobs import IJobQueue, IQueueReplicator, JobQueue
from ganeti.jobs.queue import MSG_MASTER_STOPPED
from ganeti.locking import BGL, LEVEL_CLUSTER, LockManager
from ganeti.mcpu import OpcodeProcessor
from ganeti.paths import Paths
from ganeti.rpc.client import IRpcClient, RpcResult, RpcTarget

T0 = 1_700_000_000.0


@implementer(IRpcClient)
class FakeRpc:
    """Records calls; ``test_delay`` answers after ``duration`` on the clock."""

    def __init__(self, clock: Clock, fail: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.calls: list[tuple[list[str], str, list[Any]]] = []
        self.fail = fail or {}
        self.pending: list[Deferred[dict[str, RpcResult]]] = []

    def call(
        self,
        nodes: Sequence[RpcTarget | str],
        procedure: str,
        args: Sequence[Any],
        timeout: float | None = None,
    ) -> Deferred[dict[str, RpcResult]]:
        names = [n if isinstance(n, str) else n.name for n in nodes]
        self.calls.append((names, procedure, list(args)))
        result = {
            n: RpcResult(n, fail_msg=self.fail[n]) if n in self.fail else RpcResult(n, True)
            for n in names
        }
        d: Deferred[dict[str, RpcResult]] = Deferred()
        call = self.clock.callLater(float(args[0]), d.callback, result)
        d.addErrback(lambda f: (call.active() and call.cancel(), f)[1])
        self.pending.append(d)

        def cancel_timer(r: Any) -> Any:
            if call.active():
                call.cancel()
            return r

        d.addBoth(cancel_timer)
        return d


@implementer(IQueueReplicator)
class RecordingReplicator:
    def __init__(self) -> None:
        self.updates: list[Path] = []
        self.renames: list[tuple[Path, Path]] = []

    def update(self, path: Path, content: bytes) -> Deferred[None]:
        self.updates.append(path)
        return succeed(None)

    def rename(self, pairs: Sequence[tuple[Path, Path]]) -> Deferred[None]:
        self.renames.extend(pairs)
        return succeed(None)


class Harness:
    """A master's job machinery on a temporary root."""

    def __init__(self, case: SynchronousTestCase, root: str | None = None, **kw: Any) -> None:
        self.case = case
        self.root = Path(root or case.mktemp())
        self.paths = Paths(self.root)
        self.paths.ensure_dirs()
        self.clock = Clock()
        self.clock.advance(T0)
        cfg_path = self.paths.config_data
        if not cfg_path.exists():
            config = bootstrap_config(
                cluster_name="cluster.test",
                master_name="node1.test",
                master_ip="192.0.2.1",
                node_ip="192.0.2.11",
                now=T0,
            )
            store = ConfigStore(cfg_path)
            self.config = ConfigWriter(config, store, self.clock)
        else:
            self.config = ConfigWriter.load(ConfigStore(cfg_path), self.clock)
        self.locks = LockManager(self.clock)
        self.rpc = FakeRpc(self.clock, kw.pop("rpc_fail", None))
        self.processor = OpcodeProcessor(
            config=self.config,
            locks=self.locks,
            rpc=self.rpc,
            clock=self.clock,
            paths=self.paths,
        )
        self.replicator = RecordingReplicator()
        self.queue = JobQueue(
            paths=self.paths,
            clock=self.clock,
            processor=self.processor,
            locks=self.locks,
            replicator=self.replicator,
            **kw,
        )

    def start(self) -> Harness:
        self.queue.start()
        return self

    def tick(self, seconds: float = 0) -> None:
        self.clock.advance(seconds)

    def submit(self, *ops: dict[str, Any]) -> int:
        d = self.queue.submit_job(list(ops))
        self.case.assertNoResult(d)
        self.tick()
        return self.case.successResultOf(d)

    def status(self, job_id: int) -> str:
        row = self.queue.query_jobs([job_id], ["status"])[0]
        assert row is not None
        return str(row[0])

    def field(self, job_id: int, name: str) -> Any:
        row = self.queue.query_jobs([job_id], [name])[0]
        assert row is not None
        return row[0]

    def file(self, job_id: int) -> dict[str, Any]:
        return json.loads(self.paths.job_file(job_id).read_text())


def delay(duration: float = 0, **kw: Any) -> dict[str, Any]:
    return {"OP_ID": "OP_TEST_DELAY", "duration": duration, **kw}


def dummy(result: Any = None, fail: bool = False, messages: Any = (), **kw: Any) -> dict[str, Any]:
    return {
        "OP_ID": "OP_TEST_DUMMY",
        "result": result,
        "fail": fail,
        "messages": list(messages),
        "submit_jobs": None,
        **kw,
    }


class SubmitTests(SynchronousTestCase):
    def test_interface(self) -> None:
        h = Harness(self).start()
        verifyObject(IJobQueue, h.queue)

    def test_id_after_durable_write(self) -> None:
        h = Harness(self).start()
        d = h.queue.submit_job([dummy(result=1)])
        self.assertNoResult(d)
        self.assertFalse(h.paths.job_file(1).exists())
        h.tick()
        self.assertEqual(self.successResultOf(d), 1)
        self.assertEqual(h.paths.queue_serial.read_text(), "1\n")
        self.assertIn(h.paths.job_file(1), h.replicator.updates)
        self.assertIn(h.paths.queue_serial, h.replicator.updates)
        data = h.file(1)
        self.assertEqual(
            sorted(data), ["end_timestamp", "id", "ops", "received_timestamp", "start_timestamp"]
        )
        self.assertEqual(data["received_timestamp"], [int(T0), 0])
        op = data["ops"][0]
        self.assertEqual(
            sorted(op),
            [
                "end_timestamp",
                "exec_timestamp",
                "input",
                "log",
                "priority",
                "result",
                "start_timestamp",
                "status",
            ],
        )
        self.assertEqual(op["input"]["OP_ID"], "OP_TEST_DUMMY")
        reason = op["input"]["reason"][-1]
        self.assertEqual(reason[:2], ["gnt:opcode:test_dummy", "job=1;index=0"])

    def test_group_commit_one_serial_write(self) -> None:
        h = Harness(self).start()
        ds = [h.queue.submit_job([dummy()]) for _ in range(5)]
        writes = h.queue.storage.writes
        h.tick()
        self.assertEqual([self.successResultOf(d) for d in ds], [1, 2, 3, 4, 5])
        # The serial once; each job once at submit and once when finished (the trivial
        # jobs finish in the tick their submission commits).
        self.assertEqual(h.replicator.updates.count(h.paths.queue_serial), 1)
        self.assertEqual(h.queue.storage.writes - writes, 11)

    def test_ids_never_reused(self) -> None:
        h = Harness(self).start()
        h.submit(dummy())
        h.submit(dummy())
        h.tick()
        self.assertTrue(h.queue.archive_job(2))
        h.queue.stop()
        h2 = Harness(self, root=str(h.root)).start()
        self.assertEqual(h2.submit(dummy()), 3)

    def test_bad_parameter_named(self) -> None:
        h = Harness(self).start()
        f = self.failureResultOf(
            h.queue.submit_job([delay(duration="soon")]), errors.ParameterError
        )
        self.assertIn("'duration'", str(f.value))
        f = self.failureResultOf(h.queue.submit_job([{"OP_ID": "OP_TEST_DELAY"}]))
        self.assertIn("missing required parameter 'duration'", str(f.value))
        f = self.failureResultOf(h.queue.submit_job([delay(bogus=1)]), errors.ParameterError)
        self.assertIn("'bogus'", str(f.value))
        self.failureResultOf(h.queue.submit_job([{"OP_ID": "OP_NOPE"}]), errors.OpCodeUnknown)
        self.failureResultOf(h.queue.submit_job([]), errors.ParameterError)
        f = self.failureResultOf(h.queue.submit_job([delay(priority=-20)]), errors.ParameterError)
        self.assertIn("'priority'", str(f.value))
        self.assertFalse(h.paths.queue_serial.exists())

    def test_drain(self) -> None:
        h = Harness(self).start()
        h.queue.set_drain_flag(True)
        self.assertTrue(h.queue.is_drained())
        self.assertTrue(h.paths.queue_drain.exists())
        f = self.failureResultOf(h.queue.submit_job([dummy()]), errors.JobQueueDrainError)
        self.assertEqual(str(f.value), "Queue drained")
        self.failureResultOf(h.queue.submit_many_jobs([[dummy()]]), errors.JobQueueDrainError)
        d = h.queue.submit_job([dummy()], ignore_drain=True)
        h.tick()
        self.assertEqual(self.successResultOf(d), 1)
        h.queue.set_drain_flag(False)
        self.assertFalse(h.queue.is_drained())
        self.assertEqual(h.submit(dummy()), 2)

    def test_submit_many_partial(self) -> None:
        h = Harness(self).start()
        d = h.queue.submit_many_jobs([[dummy()], [delay(duration=-1)], [dummy()]])
        h.tick()
        res = self.successResultOf(d)
        self.assertEqual(res[0], [True, 1])
        self.assertFalse(res[1][0])
        self.assertIn("'duration'", res[1][1])
        self.assertEqual(res[2], [True, 2])


class RunTests(SynchronousTestCase):
    def test_trivial_job_succeeds(self) -> None:
        h = Harness(self).start()
        job_id = h.submit(dummy(result={"a": 1}, messages=["hello"]))
        self.assertEqual(h.status(job_id), "success")
        h.tick()
        data = h.file(job_id)
        op = data["ops"][0]
        self.assertEqual(op["status"], "success")
        self.assertEqual(op["result"], {"a": 1})
        self.assertEqual(op["log"][0][0], 1)
        self.assertEqual(op["log"][0][2:], ["message", "hello"])
        for key in ("start_timestamp", "exec_timestamp", "end_timestamp"):
            self.assertIsNotNone(op[key])
        self.assertIsNotNone(data["end_timestamp"])
        self.assertEqual(h.locks.list_locks()[0].owners, ())

    def test_delay_on_master(self) -> None:
        h = Harness(self).start()
        job_id = h.submit(delay(5))
        self.assertEqual(h.status(job_id), "running")
        h.tick(4.9)
        self.assertEqual(h.status(job_id), "running")
        h.tick(0.1)
        self.assertEqual(h.status(job_id), "success")

    def test_failure_marks_following_ops(self) -> None:
        h = Harness(self).start()
        job_id = h.submit(dummy(), dummy(fail=True), dummy())
        self.assertEqual(h.status(job_id), "error")
        self.assertEqual(h.field(job_id, "opstatus"), ["success", "error", "error"])
        res = h.field(job_id, "opresult")
        self.assertEqual(res[1], ["OpExecError", ["LUTestDummy failed as requested"]])
        self.assertEqual(res[2], ["OpExecError", ["Preceding opcode failed"]])

    def test_prereq_error_encoding(self) -> None:
        h = Harness(self).start()
        job_id = h.submit(delay(0, on_nodes=["nosuch.test"]))
        self.assertEqual(h.status(job_id), "error")
        res = h.field(job_id, "opresult")[0]
        self.assertEqual(res[0], "OpPrereqError")
        self.assertIn("nosuch.test", res[1][0])
        self.assertEqual(res[1][1], "unknown_entity")

    def test_not_implemented(self) -> None:
        h = Harness(self).start()
        job_id = h.submit({"OP_ID": "OP_RESTRICTED_COMMAND", "nodes": ["x"], "command": "y"})
        res = h.field(job_id, "opresult")[0]
        self.assertEqual(res[0], "OpCodeUnknown")
        self.assertIn("not implemented yet", res[1][0])

    def test_max_running_jobs(self) -> None:
        h = Harness(self, max_running_jobs=2).start()
        ids = [h.submit(delay(10)) for _ in range(3)]
        self.assertEqual([h.status(i) for i in ids], ["running", "running", "queued"])
        self.assertEqual(h.queue.running_job_ids(), ids[:2])
        h.queue.max_running_jobs = 3
        self.assertEqual(h.status(ids[2]), "running")
        h.tick(10)
        self.assertEqual([h.status(i) for i in ids], ["success"] * 3)

    def test_slot_freed_starts_next(self) -> None:
        h = Harness(self, max_running_jobs=1).start()
        a = h.submit(delay(10))
        b = h.submit(delay(10))
        self.assertEqual(h.status(b), "queued")
        h.tick(10)
        self.assertEqual(h.status(a), "success")
        self.assertEqual(h.status(b), "running")

    def test_priority_order(self) -> None:
        h = Harness(self, max_running_jobs=1).start()
        blocker = h.submit(delay(1))
        low = h.submit(delay(1, priority=10))
        normal = h.submit(delay(1))
        high = h.submit(delay(1, priority=-10))
        h.tick(1)
        self.assertEqual(h.status(blocker), "success")
        self.assertEqual(h.status(high), "running")
        h.tick(1)
        self.assertEqual(h.status(normal), "running")
        h.tick(1)
        self.assertEqual(h.status(low), "running")
        self.assertEqual(h.field(low, "priority"), 10)

    def test_many_trivial_jobs_no_recursion_trouble(self) -> None:
        h = Harness(self, max_running_jobs=2).start()
        d = h.queue.submit_many_jobs([[dummy(result=i)] for i in range(300)])
        h.tick()
        res = self.successResultOf(d)
        self.assertEqual(len(res), 300)
        h.tick()
        rows = h.queue.query_jobs(None, ["status"])
        self.assertEqual({r[0] for r in rows}, {"success"})


class DependencyTests(SynchronousTestCase):
    def test_absolute_success(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(5))
        b = h.submit(dummy(depends=[[a, ["success"]]]))
        self.assertEqual(h.status(b), "waiting")
        self.assertEqual(h.queue.running_job_ids(), [a])
        h.tick(5)
        self.assertEqual(h.status(b), "success")

    def test_unmet_status_fails(self) -> None:
        h = Harness(self).start()
        a = h.submit(dummy(fail=True))
        b = h.submit(dummy(depends=[[a, ["success"]]]))
        self.assertEqual(h.status(b), "error")
        self.assertIn("has status 'error'", h.field(b, "opresult")[0][1][0])

    def test_any_final_status(self) -> None:
        h = Harness(self).start()
        a = h.submit(dummy(fail=True))
        b = h.submit(dummy(depends=[[a, []]]))
        self.assertEqual(h.status(b), "success")

    def test_canceled_dependency_cancels(self) -> None:
        h = Harness(self, max_running_jobs=1).start()
        blocker = h.submit(delay(5))
        a = h.submit(dummy())
        b = h.submit(dummy(depends=[[a, ["success"]]]))
        self.assertEqual(h.queue.cancel_job(a), [True, f"Dequeued job {a}"])
        h.tick(5)
        self.assertEqual(h.status(blocker), "success")
        self.assertEqual(h.status(b), "canceled")
        self.assertEqual(h.field(b, "opresult"), ["Job canceled by request"])

    def test_unknown_dependency(self) -> None:
        h = Harness(self).start()
        b = h.submit(dummy(depends=[[999, []]]))
        self.assertEqual(h.status(b), "error")
        self.assertIn("999 not found", h.field(b, "opresult")[0][1][0])

    def test_relative_in_submit_many(self) -> None:
        h = Harness(self).start()
        d = h.queue.submit_many_jobs(
            [[delay(3)], [dummy(depends=[[-1, ["success"]]])], [dummy(depends=[[-2, []]])]]
        )
        h.tick()
        res = self.successResultOf(d)
        self.assertEqual(res, [[True, 1], [True, 2], [True, 3]])
        self.assertEqual(h.field(2, "ops")[0]["depends"], [[1, ["success"]]])
        self.assertEqual(h.field(3, "ops")[0]["depends"], [[1, []]])
        self.assertEqual(h.status(2), "waiting")
        h.tick(3)
        self.assertEqual([h.status(i) for i in (1, 2, 3)], ["success"] * 3)

    def test_relative_out_of_batch(self) -> None:
        h = Harness(self).start()
        d = h.queue.submit_many_jobs([[dummy(depends=[[-1, []]])]])
        h.tick()
        [[ok, msg]] = self.successResultOf(d)
        self.assertFalse(ok)
        self.assertIn("Relative job dependency", msg)

    def test_relative_refused_in_single_submit(self) -> None:
        h = Harness(self).start()
        self.failureResultOf(h.queue.submit_job([dummy(depends=[[-1, []]])]), errors.ParameterError)

    def test_self_dependency_refused(self) -> None:
        h = Harness(self).start()
        d = h.queue.submit_job([dummy(depends=[[1, []]])])
        h.tick()
        f = self.failureResultOf(d, errors.ParameterError)
        self.assertIn("cannot depend on itself", str(f.value))
        self.assertFalse(h.paths.job_file(1).exists())
        self.assertEqual(h.submit(dummy()), 2)


class CancelTests(SynchronousTestCase):
    def test_cancel_queued(self) -> None:
        h = Harness(self, max_running_jobs=1).start()
        h.submit(delay(5))
        b = h.submit(dummy())
        self.assertEqual(h.queue.cancel_job(b), [True, f"Dequeued job {b}"])
        self.assertEqual(h.status(b), "canceled")
        h.tick()
        self.assertEqual(h.file(b)["ops"][0]["status"], "canceled")
        h.tick(5)
        self.assertEqual(h.status(b), "canceled")

    def test_cancel_waiting_for_locks(self) -> None:
        h = Harness(self).start()
        held = h.locks.acquire("admin", LEVEL_CLUSTER, [BGL])
        self.assertEqual(self.successResultOf(held), frozenset([BGL]))
        a = h.submit(dummy())
        b = h.submit(dummy())
        self.assertEqual((h.status(a), h.status(b)), ("waiting", "waiting"))
        self.assertTrue(h.locks.is_waiting(a))
        ok, msg = h.queue.cancel_job(a)
        self.assertTrue(ok, msg)
        self.assertEqual(h.status(a), "canceled")
        self.assertEqual(h.field(a, "opresult"), ["Job canceled by request"])
        self.assertFalse(h.locks.is_waiting(a))
        h.locks.release("admin")
        self.assertEqual(h.status(b), "success")
        self.assertEqual(h.locks.list_locks()[0].owners, ())

    def test_cancel_running_refused(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(5))
        self.assertEqual(h.queue.cancel_job(a), [False, "Job no longer waiting, can't cancel"])
        self.assertEqual(h.status(a), "running")
        h.tick(5)
        self.assertEqual(h.status(a), "success")
        self.assertFalse(h.queue.cancel_job(a)[0])
        self.assertFalse(h.queue.cancel_job(12345)[0])

    def test_kill_running(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(5))
        ok, _ = h.queue.cancel_job(a, kill=True)
        self.assertTrue(ok)
        self.assertEqual(h.status(a), "canceled")
        self.assertEqual(h.clock.getDelayedCalls(), [h.clock.getDelayedCalls()[0]])


class WaitTests(SynchronousTestCase):
    def test_unknown_job(self) -> None:
        h = Harness(self).start()
        self.failureResultOf(
            h.queue.wait_for_job_change(77, ["status"], None, None, 10), errors.JobLost
        )

    def test_immediate_when_different(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(5))
        d = h.queue.wait_for_job_change(a, ["status"], ["queued"], None, 10)
        self.assertEqual(self.successResultOf(d), [["running"], []])

    def test_blocks_until_change(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(5))
        d = h.queue.wait_for_job_change(a, ["status"], ["running"], None, 30)
        self.assertNoResult(d)
        # Watchers hear of the final state only once it is on disk.
        d.addCallback(lambda r: (h.file(a)["ops"][0]["status"], r))
        h.tick(5)
        self.assertEqual(self.successResultOf(d), ("success", [["success"], []]))

    def test_finalized_returns_at_once(self) -> None:
        h = Harness(self).start()
        a = h.submit(dummy())
        h.tick()
        d = h.queue.wait_for_job_change(a, ["status"], ["success"], None, 30)
        self.assertEqual(self.successResultOf(d), [["success"], []])

    def test_timeout_returns_unchanged_and_is_capped(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(500))
        d = h.queue.wait_for_job_change(a, ["status", "opstatus"], ["running", ["running"]], 0, 300)
        h.tick(88.9)
        self.assertNoResult(d)
        h.tick(0.1)
        self.assertEqual(self.successResultOf(d), [["running", ["running"]], []])

    def test_log_serial_filtering(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(1, repeat=3))
        d = h.queue.wait_for_job_change(a, ["status"], ["running"], None, 30)
        [_info, entries] = self.successResultOf(d)
        self.assertEqual([e[0] for e in entries], [1])
        self.assertEqual(entries[0][2:], ["message", "Test delay iteration 0/3"])
        d = h.queue.wait_for_job_change(a, ["status"], ["running"], 1, 30)
        self.assertNoResult(d)
        h.tick(1)
        [_info, entries] = self.successResultOf(d)
        self.assertEqual([e[0] for e in entries], [2])
        h.tick(2)
        h.tick()
        self.assertEqual([e[0] for e in h.field(a, "oplog")[0]], [1, 2, 3])

    def test_cancelled_wait_drops_timer(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(50))
        d = h.queue.wait_for_job_change(a, ["status"], ["running"], None, 30)
        before = len(h.clock.getDelayedCalls())
        d.cancel()
        self.failureResultOf(d)
        self.assertEqual(len(h.clock.getDelayedCalls()), before - 1)


class PriorityTests(SynchronousTestCase):
    def test_change_priority_of_queued(self) -> None:
        h = Harness(self, max_running_jobs=1).start()
        h.submit(delay(1))
        b = h.submit(delay(1))
        c = h.submit(delay(1))
        ok, _ = h.queue.change_job_priority(c, -10)
        self.assertTrue(ok)
        self.assertEqual(h.field(c, "oppriority"), [-10])
        h.tick(1)
        self.assertEqual((h.status(b), h.status(c)), ("queued", "running"))

    def test_change_priority_of_lock_wait(self) -> None:
        h = Harness(self).start()
        self.successResultOf(h.locks.acquire("admin", LEVEL_CLUSTER, [BGL]))
        a = h.submit(dummy())
        b = h.submit(dummy())
        # Queue an exclusive waiter behind them so that order matters.
        self.assertTrue(h.queue.change_job_priority(b, -10)[0])
        pending = h.locks.list_locks()[0].pending
        self.assertEqual({(p.owner, p.priority) for p in pending}, {(a, 0), (b, -10)})

    def test_change_priority_refusals(self) -> None:
        h = Harness(self).start()
        a = h.submit(dummy())
        self.assertFalse(h.queue.change_job_priority(a, -10)[0])
        self.assertFalse(h.queue.change_job_priority(999, -10)[0])
        self.assertFalse(h.queue.change_job_priority(a, 3)[0])


class ArchiveTests(SynchronousTestCase):
    def test_archive_job(self) -> None:
        h = Harness(self).start()
        a = h.submit(dummy())
        b = h.submit(delay(5))
        self.assertFalse(h.queue.archive_job(b))
        self.assertTrue(h.queue.archive_job(a))
        self.assertFalse(h.paths.job_file(a).exists())
        archived = h.paths.queue_dir / "archive" / "0" / f"job-{a}"
        self.assertTrue(archived.exists())
        self.assertEqual(json.loads(archived.read_text())["ops"][0]["status"], "success")
        self.assertEqual(h.replicator.renames, [(h.paths.job_file(a), archived)])
        self.assertEqual(h.queue.query_jobs([a], ["status", "archived"]), [["success", True]])
        self.assertEqual([j.id for j in h.queue.iter_jobs()], [b])
        self.assertEqual([j.id for j in h.queue.iter_jobs(include_archived=True)], [b, a])
        self.assertFalse(h.queue.archive_job(a))

    def test_auto_archive(self) -> None:
        h = Harness(self).start()
        old = h.submit(dummy())
        h.tick(100)
        new = h.submit(dummy())
        running = h.submit(delay(1000))
        self.assertEqual(h.queue.auto_archive_jobs(50, 10), [1, 0])
        self.assertEqual([j.id for j in h.queue.iter_jobs()], [new, running])
        self.assertTrue(h.paths.archived_job_file(old).exists())
        self.assertEqual(h.queue.auto_archive_jobs(-1, 10), [1, 0])
        self.assertEqual([j.id for j in h.queue.iter_jobs()], [running])


class RecoveryTests(SynchronousTestCase):
    def _crashed_job(self, paths: Paths, job_id: int, statuses: list[str]) -> None:
        ops = []
        for st in statuses:
            ops.append(
                {
                    "input": dummy(result=st),
                    "status": st,
                    "result": None,
                    "log": [],
                    "priority": 0,
                    "start_timestamp": None if st == "queued" else [int(T0), 0],
                    "exec_timestamp": [int(T0), 5] if st == "running" else None,
                    "end_timestamp": None,
                }
            )
        job = {
            "id": job_id,
            "ops": ops,
            "received_timestamp": [int(T0), 0],
            "start_timestamp": None,
            "end_timestamp": None,
        }
        paths.job_file(job_id).write_text(json.dumps(job))

    def test_restart(self) -> None:
        h = Harness(self)
        h.paths.queue_dir.mkdir(parents=True, exist_ok=True)
        self._crashed_job(h.paths, 3, ["success", "running", "queued"])
        self._crashed_job(h.paths, 4, ["waiting"])
        self._crashed_job(h.paths, 5, ["queued", "queued"])
        h.paths.job_file(6).write_text("{not json")
        h.paths.queue_serial.write_text("6\n")
        h.start()
        self.assertEqual(h.field(3, "opstatus"), ["success", "error", "error"])
        self.assertEqual(
            h.field(3, "opresult")[1],
            ["OpExecError", ["Job was running when the master daemon stopped"]],
        )
        self.assertEqual(h.status(4), "error")
        self.assertEqual(h.field(4, "opresult")[0][1], [MSG_MASTER_STOPPED])
        self.assertEqual(h.status(5), "success")
        self.assertEqual(h.queue.query_jobs([6], ["status"]), [None])
        h.tick()
        self.assertEqual(h.file(3)["ops"][1]["status"], "error")
        self.assertEqual(h.file(5)["ops"][1]["status"], "success")
        self.assertEqual(h.submit(dummy()), 7)
        self.flushLoggedErrors()

    def test_unknown_version_refused(self) -> None:
        h = Harness(self)
        h.paths.queue_dir.mkdir(parents=True, exist_ok=True)
        h.paths.queue_version.write_text("7\n")
        self.assertRaises(errors.JobQueueError, h.queue.start)


class QueryTests(SynchronousTestCase):
    def test_fields(self) -> None:
        h = Harness(self).start()
        a = h.submit(delay(2, on_master=True))
        h.tick(2)
        fields = [
            "id",
            "status",
            "ops",
            "opstatus",
            "opresult",
            "oplog",
            "summary",
            "received_ts",
            "start_ts",
            "end_ts",
            "priority",
            "oppriority",
            "opstart",
            "opexec",
            "opend",
            "archived",
        ]
        [row] = h.queue.query_jobs([a], fields)
        values = dict(zip(fields, row, strict=True))
        self.assertEqual(values["id"], a)
        self.assertEqual(values["summary"], ["TEST_DELAY(2)"])
        self.assertEqual(values["start_ts"], [int(T0), 0])
        self.assertEqual(values["end_ts"], [int(T0) + 2, 0])
        self.assertEqual(values["opexec"], [[int(T0), 0]])
        self.assertFalse(values["archived"])
        self.assertRaises(errors.OpPrereqError, h.queue.query_jobs, [a], ["nonsense"])
        self.assertEqual(h.queue.query_jobs(None, ["id"]), [[a]])
