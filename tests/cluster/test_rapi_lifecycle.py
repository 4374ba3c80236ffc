"""An instance's whole life through RAPI only: the real ganeti-rapi over real HTTPS (the
cluster's ``rapi.pem``, verified as the trust anchor) against a real master and two real
node daemons, driven by a client written with nothing but ``urllib``.

Create (``POST /2/instances``, body version 1), start, stop, start again, migrate to the
other node and remove, waiting on every job with ``/2/jobs/<id>/wait`` and checking
``/2/instances/<name>`` in between.  The instance uses ``sharedfile`` storage: both node
roots link their shared storage directory to one real directory (see test_migration).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.rapi import devtools
from tests.cluster.test_migration import SHARED_WIRE, share_storage

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2")]
BIN = Path(sys.executable).parent
FINISHED = ("success", "error", "canceled")


class RapiClient:
    """JSON over HTTPS with HTTP Basic auth; the server certificate must be ``cafile``."""

    def __init__(self, base_url: str, cafile: Path, user: str, password: str) -> None:
        self.base_url = base_url
        self.ctx = ssl.create_default_context(cafile=str(cafile))
        # rapi.pem names the cluster, not the loopback address we connect to.
        self.ctx.check_hostname = False
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.auth = f"Basic {token}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("Authorization", self.auth)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def submit(self, method: str, path: str, body: Any = None) -> int:
        code, job_id = self.request(method, path, body)
        if code != 200 or not isinstance(job_id, int):
            raise AssertionError(f"{method} {path}: {code} {job_id}")
        return job_id

    def wait(self, job_id: int, limit: float = 120.0) -> dict[str, Any]:
        """Follow the job with /wait until it ends; the job's full record."""
        info: Any = None
        serial = None
        deadline = time.monotonic() + limit
        while True:
            code, res = self.request(
                "GET",
                f"/2/jobs/{job_id}/wait",
                {"fields": ["status"], "previous_job_info": info, "previous_log_serial": serial},
            )
            if code != 200:
                raise AssertionError(f"wait on job {job_id}: {code} {res}")
            if res is not None:
                info = res["job_info"]
                if res["log_entries"]:
                    serial = res["log_entries"][-1][0]
            if info and info[0] in FINISHED:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {info} after {limit} s")
        code, job = self.request("GET", f"/2/jobs/{job_id}")
        if code != 200:
            raise AssertionError(f"job {job_id}: {code} {job}")
        assert isinstance(job, dict)
        return job

    def run(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        job = self.wait(self.submit(method, path, body))
        if job["status"] != "success":
            raise AssertionError(f"{method} {path}: job {job['id']} {job['status']}: {job}")
        return job


class RapiLifecycleTests(TestCase):
    timeout = 300

    def setUp(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gnt-rapilc-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, self.base, True)
        self.port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(self.base, NODES, self.port, "cluster.test")
        self.shared = self.base / "shared-storage"
        share_storage(self.nodes, self.shared)
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.master = self.nodes[0]
        mpid = devcluster.start_masterd(self.master, sys.executable)
        self.addCleanup(devcluster.stop_pid, mpid, self.master.root, "ganeti.masterd.tap")
        devcluster.wait_socket(self.master.paths.luxi_socket, mpid)
        # Cluster membership and storage are set up with the CLI; the instance itself is
        # handled through RAPI only.
        self.gnt("gnt-node", "add", "--primary-ip", self.nodes[1].address, self.nodes[1].name)
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
        self.api = RapiClient(
            devtools.rapi_url(self.master, rport, tls=True),
            self.master.paths.rapi_pem,
            user,
            password,
        )

    def gnt(self, *args: str) -> str:
        env = {
            **os.environ,
            "GANETI_ROOT": str(self.master.root),
            "GANETI_NODED_PORT": str(self.port),
        }
        proc = subprocess.run(
            [str(BIN / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            self.fail(f"{' '.join(args)} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def instance(self, name: str) -> dict[str, Any]:
        code, data = self.api.request("GET", f"/2/instances/{name}")
        self.assertEqual(code, 200, data)
        assert isinstance(data, dict)
        return data

    def state_nodes(self, name: str) -> list[str]:
        return [n.name for n in self.nodes if (n.paths.run_dir / "fake-hv" / name).exists()]

    def test_create_start_stop_migrate_remove(self) -> None:
        api = self.api
        body = {
            "__version__": 1,
            "mode": "create",
            "instance_name": "web1",
            "disk_template": "sharedfile",
            "disks": [{"size": 1024}],
            "nics": [{}],
            "os_type": "noop",
            "pnode": "node1.test",
            "beparams": {"maxmem": 128, "minmem": 128},
            "start": False,
        }
        job = api.run("POST", "/2/instances", body)
        self.assertEqual(job["ops"][0]["OP_ID"], "OP_INSTANCE_CREATE")
        inst = self.instance("web1")
        self.assertEqual(
            (inst["pnode"], inst["status"], inst["disk_template"]),
            ("node1.test", "ADMIN_down", "sharedfile"),
        )
        self.assertEqual(inst["disk.sizes"], [1024])
        code, names = api.request("GET", "/2/instances")
        self.assertEqual(code, 200)
        self.assertEqual([i["id"] for i in names], ["web1"])

        api.run("PUT", "/2/instances/web1/startup")
        inst = self.instance("web1")
        self.assertEqual((inst["pnode"], inst["status"]), ("node1.test", "running"))
        self.assertEqual(inst["admin_state"], "up")

        api.run("PUT", "/2/instances/web1/shutdown")
        self.assertEqual(self.instance("web1")["status"], "ADMIN_down")
        self.assertEqual(self.state_nodes("web1"), [])

        api.run("PUT", "/2/instances/web1/startup")
        self.assertEqual(self.instance("web1")["status"], "running")

        job = api.run("PUT", "/2/instances/web1/migrate", {"target_node": "node2.test"})
        log = " ".join(str(entry) for entry in job.get("oplog", [[]])[0])
        self.assertIn("Migrating instance web1 (live)", log)
        inst = self.instance("web1")
        self.assertEqual((inst["pnode"], inst["status"]), ("node2.test", "running"))
        self.assertEqual(self.state_nodes("web1"), ["node2.test"])

        # A refused operation is a failed job with the reason, not an HTTP error.
        job = api.wait(api.submit("PUT", "/2/instances/web1/migrate", {"target_node": "nosuch"}))
        self.assertEqual(job["status"], "error")
        self.assertIn("nosuch", json.dumps(job["opresult"]))

        api.run("DELETE", "/2/instances/web1")
        code, _ = api.request("GET", "/2/instances/web1")
        self.assertEqual(code, 404)
        self.assertEqual(self.state_nodes("web1"), [])
        self.assertEqual([p for p in self.shared.rglob("*") if p.is_file()], [])
