"""gnt-cluster verify-disks and the watcher's disk check end to end: 3 real noded +
masterd on loopback, a real LVM volume group on a loop device (metadata only: the node
daemons run with GANETI_LVM_NO_ACTIVATION=1, as this host has no device-mapper), a plain
instance whose logical volume is then removed behind the cluster's back, a file
instance, and a node daemon that stops answering.

The three nodes share the host's LVM, so every node sees every volume; the check only
looks for a volume on the node that should hold it.  Needs root, lvm2 and losetup
(skipped otherwise).  What cannot be shown here: a volume that exists but is not
activated (no activation on this host) and DRBD (no kernel module); those paths are
covered by tests/unit/test_cmdlib_verify_disks.py."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from twisted.trial.unittest import SkipTest, TestCase

from ganeti import devcluster
from ganeti.storage import NO_ACTIVATION

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
BIN = Path(sys.executable).parent
LVM = ["--config", "global { activation = 0 }"]
assert tuple(LVM) == NO_ACTIVATION


def _sh(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stdout}{proc.stderr}")
    return proc.stdout


class VerifyDisksClusterTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        if os.geteuid() != 0:
            raise SkipTest("needs root (loop device, LVM)")
        for tool in ("losetup", "pvcreate", "vgcreate", "lvs", "lvremove"):
            if shutil.which(tool) is None:
                raise SkipTest(f"{tool} not installed (apt-get install lvm2)")
        self.base = Path(tempfile.mkdtemp(prefix="gnt-vd-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.vg = "gntvd" + secrets.token_hex(4)
        image = self.base / "pv.img"
        with open(image, "wb") as f:
            f.truncate(3 * 1024 * 1024 * 1024)  # sparse; LVM writes metadata only
        self.loop = _sh("losetup", "-f", "--show", str(image)).strip()
        self.addCleanup(subprocess.run, ["losetup", "-d", self.loop], capture_output=True)
        _sh("pvcreate", "-q", self.loop)
        self.addCleanup(subprocess.run, ["pvremove", "-q", "-f", self.loop], capture_output=True)
        _sh("vgcreate", "-q", self.vg, self.loop)
        self.addCleanup(
            subprocess.run, ["vgremove", "-q", "-f", *LVM, self.vg], capture_output=True
        )

        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        old = os.environ.get("GANETI_LVM_NO_ACTIVATION")
        os.environ["GANETI_LVM_NO_ACTIVATION"] = "1"  # inherited by the node daemons
        try:
            for node in self.nodes:
                devcluster.start_noded(node, sys.executable)
                self.addCleanup(devcluster.stop_noded, node)
        finally:
            if old is None:
                del os.environ["GANETI_LVM_NO_ACTIVATION"]
            else:
                os.environ["GANETI_LVM_NO_ACTIVATION"] = old
        devcluster.wait_listening(self.nodes)
        master = self.nodes[0]
        pid = devcluster.start_masterd(master, sys.executable)
        self.addCleanup(devcluster.stop_pid, pid, master.root, "ganeti.masterd.tap")
        devcluster.wait_socket(master.paths.luxi_socket, pid)
        for node in self.nodes[1:]:
            self.gnt("gnt-node", "add", "--primary-ip", node.address, node.name)
        self.gnt(
            "gnt-cluster",
            "modify",
            "--vg-name",
            self.vg,
            "--enabled-disk-templates",
            "file,diskless,plain",
        )

    def gnt(self, *args: str, rc: int = 0) -> str:
        env = {
            **os.environ,
            "GANETI_ROOT": str(self.nodes[0].root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        out = proc.stdout + proc.stderr
        if proc.returncode != rc:
            self.fail(f"{' '.join(args)} exited {proc.returncode}, not {rc}: {out}")
        return out

    def wait_job_status(self, summary: str, status: str, job: str | None = None) -> str:
        """Id of a job with that summary (or the given one) once it has that status."""
        deadline = time.monotonic() + 30
        while True:
            out = self.gnt("gnt-job", "list", "--no-headers", "-o", "id,status,summary")
            for line in out.splitlines():
                fields = line.split()
                if len(fields) == 3 and fields[1:] == [status, summary]:
                    if job is None or fields[0] == job:
                        return fields[0]
            self.assertLess(time.monotonic(), deadline, f"no {summary} job {status}: {out}")
            time.sleep(0.2)

    def volumes(self) -> list[str]:
        out = _sh("lvs", *LVM, "--noheadings", "-o", "lv_name", self.vg)
        return sorted(line.strip() for line in out.splitlines() if line.strip())

    def test_verify_disks(self) -> None:
        for name, template, node in (
            ("web1", "plain", "node2.test"),
            ("files1", "file", "node3.test"),
        ):
            self.gnt(
                "gnt-instance", "add", "-t", template, "-n", node, "-o", "noop",
                "--disk", "0:size=1G", "--no-install", "--no-start", name,
            )  # fmt: skip
        self.gnt("gnt-instance", "activate-disks", "web1")
        [lv] = self.volumes()

        # Healthy: nothing to do.
        out = self.gnt("gnt-cluster", "verify-disks")
        self.assertIn("Submitted jobs", out)
        self.assertIn("No disks need to be activated.", out)
        out = self.gnt("gnt-cluster", "verify-disks", "-g", "default", "--no-strict", "-v")
        self.assertIn("* Verifying the disks of group 'default': 2 instance(s)", out)

        # The volume disappears behind the cluster's back.
        _sh("lvremove", "-q", "-f", *LVM, f"{self.vg}/{lv}")
        out = self.gnt("gnt-cluster", "verify-disks", rc=1)
        self.assertIn("Instance web1 has missing logical volumes:", out)
        self.assertIn(f"  node node2.test: {self.vg}/{lv}", out)
        self.assertNotIn("Activating", out)

        # The watcher's step 7 sees the same and does not try to activate.
        out = self.gnt("ganeti-watcher")
        self.assertIn("Verifying the disks of group default (strict, job", out)
        self.assertIn(
            f"Instance web1 has missing logical volumes: {self.vg}/{lv} on node2.test", out
        )
        self.assertNotIn("Submitted job", out)
        # ... its verify job was archived; a second run is non-strict.
        [job] = re.findall(r"\(strict, job (\d+)\)", out)
        rows = self.gnt("gnt-job", "list", "--no-headers", "-o", "id,summary").splitlines()
        jobs = dict(line.split(None, 1) for line in rows if line.strip())
        self.assertNotIn(job, jobs)
        self.assertIn("GROUP_VERIFY_DISKS(default)", jobs.values())  # the CLI's are kept
        out = self.gnt("ganeti-watcher")
        self.assertIn("(non-strict, job", out)
        out = self.gnt("ganeti-watcher", "--no-verify-disks")
        self.assertNotIn("Verifying the disks", out)

        # A job holds node2 (web1's node): a strict check waits for it, the watcher does
        # not pile up another one, a non-strict check skips node2 instead of waiting.
        out = self.gnt(
            "gnt-debug", "delay", "--no-master", "-n", "node2.test", "--with-locks",
            "--interruptible", "--submit", "60",
        )  # fmt: skip
        delay = out.split()[-1]
        self.gnt("gnt-cluster", "verify-disks", "--submit")
        group_job = self.wait_job_status("GROUP_VERIFY_DISKS(default)", "waiting")
        out = self.gnt("ganeti-watcher", "--strict")
        self.assertIn("Group default: a disk verification job is still pending", out)
        self.assertNotIn("Verifying the disks", out)
        out = self.gnt("gnt-cluster", "verify-disks", "--no-strict", "-v")
        self.assertIn("skipping node(s) held by other jobs: node2.test", out)
        self.assertIn("No disks need to be activated.", out)  # web1's LV not looked at
        self.gnt("gnt-job", "cancel", "--kill", "--yes-do-it", delay)
        self.wait_job_status("GROUP_VERIFY_DISKS(default)", "success", job=group_job)

        # A node that does not answer is reported, the others are still checked.
        devcluster.stop_noded(self.nodes[2])
        out = self.gnt("gnt-cluster", "verify-disks", rc=1)
        self.assertIn(
            "Could not check the disks on node node3.test: cannot list logical volumes", out
        )
        self.assertIn("Instance web1 has missing logical volumes:", out)

        # recreate-disks brings the volume back; with node3 marked offline all is well.
        self.gnt("gnt-instance", "deactivate-disks", "web1")
        self.gnt("gnt-instance", "recreate-disks", "web1")
        self.assertEqual(len(self.volumes()), 1)
        self.gnt("gnt-node", "modify", "-O", "yes", "--force", "node3.test")
        out = self.gnt("gnt-cluster", "verify-disks")
        self.assertIn("No disks need to be activated.", out)
