"""The RPC client and a node daemon over real TLS on 127.0.0.1, in one process."""

from __future__ import annotations

import uuid

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web import server

from ganeti import constants, tls
from ganeti.endpoints import tls_server_endpoint
from ganeti.noded.auth import CandidateCertCheck
from ganeti.noded.backend import NodeBackend
from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client
from ganeti.rpc.server import NodeRpcResource
from tests.unit.rpchelpers import make_node_root


class RealTLSTests(TestCase):
    timeout = 60

    async def _start(self, server_pair: tls.KeyPair) -> int:
        self.paths = make_node_root(self.mktemp())
        backend = NodeBackend(self.paths, reactor)
        check = CandidateCertCheck(self.paths, tls.cert_digest(server_pair.cert))
        site = server.Site(NodeRpcResource(backend.handlers(), check))
        ctx = tls.server_context_factory(server_pair, server_pair.cert)
        port = await tls_server_endpoint(reactor, "ssl:0:interface=127.0.0.1", ctx).listen(site)
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def setUp(self) -> None:
        self.ca = tls.create_cluster_certificate("cluster.test")
        self.master = tls.create_node_certificate(self.ca, "master.test", str(uuid.uuid4()))

    def allow(self, *pairs: tls.KeyPair) -> None:
        lines = "".join(f"{uuid.uuid4()}={tls.cert_digest(p.cert)}\n" for p in pairs)
        self.paths.ssconf("master_candidates_certs").write_text(lines)

    async def call(self, port: int, client: tls.KeyPair | None, ca: tls.KeyPair | None = None):
        http = make_http_client(
            reactor, tls.client_context_factory(client, (ca or self.ca).cert), persistent=False
        )
        rpc = RpcClient(reactor, http)
        results = await rpc.call([RpcTarget("n1", "127.0.0.1", port)], "version", [], timeout=20)
        return results["n1"]

    async def test_candidate_certificate_accepted(self) -> None:
        port = await self._start(self.ca)
        self.allow(self.master)
        res = await self.call(port, self.master)
        self.assertTrue(res.ok, res.fail_msg)
        self.assertEqual(res.payload, constants.PROTOCOL_VERSION)

    async def test_bootstrap_accepts_cluster_certificate_only(self) -> None:
        port = await self._start(self.ca)
        res = await self.call(port, self.ca)
        self.assertTrue(res.ok, res.fail_msg)
        res = await self.call(port, self.master)
        self.assertFalse(res.ok)
        self.assertIn("HTTP 403", res.fail_msg)

    async def test_no_client_certificate_refused(self) -> None:
        port = await self._start(self.ca)
        self.allow(self.master)
        res = await self.call(port, None)
        self.assertFalse(res.ok)
        self.assertIn("connection failed", res.fail_msg)

    async def test_certificate_from_other_ca_refused(self) -> None:
        port = await self._start(self.ca)
        other_ca = tls.create_cluster_certificate("evil.test")
        rogue = tls.create_node_certificate(other_ca, "master.test", str(uuid.uuid4()))
        # Even if its digest were listed, the handshake fails first.
        self.allow(self.master, rogue)
        res = await self.call(port, rogue)
        self.assertFalse(res.ok)
        self.assertIn("connection failed", res.fail_msg)

    async def test_signed_but_not_candidate_is_403(self) -> None:
        port = await self._start(self.ca)
        plain_node = tls.create_node_certificate(self.ca, "node9.test", str(uuid.uuid4()))
        self.allow(self.master)
        res = await self.call(port, plain_node)
        self.assertFalse(res.ok)
        self.assertIn("HTTP 403", res.fail_msg)
        self.assertIn("master candidate", res.fail_msg)

    async def test_client_refuses_server_of_another_cluster(self) -> None:
        other_ca = tls.create_cluster_certificate("other.test")
        port = await self._start(other_ca)
        res = await self.call(port, self.master)
        self.assertFalse(res.ok)
        self.assertIn("connection failed", res.fail_msg)
