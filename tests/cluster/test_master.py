"""The real master daemon with real node daemons: many jobs, and a master killed mid-run."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.config.store import load_config
from ganeti.luxi.client import LuxiClient

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2")]
FINAL = {"success", "error", "canceled"}


def delay(
    duration: float,
    *,
    priority: int = 0,
    nodes: list[str] | None = None,
    depends: list[Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "OP_ID": "OP_TEST_DELAY",
        "duration": duration,
        "on_master": not nodes,
        "on_nodes": nodes or [],
        "priority": priority,
    }
    if depends:
        op["depends"] = depends
    return op


class MasterTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        # Unix socket paths are limited to 107 bytes: keep the roots short.
        base = Path(tempfile.mkdtemp(prefix="gnt-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port, "cluster.test")
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.master = self.nodes[0]
        self.start_master()

    def start_master(self) -> None:
        self.master_pid = devcluster.start_masterd(self.master, sys.executable)
        self.addCleanup(self.stop_master, self.master_pid)
        devcluster.wait_socket(self.master.paths.luxi_socket, self.master_pid)

    def stop_master(self, pid: int) -> None:
        devcluster.stop_pid(pid, self.master.root, "ganeti.masterd.tap")

    def client(self) -> LuxiClient:
        return LuxiClient(self.master.paths.luxi_socket)

    def wait_final(self, client: LuxiClient, ids: list[int], limit: float = 120) -> list[Any]:
        deadline = time.monotonic() + limit
        while True:
            rows = client.query_jobs(ids, ["id", "status", "opresult"])
            if all(r is not None and r[1] in FINAL for r in rows):
                return rows
            if time.monotonic() > deadline:
                pending = [r for r in rows if r is None or r[1] not in FINAL]
                self.fail(f"{len(pending)} jobs not finished, e.g. {pending[:3]}")
            time.sleep(0.2)

    def test_200_jobs_with_dependencies_and_priorities(self) -> None:
        rng = random.Random(1234)
        jobs: list[list[dict[str, Any]]] = []
        expected: list[str] = []
        for i in range(200):
            prio = rng.choice([-10, 0, 10])
            bad = rng.random() < 0.1
            op = delay(0, priority=prio, nodes=["no-such-node"] if bad else None)
            outcome = "error" if bad else "success"
            if i and rng.random() < 0.5:
                back = rng.randint(1, min(i, 10))
                strict = rng.random() < 0.5
                op["depends"] = [[-back, ["success"] if strict else []]]
                dep_outcome = expected[i - back]
                if strict and dep_outcome != "success":
                    # A required status that was not reached fails (or cancels) the job.
                    outcome = "canceled" if dep_outcome == "canceled" else "error"
            jobs.append([op])
            expected.append(outcome)
        with self.client() as client:
            submitted = client.submit_many_jobs(jobs)
            self.assertTrue(all(ok for ok, _ in submitted), submitted[:3])
            ids = [job_id for _, job_id in submitted]
            self.assertEqual(ids, sorted(ids))
            rows = self.wait_final(client, ids)
        got = [r[1] for r in rows]
        mismatches = [
            (i, e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if e != g
        ]
        self.assertEqual(mismatches, [])
        self.assertGreater(got.count("error"), 5)

    def test_kill_master_while_jobs_run(self) -> None:
        with self.client() as client:
            ids = [client.submit_job([delay(4)]) for _ in range(50)]
            deadline = time.monotonic() + 30
            while True:
                rows = client.query_jobs(ids, ["status"])
                running = sum(1 for r in rows if r[0] == "running")
                if running >= 20:
                    break
                self.assertLess(time.monotonic(), deadline, f"only {running} running")
                time.sleep(0.1)
        os.kill(self.master_pid, signal.SIGKILL)
        os.waitpid(self.master_pid, 0)
        before = {job_id: status[0] for job_id, status in zip(ids, rows, strict=True)}

        self.start_master()
        with self.client() as client:
            rows = self.wait_final(client, ids, limit=180)
        after = {r[0]: (r[1], r[2]) for r in rows}
        for job_id, status in before.items():
            final, result = after[job_id]
            if status in ("running", "waiting"):
                self.assertEqual(final, "error", (job_id, status, after[job_id]))
                self.assertIn("master daemon", json.dumps(result))
            elif status == "queued":
                self.assertEqual(final, "success", (job_id, status, after[job_id]))
        self.assertEqual(sum(1 for s in before.values() if s == "queued"), 30)

        # Everything on disk validates: the config and every job file.
        load_config(self.master.paths.config_data)
        for job_id in ids:
            data = json.loads(self.master.paths.job_file(job_id).read_text())
            self.assertEqual(data["id"], job_id)
