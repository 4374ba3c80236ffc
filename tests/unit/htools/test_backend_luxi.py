"""The LUXI backend and ``hbal -L -X`` against a fake master: Query rows made from
Ganeti's recorded RAPI answers (the same cluster as the hscan text file), job
execution (job sets in order, WaitForJobChange, the first failure stops), the
opcodes of every move type, and the whole command over a real unix socket."""

from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
from typing import Any

import numpy as np
from twisted.trial.unittest import TestCase

from ganeti.htools import execute as ex
from ganeti.htools.backend import luxi
from ganeti.htools.backend.text import load_text_file, serialize_cluster
from ganeti.htools.balance import Step
from ganeti.htools.cli import hbal, hinfo
from ganeti.htools.model import Cluster
from ganeti.htools.moves import Move, MoveType
from ganeti.htools.types import HToolsError
from ganeti.luxi import protocol as proto

from .test_backend_rapi import HSCAN, fixture

RS_UNAVAIL = 2


def _value(rec: dict[str, Any], field: str) -> tuple[int, Any]:
    if field.startswith("be/"):
        src, key = rec.get("beparams", {}), field[3:]
    elif field.startswith("ndp/"):
        src, key = rec.get("ndparams", {}), field[4:]
    else:
        src, key = rec, field
    if key not in src:
        return (1, None)  # RS_UNKNOWN
    if src[key] is None and field in ("mtotal", "mfree", "oper_ram"):
        return (RS_UNAVAIL, None)
    return (0, src[key])


class FakeMaster:
    """Query/QueryClusterInfo from the RAPI fixtures; a tiny job queue."""

    def __init__(self, fail_instances: frozenset[str] = frozenset()) -> None:
        self.docs = {
            "group": fixture("groups.json"),
            "node": fixture("nodes.json"),
            "instance": fixture("instances.json"),
        }
        self.info = fixture("info.json")
        self.fail = fail_instances
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.jobs: dict[int, dict[str, Any]] = {}
        self.events: list[str] = []

    def call(self, method: str, *args: Any) -> Any:
        self.calls.append((method, args))
        if method == "Query":
            what, fields, _filter = args
            rows = [[_value(rec, f) for f in fields] for rec in self.docs[what]]
            return {"fields": [{"name": f} for f in fields], "data": rows}
        if method == "QueryClusterInfo":
            return self.info
        if method == "QueryTags":
            return ["t1"]
        if method == "SubmitManyJobs":
            (jobs,) = args
            out = []
            for ops in jobs:
                job_id = len(self.jobs) + 1
                name = ops[0]["instance_name"]
                failed = name in self.fail
                self.jobs[job_id] = {"ops": ops, "name": name, "failed": failed, "polls": 0}
                self.events.append(f"submit {job_id} {name}")
                out.append([True, job_id])
            return out
        if method == "WaitForJobChange":
            job_id, _fields, _prev, _serial, _timeout = args
            job = self.jobs[job_id]
            job["polls"] += 1
            if job["polls"] < 2:  # first answer: still running
                return [["running"], []]
            status = "error" if job["failed"] else "success"
            self.events.append(f"done {job_id}")
            return [[status], [[1, [0, 0], "message", "log line"]]]
        if method == "QueryJobs":
            (ids, _fields) = args
            job = self.jobs[ids[0]]
            return [
                [
                    "error",
                    ["error"],
                    [["OpPrereqError", ["Instance is not DRBD-based", "wrong_input"]]],
                ]
                if job["failed"]
                else ["success", ["success"], [None]]
            ]
        raise AssertionError(f"unexpected LUXI call {method}")


def build(data: Any) -> Cluster:
    return Cluster.build(data.groups, data.nodes, data.instances, data.cluster_tags, data.ipolicy)


