"""Disk transfers between two real node daemon processes over loopback TLS:
``import_start`` on one, ``export_start`` on the other, ``impexp_status`` polled."""

from __future__ import annotations

import hashlib
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from ganeti import devcluster, tls
from ganeti.noded import transfer as tr
from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client

NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2")]
MIB = 1024 * 1024


class TransferProcessTests(TestCase):
    timeout = 180

    def setUp(self) -> None:
        base = Path(self.mktemp()).absolute()
        port = devcluster.free_port("127.0.1.1")
        self.nodes = devcluster.prepare(base, NODES, port, "cluster.test")
        for node in self.nodes:
            devcluster.start_noded(node, sys.executable)
            self.addCleanup(devcluster.stop_noded, node)
        devcluster.wait_listening(self.nodes)
        self.ca = tls.KeyPair.load(self.nodes[0].paths.server_pem)
        client = tls.KeyPair.load(self.nodes[0].paths.client_pem)
        http = make_http_client(reactor, tls.client_context_factory(client, self.ca.cert))
        self.addCleanup(http.close)
        self.rpc = RpcClient(reactor, http)
        self.t1, self.t2 = (RpcTarget(n.name, n.address, n.port) for n in self.nodes)

    async def call(self, target: RpcTarget, proc: str, *args: Any) -> Any:
        res = await self.rpc.call_one(target, proc, list(args))
        self.assertTrue(res.ok, f"{proc} on {target.name}: {res.fail_msg}")
        return res.payload

    async def wait(self, target: RpcTarget, name: str) -> dict[str, Any]:
        for _ in range(600):
            [status] = await self.call(target, "impexp_status", [name])
            if status["exit_status"] is not None:
                return dict(status)
            await deferLater(reactor, 0.1)
        self.fail(f"transfer {name} on {target.name} did not end")

    def export_file(self, node: devcluster.DevNode, export: str, name: str) -> Path:
        return node.paths.export_dir / export / name

    async def give_node2_a_client_certificate(self) -> None:
        node2 = self.nodes[1]
        await self.call(
            self.t2,
            "node_crypto_tokens",
            [["ssl", "create", {"node_name": node2.name, "node_uuid": node2.uuid}]],
        )

    async def transfer(
        self, opts: dict[str, Any], dest: list[Any], source: list[Any], peer: str = "node2.test"
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        started = await self.call(
            self.t1,
            "import_start",
            {**opts, "listen_address": "127.0.1.1", "peer_node": peer},
            None,
            "disk0",
            dest,
        )
        name = await self.call(
            self.t2,
            "export_start",
            {**opts, "magic": started["magic"]},
            "127.0.1.1",
            started["port"],
            None,
            "disk0",
            source,
        )
        sent = await self.wait(self.t2, name)
        received = await self.wait(self.t1, started["name"])
        return started, sent, received

    async def test_file_copy_with_checks_and_refusals(self) -> None:
        await self.give_node2_a_client_certificate()
        data = os.urandom(6 * MIB) + bytes(4 * MIB) + os.urandom(MIB // 3)
        src = self.export_file(self.nodes[1], "web1", "disk0.img")
        src.parent.mkdir(parents=True)
        src.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()

        for compress in ("none", "gzip-fast"):
            started, sent, received = await self.transfer(
                {"compress": compress, "expected_size": len(data)},
                ["file", "web1.new", f"disk0-{compress}"],
                ["file", "web1", "disk0.img"],
            )
            self.assertEqual(sent["exit_status"], 0, sent["error_message"])
            self.assertEqual(received["exit_status"], 0, received["error_message"])
            self.assertEqual((sent["sha256"], received["sha256"]), (digest, digest))
            self.assertEqual(received["size"], len(data))
            out = self.export_file(self.nodes[0], "web1.new", f"disk0-{compress}")
            self.assertEqual(hashlib.sha256(out.read_bytes()).hexdigest(), digest)

        # The token was used: the same port and token are refused now.
        again = await self.call(
            self.t2,
            "export_start",
            {"magic": started["magic"]},
            "127.0.1.1",
            started["port"],
            None,
            "disk0",
            ["file", "web1", "disk0.img"],
        )
        status = await self.wait(self.t2, again)
        self.assertEqual(status["exit_status"], 1)
        self.assertIn("cannot connect", status["error_message"])

        # A sender whose certificate names another node than the master said.
        started = await self.call(
            self.t1,
            "import_start",
            {"peer_node": "node3.test", "listen_address": "127.0.1.1"},
            None,
            "disk0",
            ["file", "web1.new", "wrong-peer"],
        )
        name = await self.call(
            self.t2,
            "export_start",
            {"magic": started["magic"]},
            "127.0.1.1",
            started["port"],
            None,
            "disk0",
            ["file", "web1", "disk0.img"],
        )
        status = await self.wait(self.t2, name)
        self.assertIn("expected node 'node3.test'", status["error_message"])
        [pending] = await self.call(self.t1, "impexp_status", [started["name"]])
        self.assertIsNone(pending["exit_status"])  # still waiting for the right node
        await self.call(self.t1, "impexp_abort", started["name"])
        [aborted] = await self.call(self.t1, "impexp_status", [started["name"]])
        self.assertEqual(aborted["error_message"], "aborted by the master")
        self.assertFalse(self.export_file(self.nodes[0], "web1.new", "wrong-peer").exists())
        await self.call(self.t1, "impexp_cleanup", started["name"])
        self.assertEqual(await self.call(self.t1, "impexp_status", [started["name"]]), [None])

    async def test_raw_disk_copy(self) -> None:
        disk: dict[str, Any] = {
            "dev_type": "file",
            "logical_id": ["loop", f"/srv/ganeti/file-storage/i1/{uuid.uuid4()}.file.disk0"],
            "size": 8,
            "uuid": str(uuid.uuid4()),
            "iv_name": "disk/0",
            "params": {},
        }
        for target in (self.t1, self.t2):
            await self.call(target, "blockdev_create", disk, 8, "i1", True, "", False)
        src = self.nodes[1].paths.from_virtual(disk["logical_id"][1])
        data = os.urandom(3 * MIB) + bytes(5 * MIB)
        src.write_bytes(data)
        _, sent, received = await self.transfer(
            {"expected_size": 8 * MIB}, ["raw", disk], ["raw", disk], peer="cluster.test"
        )
        self.assertEqual(received["exit_status"], 0, received["error_message"])
        self.assertEqual(sent["sha256"], received["sha256"])
        dst = self.nodes[0].paths.from_virtual(disk["logical_id"][1])
        self.assertEqual(dst.read_bytes(), data)

    async def test_connect_timeout_and_foreign_certificate(self) -> None:
        started = await self.call(
            self.t1,
            "import_start",
            {"connect_timeout": 1, "listen_address": "127.0.1.1"},
            None,
            "disk0",
            ["file", "x.new", "d"],
        )
        # A client certificate from another CA fails the TLS handshake.
        foreign_ca = tls.create_cluster_certificate("other.cluster")
        foreign = tls.create_node_certificate(foreign_ca, "node2.test", str(uuid.uuid4()))
        path = Path(self.mktemp())
        path.write_bytes(b"stolen?")
        t = tr.Transfer("export-test", "export", "disk0", "x", 0.0)
        done: defer.Deferred[None] = defer.Deferred()

        def make() -> tr.SendProtocol:
            return tr.SendProtocol(
                t,
                tr.FileSource(path),
                started["magic"],
                "none",
                reactor,
                lambda f, *a: defer.maybeDeferred(f, *a),
                done,
            )

        reactor.connectSSL(  # type: ignore[attr-defined]
            "127.0.1.1",
            started["port"],
            tr.SendFactory(make, done),
            tls.client_context_factory(foreign, self.ca.cert),
        )
        with self.assertRaisesRegex(tr.TransferError, "unknown ca"):
            await done
        self.assertFalse(t.connected)
        status = await self.wait(self.t1, started["name"])
        self.assertIn("no sender connected within 1s", status["error_message"])
        self.assertFalse(self.export_file(self.nodes[0], "x.new", "d").exists())
        # Bad input is refused with a message.
        res = await self.rpc.call_one(
            self.t1, "import_start", [{}, None, "d", ["file", "../etc", "passwd"]]
        )
        self.assertIn("is not a plain file name", res.fail_msg or "")
        res = await self.rpc.call_one(self.t1, "import_start", [{"compress": "xz"}, None, "d", []])
        self.assertIn("unknown compression", res.fail_msg or "")
