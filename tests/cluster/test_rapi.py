"""The real ganeti-rapi over real HTTPS, against a real master and node daemons."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.rapi import devtools
from ganeti.rapi.auth import add_token, tokens_path

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2")]


class Client:
    """A small blocking HTTPS client (the certificate is self-signed: not verified)."""

    def __init__(self, host: str, port: int, auth: str | None = None) -> None:
        self.host, self.port, self.auth = host, port, auth
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.auth:
            headers["Authorization"] = self.auth
        self.conn.request(method, path, body=data, headers=headers)
        resp = self.conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.conn.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RapiClusterTests(TestCase):
    timeout = 180

    def setUp(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="gnt-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port, "cluster.test")
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.master = self.nodes[0]
        mpid = devcluster.start_masterd(self.master, sys.executable)
        self.addCleanup(devcluster.stop_pid, mpid, self.master.root, "ganeti.masterd.tap")
        devcluster.wait_socket(self.master.paths.luxi_socket, mpid)
        self.user, self.password = devtools.create_demo_user(self.master.paths)
        self.rport = devcluster.free_port(self.master.address)
        rpid = devtools.start_rapi(self.master, sys.executable, self.rport)
        self.addCleanup(devtools.stop_rapi, self.master, rpid)
        devtools.wait_rapi(self.master.address, self.rport, rpid)

    def client(self, auth: str | None = None) -> Client:
        c = Client(self.master.address, self.rport, auth)
        self.addCleanup(c.close)
        return c

    def test_version_info_features(self) -> None:
        c = self.client()
        self.assertEqual(c.request("GET", "/version"), (200, 2))
        code, info = c.request("GET", "/2/info")
        self.assertEqual(code, 200)
        self.assertEqual(info["name"], "cluster.test")
        self.assertEqual(info["master"], "node1.test")
        self.assertIn("vg_name", info)
        code, feats = c.request("GET", "/2/features")
        self.assertEqual(len(feats), 4)
        code, nodes = c.request("GET", "/2/nodes")
        self.assertEqual(code, 200)
        self.assertEqual([n["id"] for n in nodes], ["node1.test"])
        code, body = c.request("GET", "/2/nodes/node1.test/role")
        self.assertEqual((code, body), (200, "master"))
        code, body = c.request("GET", "/2/nodes/nosuchnode")
        self.assertEqual(code, 404, body)

    def test_job_submit_wait_query(self) -> None:
        anon = self.client()
        code, _body = anon.request("POST", "/2/debug/delay", {"duration": 0.2})
        self.assertEqual(code, 401)
        c = self.client(basic(self.user, self.password))
        code, job_id = c.request("POST", "/2/debug/delay", {"duration": 0.2, "on_master": True})
        self.assertEqual(code, 200, job_id)
        self.assertIsInstance(job_id, int)
        info: Any = None
        serial = None
        deadline = time.monotonic() + 60
        while True:
            code, res = c.request(
                "GET",
                f"/2/jobs/{job_id}/wait",
                {"fields": ["status"], "previous_job_info": info, "previous_log_serial": serial},
            )
            self.assertEqual(code, 200, res)
            if res is not None:
                info = res["job_info"]
                if res["log_entries"]:
                    serial = res["log_entries"][-1][0]
            if info and info[0] in ("success", "error", "canceled"):
                break
            self.assertLess(time.monotonic(), deadline)
        self.assertEqual(info, ["success"])
        code, job = anon.request("GET", f"/2/jobs/{job_id}")
        self.assertEqual(code, 200)
        self.assertEqual(job["id"], job_id)
        self.assertEqual(job["status"], "success")
        self.assertEqual(job["ops"][0]["OP_ID"], "OP_TEST_DELAY")
        code, jobs = anon.request("GET", "/2/jobs")
        self.assertIn({"id": job_id, "uri": f"/2/jobs/{job_id}"}, jobs)
        code, q = c.request("GET", "/2/query/job?fields=id,status")
        self.assertEqual(code, 200, q)
        self.assertIn([[0, job_id], [0, "success"]], q["data"])

    def test_not_implemented_opcode_fails_the_job_not_the_request(self) -> None:
        token = add_token(tokens_path(self.master.paths), "ops", "operator")
        c = self.client("Bearer " + token)
        code, job_id = c.request("PUT", "/2/instances/web1.test/startup")
        self.assertEqual(code, 200, job_id)
        res: Any = None
        for _ in range(30):
            code, res = c.request(
                "GET", f"/2/jobs/{job_id}/wait", {"fields": ["status"], "previous_job_info": None}
            )
            if res and res["job_info"][0] in ("success", "error", "canceled"):
                break
        self.assertEqual(res["job_info"], ["error"])
        # Operators may not change the cluster.
        code, _ = c.request("PUT", "/2/redistribute-config")
        self.assertEqual(code, 403)
