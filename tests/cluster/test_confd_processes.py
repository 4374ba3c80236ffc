"""Three real confd processes on 127.0.1.41-43, each with its own root and replica:
the client picks the newest data, survives a stopped server, and servers reload."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from ganeti import devcluster
from ganeti.confd import devtools
from ganeti.confd import protocol as proto
from ganeti.confd.client import ConfdClient, ConfdResult, ConfdTimeout

NODES = [("node1.test", "127.0.1.41"), ("node2.test", "127.0.1.42"), ("node3.test", "127.0.1.43")]
TAGS = "/cluster/tags"


def free_udp_port(addresses: list[str]) -> int:
    """A UDP port free on every address (tries a bounded number of candidates)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((addresses[0], 0))
            port: int = s.getsockname()[1]
        try:
            for address in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((address, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no common free UDP port")


def write_replica(node: devcluster.DevNode, raw: dict[str, Any]) -> None:
    path = node.paths.config_data
    tmp = path.with_name("config.data.tmp")
    tmp.write_text(json.dumps(raw))
    os.replace(tmp, path)


class ConfdProcessTests(TestCase):
    timeout = 120

    def setUp(self) -> None:
        base = Path(tempfile.mkdtemp(prefix="gnt-confd-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        self.nodes = devcluster.prepare(base, NODES, devcluster.free_port(NODES[0][1]))
        self.port = free_udp_port([addr for _, addr in NODES])
        master_raw = json.loads(self.nodes[0].paths.config_data.read_text())
        # Stale: the config as initialised.  Fresh: one more change, higher serials.
        self.stale = master_raw
        self.fresh = json.loads(json.dumps(master_raw))
        self.fresh["cluster"]["tags"] = ["fresh"]
        self.fresh["cluster"]["serial_no"] += 1
        self.fresh["serial_no"] += 1
        write_replica(self.nodes[0], self.fresh)
        write_replica(self.nodes[1], self.fresh)
        write_replica(self.nodes[2], self.stale)
        self.pids: list[int] = []
        for node in self.nodes:
            pid = devtools.start_confd(node, sys.executable, port=self.port)
            self.pids.append(pid)
            self.addCleanup(self._stop, node, pid)
        devtools.wait_confd(self.nodes, self.pids, self.port)
        self.key = self.nodes[0].paths.hmac_key.read_bytes()

    def _stop(self, node: devcluster.DevNode, pid: int) -> None:
        if devcluster.is_ours(pid, node.root, devtools.MODULE):
            os.kill(pid, signal.SIGCONT)
        devtools.stop_confd(node, pid)

    def client(self, nodes: list[devcluster.DevNode], timeout: float = 5.0) -> ConfdClient:
        c = ConfdClient(reactor, self.key, [(n.address, self.port) for n in nodes], timeout=timeout)
        self.addCleanup(c.close)
        return c

    async def ask(self, client: ConfdClient, rtype: int, query: Any = None) -> ConfdResult:
        return await client.query(rtype, query)

    async def test_newest_serial_wins(self) -> None:
        stale = await self.ask(self.client(self.nodes[2:]), proto.RequestType.CONFIG_QUERY, TAGS)
        self.assertEqual(stale.answer, [])
        # Two peers: both replies are needed, the fresher one is chosen.
        for pair in ([self.nodes[2], self.nodes[0]], [self.nodes[1], self.nodes[2]]):
            result = await self.ask(self.client(pair), proto.RequestType.CONFIG_QUERY, TAGS)
            self.assertEqual(result.answer, ["fresh"])
            self.assertEqual(result.serial, self.fresh["cluster"]["serial_no"])
            self.assertEqual(len(result.replies), 2)
        # Three peers: two replies suffice, and any two include a fresh one.
        for _ in range(5):
            result = await self.ask(self.client(self.nodes), proto.RequestType.CONFIG_QUERY, TAGS)
            self.assertEqual(result.answer, ["fresh"])
            self.assertTrue(result.complete)
        role = await self.ask(
            self.client(self.nodes), proto.RequestType.NODE_ROLE_BYNAME, "node1.test"
        )
        self.assertEqual(role.answer, proto.NodeRole.MASTER)

    async def test_stopped_server(self) -> None:
        os.kill(self.pids[0], signal.SIGSTOP)
        client = self.client(self.nodes, timeout=5.0)
        start = time.monotonic()
        result = await self.ask(client, proto.RequestType.CONFIG_QUERY, TAGS)
        self.assertLess(time.monotonic() - start, 5.0)
        self.assertEqual(result.answer, ["fresh"])  # node2 is fresh, node3 stale
        self.assertTrue(result.complete)
        self.assertEqual(len(result.replies), 2)

        # Kill node2 too: only the stale node3 answers; at the timeout the client
        # returns what it has, marked incomplete.
        devtools.stop_confd(self.nodes[1], self.pids[1])
        start = time.monotonic()
        result = await self.ask(self.client(self.nodes, timeout=2.0), proto.RequestType.PING)
        self.assertLess(time.monotonic() - start, 4.0)
        self.assertFalse(result.complete)
        self.assertEqual(len(result.replies), 1)

        # Nobody answers: a clear timeout.
        os.kill(self.pids[2], signal.SIGSTOP)
        try:
            d = self.client(self.nodes, timeout=1.0).query(proto.RequestType.PING)
            with self.assertRaises(ConfdTimeout):
                await d
        finally:
            os.kill(self.pids[2], signal.SIGCONT)
            os.kill(self.pids[0], signal.SIGCONT)

    async def test_replica_reload(self) -> None:
        write_replica(self.nodes[2], self.fresh)
        client = self.client(self.nodes[2:])
        deadline = time.monotonic() + 10
        while True:
            result = await self.ask(client, proto.RequestType.CONFIG_QUERY, TAGS)
            if result.answer == ["fresh"] or time.monotonic() > deadline:
                break
            await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(result.answer, ["fresh"])

    async def test_garbage_does_not_stop_the_server(self) -> None:
        node = self.nodes[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for data in (b"GET / HTTP/1.0\r\n\r\n", b"plj0{", b"plj0" + b"x" * 9000, b""):
                s.sendto(data, (node.address, self.port))
        result = await self.ask(self.client([node]), proto.RequestType.PING)
        self.assertTrue(result.ok)


class ConfdIPv6Tests(TestCase):
    timeout = 60

    def setUp(self) -> None:
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
                s.bind(("::1", 0))
                self.port = s.getsockname()[1]
        except OSError as exc:
            raise self.skipTest(f"no IPv6 loopback: {exc}") from None
        base = Path(tempfile.mkdtemp(prefix="gnt-confd6-", dir="/tmp"))
        self.addCleanup(shutil.rmtree, base, True)
        [node] = devcluster.prepare(base, [("node1.test", "127.0.1.44")], 1)
        node.address = "::1"
        self.node = node
        pid = devtools.start_confd(node, sys.executable, port=self.port)
        self.addCleanup(devtools.stop_confd, node, pid)
        devtools.wait_confd([node], [pid], self.port)

    async def test_ipv6_query(self) -> None:
        key = self.node.paths.hmac_key.read_bytes()
        client = ConfdClient(reactor, key, [("::1", self.port)], timeout=5)
        self.addCleanup(client.close)
        result = await client.query(proto.RequestType.CLUSTER_MASTER)
        self.assertEqual(result.answer, "node1.test")