class LoaderTests(TestCase):
    def test_same_model_as_the_text_backend(self) -> None:
        fake = FakeMaster()
        got = luxi.load_luxi(client=fake)
        want = load_text_file(HSCAN)
        self.assertEqual(serialize_cluster(build(got)), serialize_cluster(build(want)))
        methods = [m for m, _ in fake.calls]
        self.assertEqual(methods, ["Query", "Query", "Query", "QueryClusterInfo"])
        self.assertEqual(
            [a[0] for m, a in fake.calls if m == "Query"], ["group", "node", "instance"]
        )
        self.assertEqual(fake.calls[1][1][1], luxi.NODE_FIELDS)

    def test_unavailable_live_data_of_an_offline_node(self) -> None:
        fake = FakeMaster()
        node = fake.docs["node"][0]
        node["offline"] = True
        node["mtotal"] = node["mfree"] = None
        data = luxi.load_luxi(client=fake)
        self.assertTrue(data.nodes[0].offline)
        self.assertEqual(data.nodes[0].t_mem, 0.0)

    def test_tags_via_query_tags(self) -> None:
        fake = FakeMaster()
        del fake.info["tags"]
        self.assertEqual(luxi.load_luxi(client=fake).cluster_tags, ["t1"])

    def test_missing_socket(self) -> None:
        with self.assertRaises(HToolsError) as ctx:
            luxi.load_luxi("/nonexistent/ganeti-query")
        self.assertIn("failed to load data, aborting: master daemon socket", str(ctx.exception))


def _cluster() -> Cluster:
    return build(load_text_file(HSCAN))


class OpcodeTests(TestCase):
    def test_move_types(self) -> None:
        c = _cluster()
        running = [i.name for i in c.inst_specs].index("instance2")
        stopped = [i.name for i in c.inst_specs].index("instance4")
        n1 = c.node_names.index("node1")

        def ids(mv: Move) -> list[str]:
            return [op["OP_ID"] for op in ex.move_opcodes(c, mv)]

        mig, fo, rep = "OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER", "OP_INSTANCE_REPLACE_DISKS"
        self.assertEqual(ids(Move(running, MoveType.FAILOVER)), [mig])
        self.assertEqual(ids(Move(stopped, MoveType.FAILOVER)), [fo])
        self.assertEqual(ids(Move(running, MoveType.REPLACE_SECONDARY, n1)), [rep])
        self.assertEqual(ids(Move(running, MoveType.REPLACE_AND_FAILOVER, n1)), [rep, mig])
        self.assertEqual(ids(Move(running, MoveType.REPLACE_PRIMARY, n1)), [mig, rep, mig])
        self.assertEqual(ids(Move(stopped, MoveType.FAILOVER_AND_REPLACE, n1)), [fo, rep])
        [op] = ex.move_opcodes(c, Move(running, MoveType.FAILOVER_TO_ANY, n1))
        self.assertEqual(op["target_node"], "node1")
        self.assertTrue(op["allow_failover"])
        [op] = ex.move_opcodes(c, Move(running, MoveType.FAILOVER))
        self.assertNotIn("target_node", op)
        [op] = ex.move_opcodes(c, Move(running, MoveType.REPLACE_SECONDARY, n1))
        self.assertEqual((op["mode"], op["remote_node"]), ("replace_new_secondary", "node1"))


def _plan(c: Cluster) -> list[Step]:
    """The hbal plan of the fixture cluster (8 moves, see the golden output)."""
    from ganeti.htools.balance import BalanceOptions, Balancer

    nodes = np.arange(c.n_nodes)
    insts = np.arange(c.n_instances)
    return Balancer(c, nodes, insts, BalanceOptions()).run(lambda n, s: None)


