"""gnt-node evacuate / migrate / failover end to end, and a live migration whose target
node daemon is killed in the middle: 3 real noded + masterd on loopback, fake hypervisor,
sharedfile instances on one directory all nodes see (the set-up of test_migration)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.hypervisor.fake import MIGRATION_SECONDS_FILE
from ganeti.rapi import devtools
from tests.cluster.daemons import start_daemons
from tests.cluster.test_migration import NODES, SHARED_WIRE, share_storage
from tests.cluster.test_rapi_lifecycle import RapiClient

BIN = Path(sys.executable).parent


class NodeMovesClusterTests(TestCase):
    timeout = 600

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-evac-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        self.shared = self.base / "shared-storage"
        share_storage(self.nodes, self.shared)
        start_daemons(self, self.nodes)
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

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GANETI_ROOT": str(self.nodes[0].root),
            "GANETI_NODED_PORT": str(self.port),
        }

    def gnt(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        out = proc.stdout + proc.stderr
        if check and proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({proc.returncode}): {out}")
        if not check and proc.returncode == 0:
            self.fail(f"{' '.join(args)} succeeded but should have failed: {out}")
        return out

    def listing(self) -> dict[str, list[str]]:
        out = self.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode,status"
        )
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1:] for r in rows}

    def state_nodes(self, name: str) -> list[str]:
        """Nodes whose fake hypervisor holds a state file for ``name``."""
        return [n.name for n in self.nodes if (n.paths.run_dir / "fake-hv" / name).exists()]

    def add(self, name: str, node: str, template: str = "sharedfile") -> None:
        disk = [] if template == "diskless" else ["--disk", "0:size=1G"]
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            template,
            "-n",
            node,
            "-o",
            "noop",
            *disk,
            "-B",
            "maxmem=128,minmem=128",
            name,
        )

    def serial(self, name: str) -> int:
        out = self.gnt("gnt-instance", "list", "--no-headers", "-o", "serial_no", name)
        return int(out.strip())

    def assert_consistent(self, names: list[str]) -> dict[str, list[str]]:
        """Every instance runs exactly where the configuration says."""
        rows = self.listing()
        for name in names:
            pnode, status = rows[name]
            self.assertEqual(status, "running", name)
            self.assertEqual(self.state_nodes(name), [pnode], name)
        return rows

    def test_evacuate_migrate_failover(self) -> None:
        names = [f"vm{i:02d}" for i in range(10)]
        for name in names:
            self.add(name, "node2.test")
        self.assert_consistent(names)

        # Without --force and without a terminal: refused, nothing moves.
        out = self.gnt("gnt-node", "evacuate", "-p", "node2.test", check=False)
        self.assertIn("--force", out)

        out = self.gnt("gnt-node", "evacuate", "-f", "-p", "node2.test")
        self.assertIn("via iallocator builtin", out)
        self.assertIn("All instances evacuated successfully.", out)
        self.assertEqual(out.count("Waiting for job"), 10)
        rows = self.assert_consistent(names)
        where = sorted(rows[n][0] for n in names)
        self.assertEqual(where, ["node1.test"] * 5 + ["node3.test"] * 5)
        out = self.gnt("gnt-node", "list", "--no-headers", "-o", "name,pinst_cnt", "node2.test")
        self.assertEqual(out.split(), ["node2.test", "0"])

        # Node migrate: node3's instances go elsewhere (each job picks its target).
        on3 = [n for n in names if rows[n][0] == "node3.test"]
        out = self.gnt("gnt-node", "migrate", "-f", "node3.test")
        self.assertIn("All instances migrated successfully.", out)
        rows = self.assert_consistent(names)
        self.assertEqual([n for n in names if rows[n][0] == "node3.test"], [])
        for name in on3:
            self.assertIn(rows[name][0], ("node1.test", "node2.test"))

        # Node failover of node1 to node2/node3 (downtime, but all end up running).
        out = self.gnt("gnt-node", "failover", "-f", "-I", "builtin", "node1.test")
        self.assertIn("instance(s) failed over successfully.", out)
        rows = self.assert_consistent(names)
        self.assertEqual([n for n in names if rows[n][0] == "node1.test"], [])

        # Nothing left on node1: a friendly no-op.
        out = self.gnt("gnt-node", "migrate", "-f", "node1.test")
        self.assertIn("No primary instances on node node1.test", out)

        # The configuration agrees with the nodes.
        self.gnt("gnt-cluster", "verify")

    def test_evacuate_refuses_node_local_instances(self) -> None:
        self.add("web1", "node2.test")
        self.add("local1", "node2.test", "file")
        out = self.gnt("gnt-node", "evacuate", "-f", "-p", "node2.test", check=False)
        self.assertIn("Unable to evacuate instances local1", out)
        self.assertIn("'file' disks", out)
        self.assertNotIn("web1 (", out)
        rows = self.listing()
        self.assertEqual(rows["web1"], ["node2.test", "running"])
        self.assertEqual(rows["local1"], ["node2.test", "running"])
        # node migrate submits the jobs; the file instance's job fails: non-zero exit.
        out = self.gnt("gnt-node", "migrate", "-f", "node2.test", check=False)
        self.assertIn("There were 1 errors during the node migration.", out)
        rows = self.listing()
        self.assertNotEqual(rows["web1"][0], "node2.test")
        self.assertEqual(rows["local1"], ["node2.test", "running"])

    def test_target_node_daemon_killed_during_migration(self) -> None:
        self.add("web1", "node2.test")
        source, target = self.nodes[1], self.nodes[2]
        # The source's fake hypervisor now takes 30 s to "transfer the memory".
        hook = source.paths.run_dir / MIGRATION_SECONDS_FILE
        hook.write_text("30\n")
        before = self.serial("web1")
        proc = subprocess.Popen(
            [str(BIN / "gnt-instance"), "migrate", "-f", "-n", "node3.test", "web1"],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        try:
            incoming = target.paths.run_dir / "fake-hv" / "web1"
            deadline = time.monotonic() + 60
            while not incoming.exists():
                self.assertIsNone(proc.poll(), "migrate ended before the target accepted")
                self.assertLess(time.monotonic(), deadline, "the target never accepted")
                time.sleep(0.02)
            self.assertEqual(json.loads(incoming.read_text())["state"], "migrating")
            # The target node daemon dies while the memory is being transferred.
            pid = target.pid
            assert pid is not None
            self.assertTrue(devcluster.is_ours(pid, target.root))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            target.pid = None
            out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertNotEqual(proc.returncode, 0, out)
        self.assertIn("the target node node3.test stopped answering", out)
        self.assertIn("still running on node2.test", out)
        # Still running on the source; the configuration did not change.
        self.assertEqual(self.listing()["web1"], ["node2.test", "running"])
        state = json.loads((source.paths.run_dir / "fake-hv" / "web1").read_text())
        self.assertNotIn("migrated_to", state)
        self.assertEqual(self.serial("web1"), before)

        # The target comes back: --cleanup drops its half-accepted copy, and a new
        # migration (fast again) succeeds.
        hook.unlink()
        devcluster.start_noded(target, sys.executable)
        devcluster.wait_listening([target])
        out = self.gnt("gnt-instance", "migrate", "-f", "--cleanup", "web1")
        self.assertIn("dropping the half-accepted copy on node3.test", out)
        self.assertEqual(self.state_nodes("web1"), ["node2.test"])
        self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "web1")
        self.assertEqual(self.listing()["web1"], ["node3.test", "running"])
        self.assertEqual(self.state_nodes("web1"), ["node3.test"])

    def test_rapi_node_evacuate_and_migrate(self) -> None:
        master = self.nodes[0]
        user, password = devtools.create_demo_user(master.paths)
        rport = devcluster.free_port(master.address)
        rpid = devtools.start_rapi(master, sys.executable, rport, tls=True)
        self.addCleanup(devtools.stop_rapi, master, rpid)
        devtools.wait_rapi(master.address, rport, rpid)
        api = RapiClient(
            devtools.rapi_url(master, rport, tls=True), master.paths.rapi_pem, user, password
        )
        names = ["vm1", "vm2", "vm3"]
        for name in names:
            self.add(name, "node2.test")

        def fan_out(path: str, body: dict[str, object]) -> None:
            job = api.run("POST", path, body)
            [result] = job["opresult"]
            self.assertEqual(len(result["jobs"]), 3, result)
            for ok, child in result["jobs"]:
                self.assertTrue(ok, child)
                self.assertEqual(api.wait(child)["status"], "success")

        fan_out("/2/nodes/node2.test/evacuate", {"mode": "primary-only"})
        rows = self.assert_consistent(names)
        self.assertNotIn("node2.test", [rows[n][0] for n in names])
        # Move them all to node3 one by one, then node-migrate node3 (mode in the body).
        for name in names:
            if rows[name][0] != "node3.test":
                self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", name)
        fan_out("/2/nodes/node3.test/migrate", {"mode": "non-live"})
        rows = self.assert_consistent(names)
        self.assertNotIn("node3.test", [rows[n][0] for n in names])
        # Bad input: a clear 400-class error, not a job.
        code, data = api.request("POST", "/2/nodes/node3.test/evacuate", {"mode": "sideways"})
        self.assertEqual(code, 400, data)

    def test_change_group(self) -> None:
        self.gnt("gnt-group", "add", "g2")
        self.gnt("gnt-group", "assign-nodes", "g2", "node3.test")
        self.add("web1", "node2.test")
        out = self.gnt("gnt-instance", "change-group", "--to", "default", "web1", check=False)
        self.assertIn("already uses group(s) default", out)
        out = self.gnt("gnt-instance", "change-group", "--to", "g2", "web1")
        self.assertIn("Instance web1 changed group successfully.", out)
        self.assert_consistent(["web1"])
        self.assertEqual(self.listing()["web1"], ["node3.test", "running"])
