"""The RAPI backend: Ganeti's recorded RAPI answers through a fake HTTP layer, a real
local HTTP server (URLs, credentials, errors), and the model against the text file
Ganeti's hscan made from the same answers."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from twisted.trial.unittest import TestCase

from ganeti.htools.backend import rapi
from ganeti.htools.backend.text import ClusterData, load_text_file, serialize_cluster
from ganeti.htools.cli import hbal, hinfo
from ganeti.htools.model import Cluster
from ganeti.htools.types import HToolsError

RAPI_DIR = os.path.join(os.path.dirname(__file__), "data", "rapi")
HSCAN = os.path.join(RAPI_DIR, "rapi-hscan.data")
GOLDEN = os.path.join(RAPI_DIR, "htools-rapi.test.golden.txt")

FILES = {
    rapi.GROUPS_PATH: "groups.json",
    rapi.NODES_PATH: "nodes.json",
    rapi.INSTANCES_PATH: "instances.json",
    rapi.INFO_PATH: "info.json",
}


def fixture(name: str) -> Any:
    with open(os.path.join(RAPI_DIR, name), encoding="utf-8") as fh:
        return json.load(fh)


class FakeHttp:
    """Answers resource paths from in-memory documents and records the requests."""

    def __init__(self, docs: dict[str, Any] | None = None) -> None:
        self.docs = docs if docs is not None else {p: fixture(f) for p, f in FILES.items()}
        self.requests: list[str] = []

    def __call__(self, path: str) -> str:
        self.requests.append(path)
        if path not in self.docs:
            raise HToolsError(f"RAPI request {path} failed: HTTP 404: Not Found")
        return json.dumps(self.docs[path])


def build(data: ClusterData) -> Cluster:
    return Cluster.build(data.groups, data.nodes, data.instances, data.cluster_tags, data.ipolicy)


def golden_sections() -> dict[str, tuple[str, str]]:
    """``{program: (stdout, stderr)}`` of the recorded Ganeti 3.0.2 runs."""
    out: dict[str, tuple[str, str]] = {}
    with open(GOLDEN, encoding="utf-8") as fh:
        blocks = fh.read().split("### ")[1:]
    for block in blocks:
        cmd = block.split("\n", 2)[1]
        prog = cmd.split()[1].rsplit("/", 1)[-1]
        if prog not in ("hinfo", "hbal"):
            continue
        body = block.split("--- stdout:\n", 1)[1]
        stdout, stderr = body.split("--- stderr:\n", 1)
        out[prog] = (stdout, stderr[:-1])  # the golden file adds one blank line
    return out


class ModelTests(TestCase):
    def test_fetches_the_resources_ganeti_reads(self) -> None:
        fake = FakeHttp()
        rapi.load_rapi("cluster.example.com", fetcher=fake)
        self.assertEqual(
            fake.requests,
            [rapi.GROUPS_PATH, rapi.NODES_PATH, rapi.INSTANCES_PATH, rapi.INFO_PATH],
        )

    def test_same_records_as_the_hscan_text_file(self) -> None:
        got = rapi.load_rapi("cluster", fetcher=FakeHttp())
        want = load_text_file(HSCAN)
        self.assertEqual([(g.name, g.uuid, g.alloc_policy) for g in got.groups],
                         [(g.name, g.uuid, g.alloc_policy) for g in want.groups])  # fmt: skip
        self.assertEqual([g.ipolicy for g in got.groups], [g.ipolicy for g in want.groups])
        fields = (
            "name t_mem n_mem f_mem t_dsk f_dsk t_cpu offline group master t_spindles "
            "tags excl_storage f_spindles n_cpu cpu_speed"
        ).split()
        for a, b in zip(got.nodes, want.nodes, strict=True):
            for f in fields:
                self.assertEqual(getattr(a, f), getattr(b, f), (a.name, f))
        fields = (
            "name mem dsk vcpus status auto_balance pnode snode template tags "
            "spindle_use disk_spindles forthcoming"
        ).split()
        for x, y in zip(got.instances, want.instances, strict=True):
            for f in fields:
                self.assertEqual(getattr(x, f), getattr(y, f), (x.name, f))
        self.assertEqual(got.cluster_tags, want.cluster_tags)
        self.assertEqual(got.ipolicy, want.ipolicy)

    def test_serialized_model_equals_the_text_backend(self) -> None:
        got = serialize_cluster(build(rapi.load_rapi("cluster", fetcher=FakeHttp())))
        want = serialize_cluster(build(load_text_file(HSCAN)))
        self.assertEqual(got, want)

    def test_memory_and_disks(self) -> None:
        data = rapi.load_rapi("cluster", fetcher=FakeHttp())
        by_name = {i.name: i for i in data.instances}
        self.assertEqual(by_name["instance2"].mem, 128)  # oper_ram of a running instance
        self.assertEqual(by_name["instance18"].mem, 8192)  # beparams maxmem when stopped
        self.assertEqual(by_name["instance3"].dsk, 384)  # disk_usage, not the sizes
        self.assertEqual(by_name["instance3"].disks, [256, 128])

    def test_offline_drained_and_not_vm_capable_nodes(self) -> None:
        docs = FakeHttp().docs
        nodes = docs[rapi.NODES_PATH]
        nodes[0]["offline"] = True
        for key in ("mtotal", "mfree", "dtotal", "dfree", "ctotal", "cnos", "mnode"):
            nodes[0][key] = None  # an offline node has no live data
        nodes[1]["drained"] = True
        nodes[2]["vm_capable"] = False
        data = rapi.load_rapi("cluster", fetcher=FakeHttp(docs))
        n0, n1, n2, n3 = data.nodes
        self.assertTrue(n0.offline)
        self.assertEqual((n0.t_mem, n0.f_mem, n0.t_dsk), (0.0, 0, 0.0))
        self.assertTrue(n1.offline)
        self.assertTrue(n1.drained)
        self.assertEqual(n1.t_mem, 32763.0)  # drained but live: values kept
        self.assertTrue(n2.offline)
        self.assertEqual(n2.t_mem, 0.0)
        self.assertFalse(n3.offline)
        self.assertTrue(n3.master)

    def test_tags_from_the_tags_resource_when_info_has_none(self) -> None:
        docs = FakeHttp().docs
        del docs[rapi.INFO_PATH]["tags"]
        docs[rapi.TAGS_PATH] = ["a:b", "c"]
        fake = FakeHttp(docs)
        data = rapi.load_rapi("cluster", fetcher=fake)
        self.assertEqual(data.cluster_tags, ["a:b", "c"])
        self.assertEqual(fake.requests[-1], rapi.TAGS_PATH)

    def test_exclusive_storage_spindles_and_cpu_speed(self) -> None:
        docs = FakeHttp().docs
        node = docs[rapi.NODES_PATH][0]
        node["ndparams"] = {"exclusive_storage": True, "spindle_count": 1, "cpu_speed": 2.5}
        node["sptotal"], node["spfree"] = 12, 7
        data = rapi.load_rapi("cluster", fetcher=FakeHttp(docs))
        n = data.nodes[0]
        self.assertEqual((n.excl_storage, n.t_spindles, n.f_spindles), (True, 12, 7))
        self.assertEqual(n.cpu_speed, 2.5)

    def test_bad_data(self) -> None:
        cases = [
            (rapi.NODES_PATH, 0, "group.uuid", "nope", "Unknown group 'nope' for node node1"),
            (rapi.INSTANCES_PATH, 0, "pnode", "nodeX", "Unknown node 'nodeX' for instance"),
            (rapi.INSTANCES_PATH, 0, "status", "weird", "Invalid instance status 'weird'"),
            (rapi.INSTANCES_PATH, 0, "disk_template", "x", "Invalid disk template 'x'"),
        ]
        for path, idx, key, value, msg in cases:
            docs = copy.deepcopy(FakeHttp().docs)
            docs[path][idx][key] = value
            with self.assertRaises(HToolsError) as ctx:
                rapi.load_rapi("cluster", fetcher=FakeHttp(docs))
            self.assertIn("failed to load data, aborting: ", str(ctx.exception))
            self.assertIn(msg, str(ctx.exception))
        docs = copy.deepcopy(FakeHttp().docs)
        del docs[rapi.NODES_PATH][1]["mfree"]
        with self.assertRaises(HToolsError) as ctx:
            rapi.load_rapi("cluster", fetcher=FakeHttp(docs))
        self.assertIn("Node 'node2', error while parsing data: key 'mfree'", str(ctx.exception))
        docs = copy.deepcopy(FakeHttp().docs)
        docs[rapi.NODES_PATH] = {"not": "a list"}
        with self.assertRaises(HToolsError) as ctx:
            rapi.load_rapi("cluster", fetcher=FakeHttp(docs))
        self.assertIn("expected a list of objects", str(ctx.exception))


class CommandLineTests(TestCase):
    """``hinfo``/``hbal -m file://DIR`` reproduce Ganeti's recorded runs byte for byte."""

    def run_tool(self, module: Any, args: list[str]) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = module.run(args, out, err)
        return code, out.getvalue(), err.getvalue()

    def test_golden_outputs(self) -> None:
        golden = golden_sections()
        self.assertEqual(set(golden), {"hinfo", "hbal"})
        for prog, module in (("hinfo", hinfo), ("hbal", hbal)):
            args = ["-v", "-v", "-p", "--print-instances", "-m", "file://" + RAPI_DIR]
            code, out, err = self.run_tool(module, args)
            self.assertEqual(code, 0)
            self.assertEqual((out, err), golden[prog], prog)

    def test_same_output_as_the_text_backend(self) -> None:
        for module in (hinfo, hbal):
            args = ["-v", "-v", "-v", "-p", "--print-instances"]
            a = self.run_tool(module, [*args, "-m", "file://" + RAPI_DIR])
            b = self.run_tool(module, [*args, "-t", HSCAN])
            self.assertEqual(a, b)

    def test_only_one_backend(self) -> None:
        with self.assertRaises(HToolsError) as ctx:
            self.run_tool(hbal, ["-t", "/dev/null", "-m", "localhost"])
        self.assertEqual(
            str(ctx.exception),
            "Only one of the rapi, luxi, and data files options should be given.",
        )

    def test_unreachable_cluster(self) -> None:
        with self.assertRaises(HToolsError) as ctx:
            self.run_tool(hinfo, ["-m", "127.0.0.1:1"])
        self.assertTrue(str(ctx.exception).startswith("failed to load data, aborting: "))
        self.assertIn("https://127.0.0.1:1/2/groups?bulk=1", str(ctx.exception))


