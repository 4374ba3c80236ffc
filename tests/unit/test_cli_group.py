"""gnt-group, gnt-cluster (info/verify/modify/rename/destroy) and tag commands against a
fake LUXI client."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from ganeti.cli import base, gnt_cluster, gnt_group


class FakeClient:
    def __init__(self) -> None:
        self.jobs: list[list[dict[str, Any]]] = []
        self.calls: list[tuple[Any, ...]] = []
        self.results: list[Any] = [None]
        self.query_result: dict[str, Any] = {"fields": [], "data": []}
        self.call_result: Any = None

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit_job(self, ops: list[dict[str, Any]]) -> int:
        self.jobs.append(ops)
        return len(self.jobs)

    def query(self, what: str, fields: list[str], qfilter: Any = None) -> Any:
        self.calls.append(("query", what, fields, qfilter))
        return self.query_result

    def call(self, method: str, *args: Any) -> Any:
        self.calls.append((method, *args))
        return self.call_result


class CliCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.client = FakeClient()
        self.patch(base, "get_client", lambda: self.client)
        self.patch(base, "wait_job", lambda client, job_id: self.client.results)

    def run_cli(self, module: Any, argv: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                module.main(argv)
            except SystemExit as exc:
                code = int(exc.code or 0)
        return code, out.getvalue(), err.getvalue()

    def op(self, job: int = -1, index: int = 0) -> dict[str, Any]:
        op = dict(self.client.jobs[job][index])
        op.pop("reason", None)
        return op


class GroupCliTests(CliCase):
    def test_add_with_options(self) -> None:
        code, _, _ = self.run_cli(
            gnt_group,
            [
                "add",
                "--alloc-policy",
                "last_resort",
                "-N",
                "spindle_count=2,no_exclusive_storage",
                "-D",
                "drbd:resync-rate=100",
                "--ipolicy-std-specs",
                "memory-size=256",
                "--ipolicy-bounds-specs",
                "min:memory-size=128,cpu-count=1/max:memory-size=512,cpu-count=2",
                "--ipolicy-vcpu-ratio",
                "2.5",
                "--tags",
                "a,b",
                "rack2",
            ],
        )
        self.assertEqual(code, 0)
        self.assertEqual(
            self.op(),
            {
                "OP_ID": "OP_GROUP_ADD",
                "group_name": "rack2",
                "alloc_policy": "last_resort",
                "ndparams": {"spindle_count": "2", "exclusive_storage": False},
                "diskparams": {"drbd": {"resync-rate": "100"}},
                "ipolicy": {
                    "std": {"memory-size": 256},
                    "minmax": [
                        {
                            "min": {"memory-size": 128, "cpu-count": 1},
                            "max": {"memory-size": 512, "cpu-count": 2},
                        }
                    ],
                    "vcpu-ratio": 2.5,
                },
            },
        )
        self.assertEqual(
            self.op(index=1),
            {"OP_ID": "OP_TAGS_SET", "kind": "nodegroup", "name": "rack2", "tags": ["a", "b"]},
        )

    def test_simple_commands(self) -> None:
        self.run_cli(gnt_group, ["remove", "g"])
        self.assertEqual(self.op(), {"OP_ID": "OP_GROUP_REMOVE", "group_name": "g"})
        self.run_cli(gnt_group, ["rename", "g", "h"])
        self.assertEqual(
            self.op(), {"OP_ID": "OP_GROUP_RENAME", "group_name": "g", "new_name": "h"}
        )
        self.run_cli(gnt_group, ["assign-nodes", "--force", "g", "n1", "n2"])
        self.assertEqual(
            self.op(),
            {
                "OP_ID": "OP_GROUP_ASSIGN_NODES",
                "group_name": "g",
                "nodes": ["n1", "n2"],
                "force": True,
            },
        )

    def test_submit_prints_job_id(self) -> None:
        code, out, _ = self.run_cli(gnt_group, ["remove", "--submit", "g"])
        self.assertEqual((code, out), (0, "JobID: 1\n"))

    def test_modify_prints_changes(self) -> None:
        self.client.results = [[["alloc_policy", "unallocable"]]]
        code, out, _ = self.run_cli(gnt_group, ["modify", "--alloc-policy", "unallocable", "g"])
        self.assertEqual(code, 0)
        self.assertEqual(out, "Modified node group g\n - alloc_policy -> unallocable\n")
        code, _, err = self.run_cli(gnt_group, ["modify", "g"])
        self.assertEqual(code, 2)
        self.assertIn("at least one", err)

    def test_list(self) -> None:
        self.client.query_result = {
            "fields": [
                {"name": "name", "title": "Group", "kind": "text"},
                {"name": "node_cnt", "title": "Nodes", "kind": "number"},
            ],
            "data": [[[0, "default"], [0, 3]], [[0, "rack2"], [0, 12]]],
        }
        code, out, _ = self.run_cli(gnt_group, ["list", "-o", "name,node_cnt", "default", "rack2"])
        self.assertEqual(code, 0)
        self.assertEqual(out, "Group   Nodes\ndefault     3\nrack2      12\n")
        _q, what, fields, qfilter = self.client.calls[-1]
        self.assertEqual((what, fields), ("group", ["name", "node_cnt"]))
        self.assertEqual(qfilter, ["|", ["=", "name", "default"], ["=", "name", "rack2"]])
        self.run_cli(gnt_group, ["list"])
        self.assertEqual(self.client.calls[-1][2], gnt_group.DEFAULT_FIELDS)

    def test_info(self) -> None:
        values = {
            "name": "default",
            "uuid": "u-1",
            "serial_no": 3,
            "ctime": 0,
            "mtime": 0,
            "alloc_policy": "preferred",
            "node_list": ["n1", "n2"],
            "pinst_list": [],
            "tags": ["t"],
            "custom_ndparams": {"ssh_port": 23},
            "ndparams": {"ssh_port": 23, "spindle_count": 1},
            "custom_diskparams": {},
            "diskparams": {"plain": {"stripes": 1}},
            "custom_ipolicy": {},
            "ipolicy": {"vcpu-ratio": 4.0},
        }
        self.client.query_result = {
            "fields": [],
            "data": [[[0, values[f]] for f in gnt_group.INFO_FIELDS]],
        }
        code, out, _ = self.run_cli(gnt_group, ["info"])
        self.assertEqual(code, 0)
        self.assertIn("Node group: default\n  UUID: u-1\n", out)
        self.assertIn("  Nodes: n1, n2\n", out)
        self.assertIn("    spindle_count: 1 (default)\n    ssh_port: 23\n", out)
        self.assertIn("  Disk parameters:\n    plain:\n      stripes: 1\n", out)


class TagCliTests(CliCase):
    def test_add_tags_with_file(self) -> None:
        path = self.mktemp()
        with open(path, "w") as handle:
            handle.write("from-file\n\nsecond\n")
        code, _, _ = self.run_cli(gnt_group, ["add-tags", "--from", path, "rack1", "cli"])
        self.assertEqual(code, 0)
        self.assertEqual(
            self.op(),
            {
                "OP_ID": "OP_TAGS_SET",
                "kind": "nodegroup",
                "tags": ["cli", "from-file", "second"],
                "name": "rack1",
            },
        )

    def test_cluster_remove_and_list(self) -> None:
        self.run_cli(gnt_cluster, ["remove-tags", "a", "b"])
        self.assertEqual(self.op(), {"OP_ID": "OP_TAGS_DEL", "kind": "cluster", "tags": ["a", "b"]})
        self.client.call_result = ["z", "a"]
        code, out, _ = self.run_cli(gnt_cluster, ["list-tags"])
        self.assertEqual((code, out), (0, "a\nz\n"))
        self.assertEqual(self.client.calls[-1], ("QueryTags", "cluster", None))
        self.run_cli(gnt_group, ["list-tags", "rack1"])
        self.assertEqual(self.client.calls[-1], ("QueryTags", "nodegroup", "rack1"))

    def test_missing_tags(self) -> None:
        code, _, err = self.run_cli(gnt_group, ["add-tags", "rack1"])
        self.assertEqual(code, 2)
        self.assertIn("No tags to be added", err)

    def test_search(self) -> None:
        self.client.results = [[["/cluster", "prod"], ["/nodes/n1", "prod-db"]]]
        code, out, _ = self.run_cli(gnt_cluster, ["search-tags", "^prod"])
        self.assertEqual((code, out), (0, "/cluster prod\n/nodes/n1 prod-db\n"))
        self.assertEqual(self.op(), {"OP_ID": "OP_TAGS_SEARCH", "pattern": "^prod"})
        self.client.results = [[]]
        code, _, _ = self.run_cli(gnt_cluster, ["search-tags", "nothing"])
        self.assertEqual(code, 1)


class ClusterCliTests(CliCase):
    def test_verify_exit_codes(self) -> None:
        self.client.results = [{"jobs": [], "ok": True}]
        code, _, _ = self.run_cli(gnt_cluster, ["verify", "--error-codes", "-I", "ENODEN1"])
        self.assertEqual(code, 0)
        op = self.op()
        self.assertTrue(op["error_codes"])
        self.assertEqual(op["ignore_errors"], ["ENODEN1"])
        self.client.results = [{"jobs": [], "ok": False}]
        code, _, _ = self.run_cli(gnt_cluster, ["verify", "--no-nplus1-mem"])
        self.assertEqual(code, 1)
        self.assertEqual(self.op()["skip_checks"], ["nplusone_mem"])

    def test_modify(self) -> None:
        code, _, _ = self.run_cli(
            gnt_cluster,
            [
                "modify",
                "--candidate-pool-size",
                "5",
                "--max-running-jobs",
                "7",
                "--enabled-hypervisors",
                "kvm,fake",
                "-H",
                "kvm:acpi=no",
                "-B",
                "maxmem=256",
                "--hidden-os",
                "add:lenny,remove:etch",
                "--maintain-node-health",
                "yes",
                "--reserved-lvs",
                "",
                "--uid-pool",
                "1000-1999,3000",
            ],
        )
        self.assertEqual(code, 0)
        self.assertEqual(
            self.op(),
            {
                "OP_ID": "OP_CLUSTER_SET_PARAMS",
                "candidate_pool_size": 5,
                "max_running_jobs": 7,
                "maintain_node_health": True,
                "enabled_hypervisors": ["kvm", "fake"],
                "reserved_lvs": [],
                "hidden_os": [["add", "lenny"], ["remove", "etch"]],
                "uid_pool": [[1000, 1999], [3000, 3000]],
                "hvparams": {"kvm": {"acpi": "no"}},
                "beparams": {"maxmem": "256"},
            },
        )
        code, _, _err = self.run_cli(gnt_cluster, ["modify"])
        self.assertEqual(code, 2)

    def test_rename_and_destroy(self) -> None:
        self.client.results = ["new.test"]
        code, out, _ = self.run_cli(gnt_cluster, ["rename", "-f", "new.test"])
        self.assertEqual((code, out), (0, "Cluster renamed to new.test.\n"))
        self.assertEqual(self.op(), {"OP_ID": "OP_CLUSTER_RENAME", "name": "new.test"})
        code, _, err = self.run_cli(gnt_cluster, ["destroy"])
        self.assertEqual(code, 1)
        self.assertIn("--yes-do-it", err)
        self.client.results = ["node1.test"]
        code, out, _ = self.run_cli(gnt_cluster, ["destroy", "--yes-do-it"])
        self.assertEqual(code, 0)
        self.assertEqual(self.op(), {"OP_ID": "OP_CLUSTER_DESTROY"})

    def test_info(self) -> None:
        self.client.call_result = {
            "name": "cluster.test",
            "uuid": "c-1",
            "master": "node1.test",
            "architecture": ["64bit", "x86_64"],
            "tags": ["b", "a"],
            "default_hypervisor": "fake",
            "enabled_hypervisors": ["fake"],
            "hvparams": {"fake": {"migration_mode": "live"}},
            "candidate_pool_size": 10,
            "max_running_jobs": 20,
            "reserved_lvs": [],
            "uid_pool": [[1000, 1001]],
            "ipolicy": {"vcpu-ratio": 4.0},
        }
        code, out, _ = self.run_cli(gnt_cluster, ["info"])
        self.assertEqual(code, 0)
        self.assertIn("Cluster name: cluster.test\n", out)
        self.assertIn("Master node: node1.test\n", out)
        self.assertIn("Tags: a, b\n", out)
        self.assertIn("Hypervisor parameters:\n  fake:\n    migration_mode: live\n", out)
        self.assertIn("  candidate pool size: 10\n", out)
        self.assertIn("  lvm reserved volumes: (none)\n", out)
        self.assertIn("  uid pool: 1000-1001\n", out)
        self.assertEqual(self.client.calls[-1], ("QueryClusterInfo",))
