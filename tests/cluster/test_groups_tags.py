"""gnt-group, tag and gnt-cluster commands through the console scripts against a real
master daemon and node daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.config.store import load_config

NODES = [("node1.test", "127.0.1.1")]
BIN = Path(sys.executable).parent


class GroupsTagsTests(TestCase):
    timeout = 180

    def setUp(self) -> None:
        if not (BIN / "gnt-group").exists():
            self.skipTest("gnt-group console script not installed (pip install -e .)")
        base = Path(tempfile.mkdtemp(prefix="gnt-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port, "cluster.test")
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.master = self.nodes[0]
        pid = devcluster.start_masterd(self.master, sys.executable)
        self.addCleanup(devcluster.stop_pid, pid, self.master.root, "ganeti.masterd.tap")
        devcluster.wait_socket(self.master.paths.luxi_socket, pid)

    def gnt(self, tool: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, GANETI_ROOT=str(self.master.root))
        env.pop("GANETI_LUXI_SOCKET", None)
        proc = subprocess.run(
            [str(BIN / tool), *args], env=env, capture_output=True, text=True, timeout=60
        )
        if ok:
            self.assertEqual(proc.returncode, 0, f"{tool} {args}: {proc.stdout}{proc.stderr}")
        else:
            self.assertNotEqual(proc.returncode, 0, f"{tool} {args} unexpectedly succeeded")
        return proc

    def test_groups_and_tags(self) -> None:
        self.gnt("gnt-group", "add", "--alloc-policy", "last_resort", "--tags", "new", "rack2")
        out = self.gnt("gnt-group", "list", "--no-headers", "-o", "name,alloc_policy").stdout
        self.assertEqual(out.split(), ["default", "preferred", "rack2", "last_resort"])
        self.gnt("gnt-group", "assign-nodes", "rack2", "node1.test")
        failed = self.gnt("gnt-group", "remove", "rack2", ok=False)
        self.assertIn("not empty", failed.stderr)
        self.gnt("gnt-group", "remove", "default")
        self.gnt("gnt-group", "rename", "rack2", "main")
        self.gnt("gnt-group", "modify", "-N", "ssh_port=2222", "main")
        info = self.gnt("gnt-group", "info", "main").stdout
        self.assertIn("Node group: main", info)
        self.assertIn("ssh_port: 2222", info)

        self.gnt("gnt-group", "add-tags", "main", "web", "db")
        self.assertEqual(self.gnt("gnt-group", "list-tags", "main").stdout, "db\nnew\nweb\n")
        self.gnt("gnt-cluster", "add-tags", "prod")
        bad = self.gnt("gnt-cluster", "add-tags", "bad tag", ok=False)
        self.assertIn("invalid characters", bad.stderr)
        self.gnt("gnt-group", "remove-tags", "main", "db")
        search = self.gnt("gnt-cluster", "search-tags", "e").stdout
        self.assertEqual(search, "/nodegroup/main new\n/nodegroup/main web\n")

        config = load_config(self.master.paths.config_data)
        [group] = config.nodegroups.values()
        self.assertEqual((group.name, sorted(group.tags)), ("main", ["new", "web"]))
        self.assertEqual(config.cluster.tags, {"prod"})

    def test_cluster_commands(self) -> None:
        self.gnt("gnt-cluster", "modify", "--max-running-jobs", "7", "--mac-prefix", "aa:11:22")
        info = self.gnt("gnt-cluster", "info").stdout
        self.assertIn("Cluster name: cluster.test", info)
        self.assertIn("maximal number of jobs running simultaneously: 7", info)
        self.assertIn("mac prefix: aa:11:22", info)
        verify = self.gnt("gnt-cluster", "verify")
        self.assertNotIn("ERROR", verify.stdout)
        # One config job and one job per group (as Ganeti); errors in any give exit 1.
        out = verify.stdout + verify.stderr
        self.assertRegex(out, r"Submitted jobs \d+, \d+\n")
        self.assertIn("Verifying cluster config", out)
        self.assertIn("Verifying group 'default'", out)
        bad = self.gnt("gnt-cluster", "verify", "--debug-simulate-errors", ok=False)
        self.assertIn("ERROR", bad.stdout + bad.stderr)
        one = self.gnt("gnt-cluster", "verify", "-g", "default")
        self.assertNotIn("Verifying cluster config", one.stdout + one.stderr)
        self.gnt("gnt-cluster", "rename", "-f", "renamed.test")
        self.assertIn("Cluster name: renamed.test", self.gnt("gnt-cluster", "info").stdout)
