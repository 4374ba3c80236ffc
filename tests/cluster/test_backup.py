"""gnt-instance move and gnt-backup end to end: 3 real noded + masterd on loopback, fake
hypervisor, file storage, disk data copied over the node-to-node TLS transfer."""

from __future__ import annotations

import hashlib
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
MIB = 1024 * 1024


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_gnt(case: TestCase, root: Path, port: int, *args: str, check: bool = True) -> str:
    """Run a console script against the cluster; fail ``case`` on an unexpected result."""
    env = {**os.environ, "GANETI_ROOT": str(root), "GANETI_NODED_PORT": str(port)}
    proc = subprocess.run(
        [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=240
    )
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        case.fail(f"{' '.join(args)} failed ({proc.returncode}): {out}")
    if not check and proc.returncode == 0:
        case.fail(f"{' '.join(args)} succeeded but should have failed: {out}")
    return out


class BackupClusterTests(TestCase):
    timeout = 400

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-bak-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        start_daemons(self, self.nodes)
        for node in self.nodes[1:]:
            self.gnt("gnt-node", "add", "--primary-ip", node.address, node.name)
        self.gnt("gnt-cluster", "modify", "--enabled-disk-templates", "file,diskless")
        self.by_name = {n.name: n for n in self.nodes}

    def gnt(self, *args: str, check: bool = True) -> str:
        return run_gnt(self, self.nodes[0].root, self.port, *args, check=check)

    def listing(self) -> dict[str, list[str]]:
        out = self.gnt(
            "gnt-instance", "list", "--no-headers", "--separator", "|", "-o", "name,pnode,status"
        )
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        return {r[0]: r[1:] for r in rows}

    def disk_files(self, node: str, instance: str) -> list[Path]:
        storage = self.by_name[node].paths.default_file_storage_dir / instance
        if not storage.is_dir():
            return []
        # In disk order (the names are <uuid>.file.disk<N>).
        files = [p for p in storage.glob("*") if p.is_file()]
        return sorted(files, key=lambda p: int(p.name.rsplit("disk", 1)[1]))

    def state_nodes(self, name: str) -> list[str]:
        return [n.name for n in self.nodes if (n.paths.run_dir / "fake-hv" / name).exists()]

    def test_move_file_instance(self) -> None:
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "file",
            "-n",
            "node1.test",
            "-o",
            "noop",
            "--disk",
            "0:size=24M",
            "--disk",
            "1:size=8M",
            "-B",
            "maxmem=128,minmem=128",
            "--ignore-ipolicy",
            "mv1",
        )
        disk0, disk1 = self.disk_files("node1.test", "mv1")
        payload = os.urandom(5 * MIB)
        with open(disk0, "r+b") as f:
            f.write(payload)
            f.seek(20 * MIB)
            f.write(b"end of disk 0")
        disk1.write_bytes(os.urandom(8 * MIB))
        before = [digest(disk0), digest(disk1)]

        out = self.gnt("gnt-instance", "move", "-f", "--ignore-ipolicy", "-n", "node2.test", "mv1")
        self.assertIn("verified", out)
        self.assertEqual(self.listing()["mv1"], ["node2.test", "running"])
        self.assertEqual(self.state_nodes("mv1"), ["node2.test"])
        moved = self.disk_files("node2.test", "mv1")
        self.assertEqual([p.name for p in moved], [disk0.name, disk1.name])
        self.assertEqual([digest(p) for p in moved], before)
        self.assertEqual([p.stat().st_size for p in moved], [24 * MIB, 8 * MIB])
        self.assertEqual(self.disk_files("node1.test", "mv1"), [])

        # Compressed, to node3, stopped instance stays stopped.
        self.gnt("gnt-instance", "shutdown", "mv1")
        self.gnt(
            "gnt-instance",
            "move",
            "-f",
            "--ignore-ipolicy",
            "--compress",
            "gzip",
            "-n",
            "node3.test",
            "mv1",
        )
        self.assertEqual(self.listing()["mv1"], ["node3.test", "ADMIN_down"])
        self.assertEqual([digest(p) for p in self.disk_files("node3.test", "mv1")], before)

        # Bad input: same node, unknown node, offline node.
        out = self.gnt(
            "gnt-instance", "move", "-f", "--ignore-ipolicy", "-n", "node3.test", "mv1", check=False
        )
        self.assertIn("already on node node3.test", out)
        out = self.gnt(
            "gnt-instance",
            "move",
            "-f",
            "--ignore-ipolicy",
            "-n",
            "nosuch.test",
            "mv1",
            check=False,
        )
        self.assertIn("nosuch.test", out)
        self.gnt("gnt-node", "modify", "--offline", "yes", "node2.test")
        out = self.gnt(
            "gnt-instance", "move", "-f", "--ignore-ipolicy", "-n", "node2.test", "mv1", check=False
        )
        self.assertIn("node node2.test is offline", out)
        self.gnt("gnt-node", "modify", "--offline", "no", "node2.test")

        # A copy that fails (the source image grew beyond the disk's size): the target's
        # new disks are removed and the instance stays on its node, disks intact.
        self.gnt("gnt-instance", "startup", "mv1")
        src = self.disk_files("node3.test", "mv1")[1]
        with open(src, "ab") as f:
            f.write(b"x" * 4096)
        grown = digest(src)
        out = self.gnt(
            "gnt-instance", "move", "-f", "--ignore-ipolicy", "-n", "node1.test", "mv1", check=False
        )
        self.assertIn("exceeds the expected size", out)
        self.assertIn("stays on node3.test", out)
        self.assertEqual(self.listing()["mv1"], ["node3.test", "running"])
        self.assertEqual(self.disk_files("node1.test", "mv1"), [])
        self.assertEqual(digest(src), grown)
        self.gnt("gnt-instance", "remove", "-f", "mv1")

    def test_export_and_import(self) -> None:
        image = self.base / "image.raw"
        content = os.urandom(3 * MIB) + bytes(2 * MIB) + os.urandom(MIB)
        image.write_bytes(content)
        self.gnt(
            "gnt-instance",
            "add",
            "-t",
            "file",
            "-n",
            "node1.test",
            "-o",
            "image",
            "-O",
            f"image_path={image}",
            "--disk",
            "0:size=16M",
            "-B",
            "maxmem=128,minmem=128",
            "--ignore-ipolicy",
            "--net",
            "0:mac=aa:00:00:12:34:56",
            "ex1",
        )
        [disk] = self.disk_files("node1.test", "ex1")
        original = digest(disk)
        self.assertEqual(disk.read_bytes()[: len(content)], content)

        out = self.gnt("gnt-backup", "export", "-n", "node2.test", "ex1")
        self.assertIn("Finalizing export", out)
        self.assertEqual(self.listing()["ex1"], ["node1.test", "running"])  # started again
        export_dir = self.by_name["node2.test"].paths.export_dir / "ex1"
        manifest = (export_dir / "config.ini").read_text()
        self.assertIn("[export]", manifest)
        self.assertIn("source = node1.test", manifest)
        self.assertIn("os = image", manifest)
        self.assertIn("dump_method = script", manifest)
        self.assertIn("disk0_dump = disk0.dump", manifest)
        self.assertIn("nic0_mac = aa:00:00:12:34:56", manifest)
        self.assertEqual(digest(export_dir / "disk0.dump"), original)
        self.assertFalse((export_dir.parent / "ex1.new").exists())

        listed = self.gnt("gnt-backup", "list", "--no-headers", "--separator", "|")
        self.assertIn("node2.test|ex1", listed.splitlines())

        # Import on node3 under another name; the MAC is taken, so a new one is made.
        out = self.gnt(
            "gnt-backup",
            "import",
            "--ignore-ipolicy",
            "-n",
            "node3.test",
            "--src-node",
            "node2.test",
            "--src-dir",
            "ex1",
            "ex1copy",
        )
        self.assertIn("checksum matches the export", out)
        self.assertIn("gets a new one", out)
        self.assertEqual(self.listing()["ex1copy"], ["node3.test", "running"])
        [copy] = self.disk_files("node3.test", "ex1copy")
        self.assertEqual(digest(copy), original)
        info = self.gnt("gnt-instance", "list", "--no-headers", "-o", "os,be/maxmem", "ex1copy")
        self.assertEqual(info.split(), ["image", "128"])

        # Without --src-node the export is looked for on every node; path form too.
        self.gnt("gnt-instance", "remove", "-f", "ex1")
        self.gnt(
            "gnt-backup",
            "import",
            "--ignore-ipolicy",
            "-n",
            "node1.test",
            "--no-start",
            "--src-dir",
            "/srv/ganeti/export/ex1",
            "ex1",
        )
        self.assertEqual(self.listing()["ex1"], ["node1.test", "ADMIN_down"])
        self.assertEqual(digest(self.disk_files("node1.test", "ex1")[0]), original)

        # Bad input.
        out = self.gnt(
            "gnt-backup",
            "import",
            "--ignore-ipolicy",
            "-n",
            "node1.test",
            "--src-dir",
            "nosuch",
            "x",
            check=False,
        )
        self.assertIn("no export named 'nosuch'", out)
        out = self.gnt("gnt-backup", "export", "-n", "nosuch.test", "ex1", check=False)
        self.assertIn("nosuch.test", out)
        out = self.gnt(
            "gnt-backup", "export", "--noshutdown", "-n", "node2.test", "ex1copy", check=False
        )
        self.assertIn("cannot be snapshotted", out)
        out = self.gnt("gnt-backup", "remove", "nosuch", check=False)
        self.assertIn("no export of nosuch", out)

        # A damaged dump is detected on import.
        dump = export_dir / "disk0.dump"
        data = bytearray(dump.read_bytes())
        data[100] ^= 0xFF
        dump.write_bytes(bytes(data))
        out = self.gnt(
            "gnt-backup",
            "import",
            "--ignore-ipolicy",
            "-n",
            "node1.test",
            "--src-node",
            "node2.test",
            "--src-dir",
            "ex1",
            "broken",
            check=False,
        )
        self.assertIn("the export is damaged", out)
        self.assertNotIn("broken", self.listing())
        self.assertEqual(self.disk_files("node1.test", "broken"), [])

        # Export with --remove-instance moves it out of the cluster, replacing the old export.
        self.gnt("gnt-backup", "export", "-n", "node3.test", "--remove-instance", "ex1")
        self.assertNotIn("ex1", self.listing())
        listed = self.gnt("gnt-backup", "list", "--no-headers", "--separator", "|")
        self.assertEqual([ln for ln in listed.splitlines() if "|ex1" in ln], ["node3.test|ex1"])
        self.gnt("gnt-backup", "remove", "ex1")
        self.assertEqual(self.gnt("gnt-backup", "list", "--no-headers").strip(), "")


