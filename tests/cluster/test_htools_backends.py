"""htools against a real cluster: masterd + 3 noded on loopback (fake hypervisor,
shared file storage as in ``test_migration``), instances crowded on one node.

``hbal -L`` loads the cluster over LUXI and prints a plan; ``hbal -L -X`` executes
it (the instances really move, through OP_INSTANCE_MIGRATE); ``hinfo -m`` against
the real RAPI daemon (TLS, with and without credentials and CA verification) loads
the same cluster as ``hinfo -L``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.rapi import devtools
from tests.cluster.daemons import start_daemons

from .test_migration import NODES, SHARED_WIRE, share_storage

BIN = Path(sys.executable).parent


class HtoolsBackendsTests(TestCase):
    timeout = 600

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-htools-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        share_storage(self.nodes, self.base / "shared-storage")
        start_daemons(self, self.nodes)
        for node in self.nodes[1:]:
            self.run_ok("gnt-node", "add", "--primary-ip", node.address, node.name)
        self.run_ok(
            "gnt-cluster",
            "modify",
            "--enabled-disk-templates",
            "file,diskless,sharedfile",
            "--shared-file-storage-dir",
            SHARED_WIRE,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GANETI_ROOT": str(self.nodes[0].root),
            "GANETI_NODED_PORT": str(self.port),
        }

    def tool(self, *args: str) -> tuple[int, str, str]:
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        return proc.returncode, proc.stdout, proc.stderr

    def run_ok(self, *args: str) -> str:
        code, out, err = self.tool(*args)
        if code != 0:
            self.fail(f"{' '.join(args)} failed ({code}):\n{out}\n{err}")
        return out + err

    def tables(self, *backend: str) -> str:
        """hinfo's node and instance tables without live memory/disk columns (those
        change between two loads as the host's memory use moves)."""
        code, out, err = self.tool(
            "hinfo", *backend, "-p", "name,tmem,tdsk,tcpu,pcnt,scnt,plist,slist",
            "--print-instances",
        )  # fmt: skip
        if code != 0:
            self.fail(f"hinfo {' '.join(backend)} failed ({code}):\n{out}\n{err}")
        loaded = [line for line in out.splitlines() if line.startswith("Loaded ")]
        return "\n".join(loaded) + "\n" + err

    def placement(self) -> dict[str, str]:
        out = self.run_ok(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode"
        )
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1] for r in rows}

    def add(self, name: str, template: str, node: str) -> None:
        disk = [] if template == "diskless" else ["--disk", "0:size=1G"]
        extra = ["--no-install"] if template == "diskless" else []
        self.run_ok(
            "gnt-instance", "add", "-t", template, "-n", node, "-o", "noop", *disk,
            "-B", "maxmem=512,minmem=512,vcpus=2", *extra, name,
        )  # fmt: skip

    def test_hbal_luxi_plan_execute_and_rapi(self) -> None:
        names = ["web1", "web2", "web3", "db1"]
        for name in names[:3]:
            self.add(name, "sharedfile", "node1.test")
        self.add("db1", "diskless", "node1.test")
        self.assertEqual(set(self.placement().values()), {"node1.test"})

        # hinfo over LUXI sees the cluster.
        info_luxi = self.tables("-L")
        self.assertIn("Loaded 3 nodes, 4 instances, 1 node group", info_luxi)
        self.assertIn("node1.test", info_luxi)

        # hinfo over the real RAPI daemon (TLS, self-signed) loads the same cluster.
        master = self.nodes[0]
        rport = devcluster.free_port(master.address)
        rpid = devtools.start_rapi(master, port=rport)
        self.addCleanup(devtools.stop_rapi, master, rpid)
        devtools.wait_rapi(master.address, rport, rpid)
        url = devtools.rapi_url(master, rport)
        self.assertEqual(self.tables("-m", url), info_luxi)
        # HOST:PORT form, credentials in the URL, and verification against the cluster CA.
        user, password = devtools.create_demo_user(master.paths)
        host_port = f"{master.address}:{rport}"
        self.assertEqual(self.tables("-m", host_port), info_luxi)
        authed = f"https://{user}:{password}@{host_port}"
        ca = str(master.paths.rapi_pem)
        self.assertEqual(self.tables("-m", authed, "--rapi-ca-file", ca), info_luxi)
        code, _out, err = self.tool("hinfo", "-m", f"https://{user}:wrong@{host_port}")
        self.assertEqual(code, 1)
        self.assertIn("HTTP 401", err)

        # hbal -L prints a plan moving instances off node1.
        code, plan_out, err = self.tool("hbal", "-L", "-C")
        self.assertEqual(code, 0, err)
        self.assertIn("Solution length=", plan_out)
        self.assertNotIn("Solution length=0", plan_out)
        self.assertIn("gnt-instance migrate -f -n", plan_out)

        # hbal -L -X executes it: the instances are spread over the nodes.
        code, exec_out, err = self.tool("hbal", "-L", "-X")
        self.assertEqual(code, 0, exec_out + err)
        self.assertIn("Executing jobset for instances", exec_out)
        self.assertIn("Got job IDs", exec_out)
        where = self.placement()
        self.assertEqual(set(where), set(names))
        self.assertGreaterEqual(len(set(where.values())), 2, where)
        status = self.run_ok("gnt-instance", "list", "--no-headers", "-o", "status")
        self.assertEqual(status.split(), ["running"] * 4)

        # Balanced now: a second run has nothing (or less) to do, and RAPI agrees.
        code, _again, err = self.tool("hbal", "-L")
        self.assertEqual(code, 0, err)
        self.assertEqual(self.tables("-m", url), self.tables("-L"))

    def test_execution_failure_is_reported(self) -> None:
        # Every target already holds a guest of each name, so the master's first
        # move of a job set fails; -X reports the master's message and stops there.
        names = ("f1", "f2", "f3")
        for name in names:
            self.add(name, "sharedfile", "node1.test")
        for node in self.nodes[1:]:
            for name in names:
                squatter = node.paths.run_dir / "fake-hv" / name
                squatter.parent.mkdir(parents=True, exist_ok=True)
                squatter.write_text(f'{{"name": "{name}", "state": "running", "memory": 1}}')
        code, out, err = self.tool("hbal", "-L", "-X", "--reason", "cluster test")
        self.assertEqual(code, 1, out + err)
        self.assertIn("Executing jobset for instances", out)
        self.assertIn("Error: hbal: Not all jobs completed successfully: job ", err)
        self.assertRegex(err, r"job \d+ \(instance f\d\) error: .*already running")
        self.assertTrue(err.rstrip().endswith("Aborting."), err)
        self.assertEqual(out.count("Executing jobset"), 1)  # nothing after the failure
