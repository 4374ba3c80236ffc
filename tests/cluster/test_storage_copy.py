"""``gnt-instance migrate --storage-copy`` end to end: real noded + masterd on loopback,
the fake hypervisor, a ``file`` instance whose disk file (node-local: each node root has
its own file storage directory) moves with it, byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from tests.cluster.daemons import start_daemons

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
BIN = Path(sys.executable).parent


class StorageCopyClusterTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-scp-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
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

    def disk_files(self, index: int) -> list[Path]:
        storage = self.nodes[index].paths.default_file_storage_dir
        return sorted(p for p in storage.rglob("*") if p.is_file())

    def test_file_instance_migrates_with_its_disk(self) -> None:
        self.gnt(
            "gnt-instance", "add", "-t", "file", "--disk", "0:size=16M", "-n", "node2.test",
            "-o", "noop", "--ignore-ipolicy", "-B", "maxmem=128,minmem=128", "web1",
        )  # fmt: skip
        [disk] = self.disk_files(1)
        with open(disk, "r+b") as f:  # data the copy must carry (a hole in between)
            f.write(b"first MiB")
            f.seek(9 * 1024 * 1024 + 5)
            f.write(b"later data")
        content = disk.read_bytes()

        out = self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "web1", check=False)
        self.assertIn("--storage-copy", out)
        self.assertEqual(self.disk_files(2), [])

        out = self.gnt(
            "gnt-instance", "migrate", "-f", "--storage-copy", "--ignore-ipolicy",
            "-n", "node3.test", "web1",
        )  # fmt: skip
        self.assertIn("for the copy", out)
        self.assertIn("copied to the target", out)
        [moved] = self.disk_files(2)
        self.assertEqual(moved.read_bytes(), content)
        self.assertEqual(self.disk_files(1), [])
        listing = self.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode,status"
        )
        self.assertEqual(listing.split(), ["web1|node3.test|running"])
        # The fake hypervisor's state moved; the copy is not kept in it.
        state = self.nodes[2].paths.run_dir / "fake-hv" / "web1"
        self.assertNotIn('"disks"', state.read_text())
        self.assertFalse((self.nodes[1].paths.run_dir / "fake-hv" / "web1").exists())

        # Removing it removes the disk where it now lives.
        self.gnt("gnt-instance", "remove", "-f", "web1")
        self.assertEqual(self.disk_files(2), [])