class BackupRapiTests(TestCase):
    """Export, query, import and remove through the real RAPI daemon over HTTPS."""

    timeout = 300

    def setUp(self) -> None:
        from ganeti.rapi import devtools
        from tests.cluster.test_rapi_lifecycle import RapiClient

        self.base = Path(tempfile.mkdtemp(prefix="gnt-bakr-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES[:2], self.port, "cluster.test")
        start_daemons(self, self.nodes)
        self.gnt("gnt-node", "add", "--primary-ip", self.nodes[1].address, self.nodes[1].name)
        self.gnt("gnt-cluster", "modify", "--enabled-disk-templates", "file,diskless")
        master = self.nodes[0]
        user, password = devtools.create_demo_user(master.paths)
        rport = devcluster.free_port(master.address)
        rpid = devtools.start_rapi(master, sys.executable, rport, tls=True)
        self.addCleanup(devtools.stop_rapi, master, rpid)
        devtools.wait_rapi(master.address, rport, rpid)
        self.api = RapiClient(
            devtools.rapi_url(master, rport, tls=True), master.paths.rapi_pem, user, password
        )

    def gnt(self, *args: str) -> str:
        return run_gnt(self, self.nodes[0].root, self.port, *args)

    def test_export_import_remove(self) -> None:
        image = self.base / "image.raw"
        image.write_bytes(os.urandom(2 * MIB))
        self.gnt(
            "gnt-instance", "add", "-t", "file", "-n", "node1.test", "-o", "image",
            "-O", f"image_path={image}", "--disk", "0:size=8M", "-B", "maxmem=128,minmem=128",
            "--ignore-ipolicy", "--no-start", "ex2",
        )  # fmt: skip
        storage = self.nodes[0].paths.default_file_storage_dir / "ex2"
        [disk] = list(storage.glob("*"))
        original = digest(disk)

        job = self.api.run(
            "PUT", "/2/instances/ex2/export", {"mode": "local", "destination": "node2.test"}
        )
        self.assertEqual(job["opresult"], [[True, [True]]])
        code, result = self.api.request("GET", "/2/query/export?fields=node,export")
        self.assertEqual(code, 200, result)
        self.assertEqual([[v for _, v in row] for row in result["data"]], [["node2.test", "ex2"]])

        body = {
            "__version__": 1,
            "mode": "import",
            "instance_name": "ex2b",
            "src_node": "node2.test",
            "src_path": "ex2",
            "pnode": "node1.test",
            "disk_template": "file",
            "disks": [],
            "nics": [],
            "ignore_ipolicy": True,
            "start": False,
        }
        self.api.run("POST", "/2/instances", body)
        [copy] = list((self.nodes[0].paths.default_file_storage_dir / "ex2b").glob("*"))
        self.assertEqual(digest(copy), original)

        bad = {**body, "instance_name": "ex2c", "src_path": "x"}
        job = self.api.wait(self.api.submit("POST", "/2/instances", bad))
        self.assertEqual(job["status"], "error")
        self.assertIn("cannot read export 'x' on node2.test", json_text(job))
        self.api.run("DELETE", "/2/instances/ex2/export")
        code, result = self.api.request("GET", "/2/query/export?fields=node,export")
        self.assertEqual(result["data"], [])


def json_text(value: object) -> str:
    import json

    return json.dumps(value)
