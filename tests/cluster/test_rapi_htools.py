"""/2/htools/hbal and /2/htools/hspace against a real cluster: masterd + 3 noded on
loopback (fake hypervisor, shared file storage as in ``test_migration``) and the real
ganeti-rapi over HTTPS.  Four instances crowd node1; ``GET /2/htools/hbal`` plans moves
(the plan ``hbal -L`` prints), ``POST`` submits its job sets (later sets depending on
earlier ones), the client waits on every job with ``/2/jobs/<id>/wait`` and the
instances end up spread over the nodes.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.rapi import devtools
from tests.cluster.test_migration import NODES, SHARED_WIRE, share_storage
from tests.cluster.test_rapi_lifecycle import RapiClient

BIN = Path(sys.executable).parent


class RapiHtoolsTests(TestCase):
    timeout = 600

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-rapiht-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        share_storage(self.nodes, self.base / "shared-storage")
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.master = self.nodes[0]
        pid = devcluster.start_masterd(self.master, sys.executable)
        self.addCleanup(devcluster.stop_pid, pid, self.master.root, "ganeti.masterd.tap")
        devcluster.wait_socket(self.master.paths.luxi_socket, pid)
        for node in self.nodes[1:]:
            self.gnt("gnt-node", "add", "--primary-ip", node.address, node.name)
        self.gnt(
            "gnt-cluster",
            "modify",
            "--enabled-disk-templates",
            "file,diskless,sharedfile",
            "--shared-file-storage-dir",
            SHARED_WIRE,
        )
        user, password = devtools.create_demo_user(self.master.paths)
        rport = devcluster.free_port(self.master.address)
        rpid = devtools.start_rapi(self.master, sys.executable, rport, tls=True)
        self.addCleanup(devtools.stop_rapi, self.master, rpid)
        devtools.wait_rapi(self.master.address, rport, rpid)
        url = devtools.rapi_url(self.master, rport, tls=True)
        self.api = RapiClient(url, self.master.paths.rapi_pem, user, password)
        devtools.add_user(self.master.paths, "viewer", "viewpw", "read")
        self.viewer = RapiClient(url, self.master.paths.rapi_pem, "viewer", "viewpw")

    def gnt(self, *args: str) -> str:
        import os

        env = {
            **os.environ,
            "GANETI_ROOT": str(self.master.root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=300
        )
        if proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def placement(self) -> dict[str, str]:
        code, rows = self.api.request("GET", "/2/instances?bulk=1")
        self.assertEqual(code, 200, rows)
        return {r["name"]: r["pnode"] for r in rows}

    def add(self, name: str, template: str) -> None:
        disk = [] if template == "diskless" else ["--disk", "0:size=1G"]
        extra = ["--no-install"] if template == "diskless" else []
        self.gnt(
            "gnt-instance", "add", "-t", template, "-n", "node1.test", "-o", "noop", *disk,
            "-B", "maxmem=512,minmem=512,vcpus=2", *extra, name,
        )  # fmt: skip

    def test_plan_execute_spread(self) -> None:
        names = ["web1", "web2", "web3", "db1"]
        for name in names[:3]:
            self.add(name, "sharedfile")
        self.add("db1", "diskless")
        self.assertEqual(set(self.placement().values()), {"node1.test"})

        # A read user gets the plan; it moves instances off node1 and changes nothing.
        code, plan = self.viewer.request("GET", "/2/htools/hbal")
        self.assertEqual(code, 200, plan)
        self.assertTrue(plan["moves"], plan)
        self.assertGreater(plan["initial_score"], plan["final_score"])
        self.assertEqual({m["from"][0] for m in plan["moves"]}, {"node1.test"})
        ops = [op["OP_ID"] for js in plan["jobsets"] for job in js for op in job]
        self.assertEqual(len(ops), len(plan["moves"]))
        self.assertEqual(set(ops), {"OP_INSTANCE_MIGRATE"})
        self.assertEqual(set(self.placement().values()), {"node1.test"})
        code, capped = self.viewer.request("GET", "/2/htools/hbal?max-moves=1")
        self.assertEqual((code, len(capped["moves"])), (200, 1), capped)
        self.assertEqual(self.viewer.request("POST", "/2/htools/hbal")[0], 403)
        self.assertEqual(self.viewer.request("GET", "/2/htools/hbal?group=nope")[0], 400)

        # hspace on the same cluster.
        code, hs = self.viewer.request(
            "GET", "/2/htools/hspace?disk-template=sharedfile&standard-alloc=1G,512,1&max=5"
        )
        self.assertEqual(code, 200, hs)
        self.assertEqual(hs["HTS_OK"], 1)
        self.assertEqual(hs["HTS_CLUSTER_NODES"], 3)
        self.assertEqual(hs["HTS_SPEC_DISK_TEMPLATE"], "sharedfile")
        self.assertLessEqual(hs["HTS_ALLOC_INSTANCES"], 5)

        # POST submits the job sets; every job is waited for through /wait.
        code, answer = self.api.request("POST", "/2/htools/hbal?reason=spread")
        self.assertEqual(code, 200, answer)
        sets: list[list[int]] = answer["jobsets"]
        self.assertEqual([len(s) for s in sets], [len(s) for s in plan["jobsets"]])
        jobs: dict[int, dict[str, Any]] = {}
        for job_id in (j for s in sets for j in s):
            jobs[job_id] = self.api.wait(job_id)
            self.assertEqual(jobs[job_id]["status"], "success", jobs[job_id])
        # Later sets ran after every job of the set before them (start_ts is when a
        # job began waiting for its dependencies; opexec when its opcode ran).
        code, q = self.api.request("GET", "/2/query/job?fields=id,opexec,end_ts")
        self.assertEqual(code, 200, q)
        times = {row[0][1]: (row[1][1], row[2][1]) for row in q["data"]}
        for before, after in itertools.pairwise(sets):
            last_end = max(times[j][1] for j in before)
            for j in after:
                self.assertGreaterEqual(times[j][0][0], last_end, (j, times))
            for j in after:
                deps = jobs[j]["ops"][0]["depends"]
                self.assertEqual(sorted(d[0] for d in deps), sorted(before))
        self.assertGreaterEqual(len(sets), 2, sets)
        where = self.placement()
        self.assertEqual(set(where), set(names))
        self.assertGreaterEqual(len(set(where.values())), 2, where)

        # Balanced now: a new plan improves less (or is empty).
        code, again = self.viewer.request("GET", "/2/htools/hbal")
        self.assertEqual(code, 200, again)
        self.assertLess(len(again["moves"]), len(plan["moves"]))