class AddressTests(TestCase):
    def test_forms(self) -> None:
        norm = rapi.normalize_address
        self.assertEqual(norm("cluster"), ("https://cluster:5080", None, None))
        self.assertEqual(norm("cluster:6000"), ("https://cluster:6000", None, None))
        self.assertEqual(norm("::1"), ("https://[::1]:5080", None, None))
        self.assertEqual(norm("[::1]:99"), ("https://[::1]:99", None, None))
        self.assertEqual(norm("http://h"), ("http://h:5080", None, None))
        self.assertEqual(norm("https://u:p%40ss@h:1/rapi/"), ("https://h:1/rapi", "u", "p@ss"))
        with self.assertRaises(HToolsError):
            norm("ftp://h")


class _Handler(BaseHTTPRequestHandler):
    docs: dict[str, Any] = {}
    auth: str | None = None
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.auth is not None and self.headers.get("Authorization") != self.auth:
            self.send_response(401)
            body = json.dumps({"code": 401, "message": "Bad credentials"}).encode()
        elif self.path in self.docs:
            self.send_response(200)
            body = json.dumps(self.docs[self.path]).encode()
        else:
            self.send_response(404)
            body = json.dumps({"code": 404, "message": "Not found"}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class HttpTests(TestCase):
    """The real HTTP client against a small local server (plain HTTP on 127.0.0.1)."""

    handler: type[_Handler]

    def serve(self, auth: str | None = None) -> int:
        handler = type("H", (_Handler,), {"docs": FakeHttp().docs, "auth": auth, "seen": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 5)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.handler = handler
        return int(server.server_address[1])

    def test_anonymous_load(self) -> None:
        port = self.serve()
        data = rapi.load_rapi(f"http://127.0.0.1:{port}")
        self.assertEqual(len(data.nodes), 4)
        self.assertEqual(len(data.instances), 11)
        self.assertEqual(self.handler.seen[0][0], rapi.GROUPS_PATH)
        self.assertTrue(all(a is None for _, a in self.handler.seen))

    def test_credentials_in_the_url(self) -> None:
        auth = "Basic " + base64.b64encode(b"demo:s3cret").decode()
        port = self.serve(auth)
        with self.assertRaises(HToolsError) as ctx:
            rapi.load_rapi(f"http://127.0.0.1:{port}")
        self.assertIn("HTTP 401: Bad credentials", str(ctx.exception))
        data = rapi.load_rapi(f"http://demo:s3cret@127.0.0.1:{port}")
        self.assertEqual(len(data.groups), 1)

    def test_missing_resource(self) -> None:
        port = self.serve()
        del self.handler.docs[rapi.INFO_PATH]
        with self.assertRaises(HToolsError) as ctx:
            rapi.load_rapi(f"http://127.0.0.1:{port}")
        self.assertIn("/2/info failed: HTTP 404: Not found", str(ctx.exception))
