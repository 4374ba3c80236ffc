"""``gnt-cluster verify-disks`` against a scripted LUXI client: what it submits, what it
prints, its exit code."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti.cli import gnt_cluster
from ganeti.cli.verify_disks import verify_disks


class ScriptedClient:
    """Jobs finish at once; results per job id are set by the test."""

    def __init__(self, results: dict[int, Any], failing: dict[int, list[Any]] | None = None):
        self.results = results
        self.failing = failing or {}
        self.submitted: list[list[dict[str, Any]]] = []
        self.next_id = max(results, default=1) + 1

    def _new(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        job_id = self.next_id
        self.next_id += 1
        return job_id

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self.submitted.append(ops)
        return 1  # the CLI submits one OP_CLUSTER_VERIFY_DISKS job

    def submit_many_jobs(self, jobs: list[list[dict[str, Any]]]) -> list[Any]:
        return [[True, self._new(ops)] for ops in jobs]

    def wait_for_job_change(self, job_id: int, *_args: Any) -> Any:
        status = "error" if job_id in self.failing else "success"
        return [[status], [[1, [0, 0], "message", f"log of job {job_id}"]]]

    def query_jobs(self, ids: list[int], _fields: list[str]) -> Any:
        [job_id] = ids
        if job_id in self.failing:
            return [["error", ["error"], [self.failing[job_id]]]]
        return [["success", ["success"], [self.results.get(job_id)]]]


def parse(*argv: str) -> Any:
    return gnt_cluster.build().parse_args(["verify-disks", *argv])


class VerifyDisksCliTests(SynchronousTestCase):
    def run_cli(self, client: ScriptedClient, *argv: str) -> tuple[int, list[str], list[str]]:
        out: list[str] = []
        err: list[str] = []
        code = verify_disks(client, parse(*argv), out.append, err.append)
        return code, out, err

    def test_all_fine(self) -> None:
        client = ScriptedClient(
            {1: {"jobs": [[True, 2], [True, 3]]}, 2: [{}, [], {}], 3: [{}, [], {}]}
        )
        code, out, err = self.run_cli(client)
        self.assertEqual(code, 0)
        self.assertEqual(
            out,
            [
                "Submitted jobs 2, 3",
                "Waiting for job 2 ...",
                "Waiting for job 3 ...",
                "No disks need to be activated.",
            ],
        )
        self.assertEqual(err, [])
        [op] = client.submitted[0]
        self.assertEqual((op["OP_ID"], op["is_strict"]), ("OP_CLUSTER_VERIFY_DISKS", True))
        self.assertNotIn("group_name", op)

    def test_group_and_no_strict_and_priority(self) -> None:
        client = ScriptedClient({1: {"jobs": [[True, 2]]}, 2: [{}, [], {}]})
        code, out, _err = self.run_cli(client, "-g", "rack1", "--no-strict", "--priority", "low")
        self.assertEqual(code, 0)
        [op] = client.submitted[0]
        self.assertEqual((op["group_name"], op["is_strict"], op["priority"]), ("rack1", False, 10))
        # -v shows the group job's log.
        _c, out, _e = self.run_cli(
            ScriptedClient({1: {"jobs": [[True, 2]]}, 2: [{}, [], {}]}), "-v"
        )
        self.assertTrue(any(line.endswith("log of job 2") for line in out), out)

    def test_activates_and_reports(self) -> None:
        client = ScriptedClient(
            {
                1: {"jobs": [[True, 2], [True, 3]]},
                2: [{}, ["web1", "db1"], {}],
                3: [{}, ["web2"], {}],
            },
            failing={5: ["OpExecError", ["cannot assemble disk/0 on node node3: gone"]]},
        )
        code, out, err = self.run_cli(client)
        self.assertEqual(code, 1)
        activations = client.submitted[1:]
        self.assertEqual(
            [(j[0]["OP_ID"], j[0]["instance_name"]) for j in activations],
            [
                ("OP_INSTANCE_ACTIVATE_DISKS", "web1"),
                ("OP_INSTANCE_ACTIVATE_DISKS", "db1"),
                ("OP_INSTANCE_ACTIVATE_DISKS", "web2"),
            ],
        )
        self.assertEqual(
            out[-5:],
            [
                "Activating the disks of instance web1",
                "Activating the disks of instance db1",
                "Activating the disks of instance web2",
                "Activated the disks of instance web1",
                "Activated the disks of instance web2",
            ],
        )
        self.assertIn("Activated the disks of instance web1", out)
        self.assertIn("Activated the disks of instance web2", out)
        self.assertNotIn("Activated the disks of instance db1", out)
        self.assertEqual(
            err,
            [
                "Could not activate the disks of instance db1: "
                "cannot assemble disk/0 on node node3: gone"
            ],
        )
        self.assertNotIn("No disks need to be activated.", out)

    def test_successful_activation_exits_zero(self) -> None:
        client = ScriptedClient({1: {"jobs": [[True, 2]]}, 2: [{}, ["web1"], {}]})
        code, out, _err = self.run_cli(client)
        self.assertEqual(code, 0)
        self.assertEqual(out[-1], "Activated the disks of instance web1")

    def test_node_errors_and_missing_volumes(self) -> None:
        client = ScriptedClient(
            {
                1: {"jobs": [[True, 2]]},
                2: [
                    {"node3.test": "cannot list logical volumes: connection refused"},
                    [],
                    {"db1": [["node2.test", "xenvg/db1.disk0"]]},
                ],
            }
        )
        code, out, _err = self.run_cli(client)
        self.assertEqual(code, 1)
        self.assertIn(
            "Could not check the disks on node node3.test: "
            "cannot list logical volumes: connection refused",
            out,
        )
        i = out.index("Instance db1 has missing logical volumes:")
        self.assertEqual(out[i + 1], "  node node2.test: xenvg/db1.disk0")
        self.assertIn("recreate-disks", out[i + 2])
        self.assertEqual(len(client.submitted), 1)  # nothing to activate

    def test_failed_group_job_and_submit_failure(self) -> None:
        client = ScriptedClient(
            {1: {"jobs": [[True, 2], [False, "queue drained"]]}},
            failing={2: ["OpPrereqError", ["node group 'x' does not exist", "unknown_entity"]]},
        )
        code, out, err = self.run_cli(client)
        self.assertEqual(code, 1)
        self.assertEqual(err[0], "Could not submit a disk verification job: queue drained")
        self.assertIn("Disk verification job 2 failed", err[1])
        self.assertNotIn("No disks need to be activated.", out)

    def test_submit_only(self) -> None:
        client = ScriptedClient({})
        code, out, _err = self.run_cli(client, "--submit")
        self.assertEqual((code, out), (0, ["JobID: 1"]))
