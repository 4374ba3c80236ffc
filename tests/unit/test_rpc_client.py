"""The RPC client against the node daemon's resource, in memory."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti import constants, errors
from ganeti.rpc import encoding
from ganeti.rpc.client import OFFLINE_MSG, RpcResult, RpcTarget, StaticResolver

from .rpchelpers import in_memory_cluster, targets

NODES = ["n1", "n2", "n3"]


class FanOutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.client, self.backends, self.clock, self.stub = in_memory_cluster(self.mktemp(), NODES)

    def call(self, nodes, procedure, args, **kw):
        d = self.client.call(nodes, procedure, args, **kw)
        self.stub.flush()
        return d

    def test_version_all_nodes(self) -> None:
        results = self.successResultOf(self.call(targets(NODES), "version", []))
        self.assertEqual(sorted(results), NODES)
        for name, res in results.items():
            self.assertTrue(res.ok, res.fail_msg)
            self.assertEqual(res.node, name)
            self.assertEqual(res.payload, constants.PROTOCOL_VERSION)

    def test_node_info(self) -> None:
        root = self.backends["n1"].paths
        storage = root.default_file_storage_dir
        storage.mkdir(parents=True)
        root.file_storage_paths.write_text("/srv/ganeti/file-storage\n")
        res = self.successResultOf(
            self.call(
                targets(NODES)[:1],
                "node_info",
                [[["file", "/srv/ganeti/file-storage", []]], [["fake", {}]]],
            )
        )["n1"]
        self.assertTrue(res.ok, res.fail_msg)
        boot_id, storage_info, hv_info = res.payload
        self.assertIsInstance(boot_id, str)
        self.assertEqual(storage_info[0]["type"], "file")
        self.assertGreater(storage_info[0]["storage_size"], 0)
        self.assertGreater(hv_info[0]["memory_total"], 0)
        self.assertGreaterEqual(hv_info[0]["cpu_total"], 1)

    def test_node_info_storage_outside_allowed(self) -> None:
        res = self.successResultOf(
            self.call(targets(NODES)[:1], "node_info", [[["file", "/etc", []]], []])
        )["n1"]
        self.assertFalse(res.ok)
        self.assertIn("not below an allowed file storage directory", res.fail_msg)

    def test_offline_nodes_not_contacted(self) -> None:
        results = self.successResultOf(
            self.call(targets(NODES, offline=("n2",)), "master_node_name", [])
        )
        self.assertTrue(results["n2"].offline)
        self.assertEqual(results["n2"].fail_msg, OFFLINE_MSG)
        # version is allowed to reach offline nodes.
        results = self.successResultOf(self.call(targets(NODES, offline=("n2",)), "version", []))
        self.assertTrue(results["n2"].ok)

    def test_one_node_fails_others_succeed(self) -> None:
        self.backends["n1"].paths.ssconf("master_node").write_text("n1\n")
        results = self.successResultOf(self.call(targets(NODES), "master_node_name", []))
        self.assertEqual(results["n1"].payload, "n1")
        self.assertFalse(results["n2"].ok)
        self.assertIn("not in a cluster", results["n2"].fail_msg)
        self.assertRaises(errors.RpcError, results["n2"].raise_on_fail)

    def test_unreachable_host_is_a_failed_result(self) -> None:
        ghost = RpcTarget("ghost", "127.0.9.9")
        results = self.successResultOf(self.call([ghost, *targets(NODES)[:1]], "version", []))
        self.assertIn("HTTP 502", results["ghost"].fail_msg)
        self.assertTrue(results["n1"].ok)

    def test_timeout(self) -> None:
        d = self.call(targets(NODES)[:2], "test_delay", [30])
        self.assertNoResult(d)
        # test_delay's timeout is duration + 5 s; the handlers finish after 30 s.
        self.clock.advance(30)
        self.stub.flush()
        results = self.successResultOf(d)
        self.assertTrue(all(r.ok for r in results.values()))
        d = self.call(targets(NODES)[:2], "test_delay", [30], timeout=10)
        self.clock.advance(10)
        results = self.successResultOf(d)
        for res in results.values():
            self.assertIn("timed out", res.fail_msg)

    def test_cancel(self) -> None:
        d = self.call(targets(NODES), "test_delay", [100])
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        # Nothing is left waiting on the clock from the client side.
        self.clock.advance(200)
        self.stub.flush()

    def test_wrong_argument_count_is_a_programming_error(self) -> None:
        self.assertRaises(errors.ProgrammerError, self.client.call, targets(NODES), "version", [1])

    def test_unknown_procedure(self) -> None:
        self.assertRaises(KeyError, self.client.call, targets(NODES), "run_shell", [])

    def test_resolver(self) -> None:
        t = targets(NODES)
        self.client._resolver = StaticResolver({x.name: x for x in t})
        results = self.successResultOf(self.call(["n2", t[0]], "version", []))
        self.assertEqual(sorted(results), ["n1", "n2"])
        self.assertRaises(errors.RpcError, self.client.call, ["nope"], "version", [])

    def test_call_one(self) -> None:
        d = self.client.call_one(targets(NODES)[0], "version", [])
        self.stub.flush()
        res = self.successResultOf(d)
        self.assertIsInstance(res, RpcResult)
        self.assertEqual(res.raise_on_fail(), constants.PROTOCOL_VERSION)


class WireTests(SynchronousTestCase):
    """HTTP-level behaviour of the resource, seen through a raw HTTP client."""

    def setUp(self) -> None:
        self.client, self.backends, self.clock, self.stub = in_memory_cluster(self.mktemp(), ["n1"])

    def request(self, method: str, path: str, body: bytes = b"[]") -> tuple[int, bytes]:
        d = self.stub.request(method, f"https://127.0.1.1:1811/{path}", data=body)
        self.stub.flush()
        resp = self.successResultOf(d)
        content = self.successResultOf(self.stub.content(resp))
        return resp.code, content

    def test_get_is_400(self) -> None:
        self.assertEqual(self.request("GET", "version")[0], 400)

    def test_unknown_is_404(self) -> None:
        code, body = self.request("POST", "exec_command")
        self.assertEqual(code, 404)
        self.assertIn(b"unknown procedure", body)

    def test_listed_but_not_implemented_is_404(self) -> None:
        self.assertEqual(self.request("POST", "instance_list", b"[[], {}]")[0], 404)

    def test_bad_json_is_400(self) -> None:
        self.assertEqual(self.request("POST", "version", b"{nope")[0], 400)
        self.assertEqual(self.request("POST", "version", b"{}")[0], 400)
        self.assertEqual(self.request("POST", "version", b"[1]")[0], 400)

    def test_reply_shape(self) -> None:
        code, body = self.request("POST", "version")
        self.assertEqual(code, 200)
        self.assertEqual(body, b"[true,%d]" % constants.PROTOCOL_VERSION)
        code, body = self.request("POST", "test_delay", b"[-1]")
        self.assertEqual((code, body), (200, b'[false,"duration must be a non-negative number"]'))


class EncodingTests(SynchronousTestCase):
    def test_small_is_plain(self) -> None:
        self.assertEqual(encoding.compress("hello"), [0, "hello"])
        self.assertEqual(encoding.decompress([0, "hello"]), b"hello")

    def test_large_is_zlib(self) -> None:
        data = b"x" * 5000
        packed = encoding.compress(data)
        self.assertEqual(packed[0], 1)
        self.assertEqual(encoding.decompress(packed), data)

    def test_binary_small(self) -> None:
        data = b"\xff\x00\xfe"
        self.assertEqual(encoding.decompress(encoding.compress(data)), data)

    def test_malformed(self) -> None:
        for bad in (None, [2, "x"], [1, "!!!"], [1, "aGVsbG8="], "x", [0]):
            self.assertRaises(errors.RpcError, encoding.decompress, bad)
