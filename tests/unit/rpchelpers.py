"""Shared helpers for RPC tests: a node root with key material and an in-memory noded."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.web import resource, server

from ganeti import tls
from ganeti.noded.backend import NodeBackend
from ganeti.paths import Paths
from ganeti.rpc.client import RpcClient, RpcTarget
from ganeti.rpc.server import Authorizer, NodeRpcResource


def make_node_root(base: str, name: str = "node1") -> Paths:
    paths = Paths(Path(base) / name)
    paths.ensure_dirs()
    return paths


def make_cluster_keys(cluster: str = "cluster.test") -> tuple[tls.KeyPair, tls.KeyPair]:
    ca = tls.create_cluster_certificate(cluster)
    client = tls.create_node_certificate(ca, "master.test", str(uuid.uuid4()))
    return ca, client


class HostRouter(resource.Resource):
    """Routes by the Host header so one StubTreq can stand for several nodes."""

    isLeaf = True

    def __init__(self, by_host: dict[str, resource.Resource]) -> None:
        super().__init__()
        self.by_host = by_host

    def render(self, request: server.Request) -> Any:
        host = (request.getHeader(b"host") or b"").decode().rsplit(":", 1)[0]
        target = self.by_host.get(host)
        if target is None:
            request.setResponseCode(502)
            return b"no such host"
        return target.render(request)


def in_memory_cluster(
    base: str, names: list[str], authorize: Authorizer | None = None
) -> tuple[RpcClient, dict[str, NodeBackend], Clock, StubTreq]:
    clock = Clock()
    backends = {}
    by_host: dict[str, resource.Resource] = {}
    for i, name in enumerate(names):
        backend = NodeBackend(make_node_root(base, name), clock)
        backends[name] = backend
        res = (
            NodeRpcResource(backend.handlers(), authorize)
            if authorize
            else NodeRpcResource(backend.handlers())
        )
        by_host[f"127.0.1.{i + 1}"] = res
    stub = StubTreq(HostRouter(by_host))
    return RpcClient(clock, stub), backends, clock, stub


def targets(names: list[str], offline: tuple[str, ...] = ()) -> list[RpcTarget]:
    return [
        RpcTarget(name, f"127.0.1.{i + 1}", offline=name in offline) for i, name in enumerate(names)
    ]
