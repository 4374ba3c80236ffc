"""Three real node daemon processes on 127.0.1.1-3: fan-out and real faults."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from ganeti import constants, devcluster, tls
from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]


class NodedProcessTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        base = Path(self.mktemp()).absolute()
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port)
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        ca = tls.KeyPair.load(self.nodes[0].paths.server_pem)
        client = tls.KeyPair.load(self.nodes[0].paths.client_pem)
        http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
        self.addCleanup(http.close)
        self.rpc = RpcClient(reactor, http)
        self.targets = [RpcTarget(n.name, n.address, n.port) for n in self.nodes]

    async def test_fan_out_then_kill_and_stop(self) -> None:
        storage = "/srv/ganeti/file-storage"
        args = [[["file", storage, []]], [["fake", {}]]]
        results = await self.rpc.call(self.targets, "node_info", args)
        for node in self.nodes:
            res = results[node.name]
            self.assertTrue(res.ok, res.fail_msg)
            self.assertGreater(res.payload[1][0]["storage_size"], 0)
        versions = await self.rpc.call(self.targets, "version", [])
        self.assertEqual({r.payload for r in versions.values()}, {constants.PROTOCOL_VERSION})

        killed, stopped = self.nodes[1], self.nodes[2]
        assert killed.pid is not None and stopped.pid is not None
        os.kill(killed.pid, signal.SIGKILL)
        os.waitpid(killed.pid, 0)
        os.kill(stopped.pid, signal.SIGSTOP)
        try:
            results = await self.rpc.call(self.targets, "node_info", args, timeout=3)
        finally:
            os.kill(stopped.pid, signal.SIGCONT)
        self.assertTrue(results["node1.test"].ok, results["node1.test"].fail_msg)
        self.assertFalse(results["node2.test"].ok)
        self.assertIn("Error while calling node_info", results["node2.test"].fail_msg)
        self.assertFalse(results["node3.test"].ok)
        self.assertIn("timed out after 3s", results["node3.test"].fail_msg)

        # The resumed node answers again.
        results = await self.rpc.call(self.targets[2:], "version", [], timeout=10)
        self.assertTrue(results["node3.test"].ok, results["node3.test"].fail_msg)
