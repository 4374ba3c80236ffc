"""Migration and failover end to end: 3 real noded + masterd on loopback, fake
hypervisor, diskless and sharedfile instances, through the console scripts.

Shared storage on one machine: every node has its own root, and a node maps a wire path
such as ``/srv/ganeti/shared-file-storage/web1/x.disk0`` below that root
(``Paths.from_virtual``).  So each root's ``srv/ganeti/shared-file-storage`` is made a
symbolic link to one real directory outside all roots, and that wire path is listed in
every node's ``file-storage-paths`` (the node compares *resolved* paths, so the link's
target is what must lie below an allowed directory, and it does: the allowed entry
resolves through the same link).  All nodes then see the same disk files, as with NFS.
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
from tests.cluster.daemons import start_daemons

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
BIN = Path(sys.executable).parent
SHARED_WIRE = "/srv/ganeti/shared-file-storage"


def share_storage(nodes: list[devcluster.DevNode], real: Path) -> None:
    """Point every node's shared file storage directory at ``real``."""
    real.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        paths = node.paths
        link = paths.from_virtual(SHARED_WIRE)
        if link.is_symlink():
            link.unlink()
        elif link.is_dir():
            link.rmdir()  # made empty by cluster init on the master
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
        allowed = paths.file_storage_paths
        lines = allowed.read_text().splitlines() if allowed.exists() else []
        if SHARED_WIRE not in lines:
            allowed.write_text("\n".join([*lines, SHARED_WIRE]) + "\n")


class MigrationClusterTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-mig-", dir="/tmp"))
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

    def listing(self) -> dict[str, list[str]]:
        out = self.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode,status"
        )
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1:] for r in rows}

    def state_nodes(self, name: str) -> list[str]:
        """Nodes whose fake hypervisor holds a state file for ``name``."""
        return [n.name for n in self.nodes if (n.paths.run_dir / "fake-hv" / name).exists()]

    def add(self, name: str, template: str, node: str, *extra: str) -> None:
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
            *extra,
            name,
        )

    def test_migrate_and_failover(self) -> None:
        self.add("web1", "sharedfile", "node2.test")
        self.add("db1", "diskless", "node2.test", "--no-install")
        [disk] = [p for p in self.shared.rglob("*") if p.is_file()]
        self.assertIn("web1", str(disk))
        self.assertEqual(self.state_nodes("web1"), ["node2.test"])

        # Live migration to an explicit target: the state file moved, the disk stayed.
        out = self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "web1")
        self.assertIn("Migrating instance web1 (live)", out)
        self.assertEqual(self.listing()["web1"], ["node3.test", "running"])
        self.assertEqual(self.state_nodes("web1"), ["node3.test"])
        self.assertTrue(disk.exists())

        # Non-live, target chosen by the built-in allocator (any node but node2).
        out = self.gnt("gnt-instance", "migrate", "-f", "--non-live", "db1")
        self.assertIn("via iallocator builtin", out)
        pnode, status = self.listing()["db1"]
        self.assertNotEqual(pnode, "node2.test")
        self.assertEqual(status, "running")
        self.assertEqual(self.state_nodes("db1"), [pnode])

        # Cleanup when nothing went wrong changes nothing.
        out = self.gnt("gnt-instance", "migrate", "-f", "--cleanup", "web1")
        self.assertIn("runs on its primary node3.test", out)
        self.assertEqual(self.listing()["web1"], ["node3.test", "running"])

        # Failover: stopped on node3, started on node1.
        self.gnt("gnt-instance", "failover", "-f", "-n", "node1.test", "web1")
        self.assertEqual(self.listing()["web1"], ["node1.test", "running"])
        self.assertEqual(self.state_nodes("web1"), ["node1.test"])

        # A stopped instance: migrate refuses, --allow-failover moves it, it stays down.
        self.gnt("gnt-instance", "shutdown", "web1")
        out = self.gnt("gnt-instance", "migrate", "-f", "-n", "node2.test", "web1", check=False)
        self.assertIn("not running", out)
        self.gnt("gnt-instance", "migrate", "-f", "--allow-failover", "-n", "node2.test", "web1")
        self.assertEqual(self.listing()["web1"], ["node2.test", "ADMIN_down"])
        self.gnt("gnt-instance", "startup", "web1")
        self.assertEqual(self.state_nodes("web1"), ["node2.test"])

        for name in ("web1", "db1"):
            self.gnt("gnt-instance", "remove", "-f", name)
        self.assertEqual([p for p in self.shared.rglob("*") if p.is_file()], [])

    def test_refusals_and_abort(self) -> None:
        self.add("filed", "file", "node2.test")
        out = self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "filed", check=False)
        self.assertIn("--storage-copy", out)
        out = self.gnt("gnt-instance", "failover", "-f", "-n", "node3.test", "filed", check=False)
        self.assertIn("'file' disks", out)
        self.assertEqual(self.listing()["filed"], ["node2.test", "running"])

        # The target refuses to accept (it already holds a guest of that name): the
        # migration is aborted and the instance keeps running on the source.
        self.add("web1", "sharedfile", "node2.test")
        node3 = self.nodes[2]
        squatter = node3.paths.run_dir / "fake-hv" / "web1"
        squatter.parent.mkdir(parents=True, exist_ok=True)
        squatter.write_text('{"name": "web1", "state": "running", "memory": 1}')
        out = self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "web1", check=False)
        self.assertIn("already exists on the target", out)
        self.assertIn("still running on node2.test", out)
        squatter.unlink()
        self.assertEqual(self.listing()["web1"], ["node2.test", "running"])
        self.assertEqual(self.state_nodes("web1"), ["node2.test"])
        # ... and a second attempt succeeds.
        self.gnt("gnt-instance", "migrate", "-f", "-n", "node3.test", "web1")
        self.assertEqual(self.listing()["web1"], ["node3.test", "running"])
