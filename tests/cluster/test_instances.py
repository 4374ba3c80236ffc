"""Instances end to end: 3 real noded + masterd on loopback, fake hypervisor, file disks,
every gnt-instance/gnt-os command through the console scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from tests.cluster.daemons import start_daemons

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
BIN = Path(sys.executable).parent
REPO_OS = Path(__file__).resolve().parents[2] / "etc" / "os"


class InstanceClusterTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-inst-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        # devcluster.prepare installed the project's OS definitions (noop, image).
        start_daemons(self, self.nodes)
        for node in self.nodes[1:]:
            self.gnt("gnt-node", "add", "--primary-ip", node.address, node.name)

    def gnt(self, *args: str, check: bool = True) -> str:
        env = {
            **os.environ,
            "GANETI_ROOT": str(self.nodes[0].root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        out = proc.stdout + proc.stderr
        if check and proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed ({proc.returncode}): {out}")
        if not check and proc.returncode == 0:
            self.fail(f"{' '.join(args)} succeeded but should have failed: {out}")
        return out

    def listing(self, fields: str = "name,pnode,status,admin_state") -> dict[str, list[str]]:
        out = self.gnt("gnt-instance", "list", "--no-headers", "--separator", "|", "-o", fields)
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1:] for r in rows}

    def disk_files(self) -> list[Path]:
        found = []
        for node in self.nodes:
            found += [p for p in node.paths.default_file_storage_dir.rglob("*") if p.is_file()]
        return found

    def config_instances(self) -> list[str]:
        data = json.loads(self.nodes[0].paths.config_data.read_text())
        return sorted(i["name"] for i in data["instances"].values())

    def test_lifecycle(self) -> None:
        out = self.gnt("gnt-os", "list")
        self.assertIn("noop", out)
        self.assertIn("valid", self.gnt("gnt-os", "diagnose"))
        self.assertIn("API versions: 20", self.gnt("gnt-os", "info", "noop"))

        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "file",
            "-n",
            "node2.test",
            "-o",
            "noop",
            "--disk",
            "0:size=1G",
            "-B",
            "maxmem=256,minmem=128",
            "web1",
        )
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "diskless",
            "-o",
            "noop",
            "--no-install",
            "--no-start",
            "--net",
            "0:mode=routed,link=br9",
            "db1",
        )  # built-in allocator
        rows = self.listing()
        self.assertEqual(rows["web1"], ["node2.test", "running", "up"])
        self.assertEqual(rows["db1"][1:], ["ADMIN_down", "down"])
        default = self.gnt("gnt-instance", "list")
        self.assertIn("Instance", default.splitlines()[0])
        self.assertIn("256M", default)
        [disk] = [p for p in self.disk_files() if "web1" in str(p)]
        self.assertIn("node2.test", str(disk))

        info = self.gnt("gnt-instance", "info", "web1")
        self.assertIn("actual state is up", info)
        self.assertIn("disk/0: file", info)
        self.assertIn("console", self.gnt("gnt-instance", "console", "web1").lower())

        self.gnt("gnt-instance", "reboot", "-t", "hard", "web1")
        self.gnt("gnt-instance", "reboot", "-t", "full", "web1")
        self.gnt("gnt-instance", "shutdown", "--timeout", "5", "web1")
        self.assertEqual(self.listing()["web1"][1], "ADMIN_down")
        self.gnt("gnt-instance", "modify", "-B", "vcpus=2", "--net", "add:mode=routed", "web1")
        self.gnt("gnt-instance", "modify", "--disk", "add:size=1G", "web1")
        self.gnt("gnt-instance", "grow-disk", "web1", "0", "512M")
        sizes = self.listing("name,disk.sizes,nic.count,be/vcpus")["web1"]
        self.assertEqual(sizes, ["1536,1024", "2", "2"])
        self.gnt("gnt-instance", "modify", "--disk", "1:remove", "web1")
        self.gnt("gnt-instance", "reinstall", "-f", "web1")
        self.assertIn("renamed to 'web2'", self.gnt("gnt-instance", "rename", "web1", "web2"))
        self.assertTrue(all("web2" in str(p) for p in self.disk_files()))
        out = self.gnt("gnt-instance", "activate-disks", "web2")
        self.assertIn("node2.test:disk/0:", out)
        self.gnt("gnt-instance", "deactivate-disks", "web2")
        for p in self.disk_files():
            p.unlink()
        self.gnt("gnt-instance", "recreate-disks", "web2")
        self.assertEqual(len(self.disk_files()), 1)
        self.gnt("gnt-instance", "startup", "web2", "db1")
        rows = self.listing()
        self.assertEqual([rows["web2"][1], rows["db1"][1]], ["running", "running"])
        self.gnt("gnt-instance", "add-tags", "web2", "role:web")
        self.assertIn("role:web", self.gnt("gnt-instance", "list-tags", "web2"))

        # The watcher restarts an instance that died (ERROR_down) ...
        self.gnt("gnt-instance", "shutdown", "--no-remember", "db1")
        self.assertEqual(self.listing()["db1"][1], "ERROR_down")
        out = self.gnt("ganeti-watcher")
        self.assertIn("Restarting db1", out)
        self.wait_status("db1", "running")

        for name in ("web2", "db1"):
            self.gnt("gnt-instance", "remove", "-f", name)
        self.assertEqual(self.listing(), {})
        self.assertEqual(self.disk_files(), [])

    def wait_status(self, name: str, status: str, limit: float = 30) -> None:
        deadline = time.monotonic() + limit
        while self.listing().get(name, ["", ""])[1] != status:
            self.assertLess(time.monotonic(), deadline, f"{name} never became {status}")
            time.sleep(0.3)

    def test_bad_input(self) -> None:
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "file",
            "-n",
            "node2.test",
            "-o",
            "noop",
            "--disk",
            "0:size=1G",
            "web1",
        )
        base = ["gnt-instance", "add", "-t", "file", "-o", "noop"]
        cases = [
            ([*base, "-n", "node2.test", "--disk", "0:size=1G", "web1"], "already exists"),
            ([*base, "-n", "node2.test", "--disk", "0:size=1G", "-o", "nosuch", "x"], "nosuch"),
            ([*base, "-n", "node3.test", "--disk", "0:size=900T", "x"], "violates policy"),
            ([*base, "-n", "node3.test", "--disk", "0:size=1000000", "x"], "disk space"),
            ([*base, "-n", "node3.test", "--disk", "0:size=1G", "-H", "bogus=1", "x"], "bogus"),
        ]
        for args, text in cases:
            self.assertIn(text, self.gnt(*args, check=False), args)
        self.gnt("gnt-node", "modify", "--offline", "yes", "node3.test")
        out = self.gnt(*base, "-n", "node3.test", "--disk", "0:size=1G", "x", check=False)
        self.assertIn("offline", out)
        self.assertEqual(self.config_instances(), ["web1"])
        self.assertEqual(len(self.disk_files()), 1)
        self.assertIn(
            "already exists", self.gnt("gnt-instance", "rename", "web1", "web1", check=False)
        )
        self.assertIn("unknown", self.gnt("gnt-instance", "startup", "nosuch", check=False).lower())