class ExecuteTests(TestCase):
    def test_job_sets_run_in_order(self) -> None:
        c = _cluster()
        steps = _plan(c)
        self.assertEqual(len(steps), 8)
        fake = FakeMaster()
        out = io.StringIO()
        ex.execute_plan(c, steps, fake, out, io.StringIO())
        from ganeti.htools.jobs import jobsets

        sets = jobsets(steps)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2 * len(sets))
        self.assertTrue(lines[0].startswith("Executing jobset for instances instance4"))
        self.assertEqual(len(fake.jobs), 8)
        # A job set is submitted only after every job of the previous one finished.
        pos = 0
        for members in sets:
            first = fake.events.index(f"submit {pos + 1} " + fake.jobs[pos + 1]["name"])
            before = {int(e.split()[1]) for e in fake.events[:first] if e.startswith("done")}
            self.assertEqual(before, set(range(1, pos + 1)))
            pos += len(members)
        self.assertEqual(pos, 8)
        self.assertNotIn("SubmitJob", [m for m, _ in fake.calls])
        for job in fake.jobs.values():
            for op in job["ops"]:
                self.assertEqual(op["reason"][0][0], "gnt:client:hbal")

    def test_first_failure_stops(self) -> None:
        c = _cluster()
        steps = _plan(c)
        fake = FakeMaster(fail_instances=frozenset({"instance2"}))
        with self.assertRaises(HToolsError) as ctx:
            ex.execute_plan(c, steps, fake, io.StringIO(), io.StringIO())
        msg = str(ctx.exception)
        self.assertIn("Not all jobs completed successfully", msg)
        self.assertIn("(instance instance2) error: Instance is not DRBD-based", msg)
        self.assertTrue(msg.endswith("Aborting."))
        self.assertLess(len(fake.jobs), 8)  # later job sets were not submitted

    def test_first_job_group_and_priority(self) -> None:
        c = _cluster()
        steps = _plan(c)
        fake = FakeMaster()
        ex.execute_plan(
            c, steps, fake, io.StringIO(), io.StringIO(), first_only=True, priority="low"
        )
        from ganeti.htools.jobs import jobsets

        self.assertEqual(len(fake.jobs), len(jobsets(steps)[0]))
        self.assertEqual(fake.jobs[1]["ops"][0]["priority"], 10)


class _SocketMaster:
    """FakeMaster behind a real LUXI unix socket (one connection at a time)."""

    def __init__(self, master: FakeMaster) -> None:
        self.master = master
        self.dir = tempfile.mkdtemp(prefix="hb-luxi-")
        self.path = os.path.join(self.dir, "sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            framer = proto.Framer()
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    for raw in framer.feed(data):
                        req = proto.parse_request(raw)
                        result = self.master.call(req.method, *req.args)
                        conn.sendall(proto.encode_reply(True, result))

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


class CommandLineTests(TestCase):
    def serve(self, master: FakeMaster) -> str:
        srv = _SocketMaster(master)
        self.addCleanup(srv.close)
        return srv.path

    def run_tool(self, module: Any, args: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        try:
            code = module.run(args, out, err)
        except HToolsError as exc:
            err.write(f"Error: {exc}\n")
            code = 1
        return code, out.getvalue(), err.getvalue()

    def test_hinfo_luxi_equals_text(self) -> None:
        path = self.serve(FakeMaster())
        a = self.run_tool(hinfo, ["-v", "-v", "-p", "-L" + path])
        b = self.run_tool(hinfo, ["-v", "-v", "-p", "-t", HSCAN])
        self.assertEqual(a, b)

    def test_hbal_execute(self) -> None:
        master = FakeMaster()
        path = self.serve(master)
        code, out, err = self.run_tool(hbal, ["-L" + path, "-X", "-C"])
        self.assertEqual(code, 0, err)
        self.assertIn("Solution length=8", out)
        self.assertIn("Executing jobset for instances instance4", out)
        self.assertIn("Got job IDs 1", out)
        self.assertEqual(len(master.jobs), 8)

    def test_hbal_execute_failure_exit_code(self) -> None:
        path = self.serve(FakeMaster(fail_instances=frozenset({"instance4"})))
        code, _out, err = self.run_tool(hbal, ["-L" + path, "-X"])
        self.assertEqual(code, 1)
        self.assertTrue(err.startswith("Error: hbal: Not all jobs completed successfully"), err)

    def test_execute_needs_luxi(self) -> None:
        code, _out, err = self.run_tool(hbal, ["-t", HSCAN, "-X"])
        self.assertEqual(code, 1)
        self.assertEqual(err, "Error: hbal: Execution of commands possible only on LUXI\n")
