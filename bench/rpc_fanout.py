"""Benchmark: RPC fan-out of ``version`` to 100 node endpoints served by one process.

One server process listens with the real node daemon resource and mutual TLS on
127.0.2.1 .. 127.0.2.N (same port); the client (this process) fans ``version`` out to
all N and measures each fan-out's latency.  The first fan-out includes N TLS handshakes
and is reported separately ("cold"); the rest reuse kept-alive connections.

    python bench/rpc_fanout.py [--nodes 100] [--rounds 200] [--out bench/results/rpc_fanout.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganeti import devcluster, tls


def serve(root: str, port: int, nodes: int) -> None:
    """Server side: one reactor, N TLS endpoints, one node daemon resource."""
    from twisted.internet import reactor
    from twisted.web import server

    from ganeti.endpoints import tls_server_endpoint
    from ganeti.noded.auth import CandidateCertCheck
    from ganeti.noded.backend import NodeBackend
    from ganeti.paths import Paths

    paths = Paths(root)
    pair = tls.KeyPair.load(paths.server_pem)
    backend = NodeBackend(paths, reactor)
    from ganeti.rpc.server import NodeRpcResource

    resource = NodeRpcResource(
        backend.handlers(), CandidateCertCheck(paths, tls.cert_digest(pair.cert))
    )
    site = server.Site(resource)
    site.log = lambda request: None  # type: ignore[method-assign]  # no access log here
    ctx = tls.server_context_factory(pair, pair.cert)
    for i in range(1, nodes + 1):
        tls_server_endpoint(reactor, f"ssl:{port}:interface=127.0.2.{i}", ctx).listen(site)
    reactor.run()


async def _client(reactor: Any, root: Path, port: int, nodes: int, rounds: int) -> dict[str, Any]:
    from ganeti.paths import Paths
    from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client

    paths = Paths(root)
    ca = tls.KeyPair.load(paths.server_pem)
    client = tls.KeyPair.load(paths.client_pem)
    http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
    rpc = RpcClient(reactor, http)
    targets = [RpcTarget(f"node{i}", f"127.0.2.{i}", port) for i in range(1, nodes + 1)]

    t0 = time.perf_counter()
    first = await rpc.call(targets, "version", [])
    cold = time.perf_counter() - t0
    failed = [r.fail_msg for r in first.values() if not r.ok]
    if failed:
        raise SystemExit(f"cold fan-out had {len(failed)} failures, e.g. {failed[0]}")
    latencies = []
    errors = 0
    start = time.perf_counter()
    for _ in range(rounds):
        t = time.perf_counter()
        res = await rpc.call(targets, "version", [])
        latencies.append(time.perf_counter() - t)
        errors += sum(1 for r in res.values() if not r.ok)
    total = time.perf_counter() - start
    await http.close()
    latencies.sort()
    return {
        "nodes": nodes,
        "rounds": rounds,
        "cold_fanout_ms": round(cold * 1000, 2),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "fanouts_per_s": round(rounds / total, 1),
        "node_calls_per_s": round(rounds * nodes / total, 1),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", default="bench/results/rpc_fanout.json")
    parser.add_argument(
        "--serve", nargs=3, metavar=("ROOT", "PORT", "NODES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return
    if not 1 <= args.nodes <= 250 or not 1 <= args.rounds <= 10000:
        raise SystemExit("--nodes must be 1..250 and --rounds 1..10000")

    with tempfile.TemporaryDirectory(prefix="ganeti-bench-rpc-") as tmp:
        base = Path(tmp)
        port = devcluster.free_port("127.0.2.1")
        node = devcluster.prepare(base, [("node1", "127.0.2.1")], port)[0]
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(node.root), str(port), str(args.nodes)]
        )
        try:
            probes = [
                devcluster.DevNode(f"n{i}", f"127.0.2.{i}", port, node.root)
                for i in range(1, args.nodes + 1)
            ]
            devcluster.wait_listening(probes, timeout=60)
            from ganeti.daemon import run_with_reactor

            result: dict[str, Any] = {}

            async def go(reactor: Any) -> None:
                result.update(await _client(reactor, node.root, port, args.nodes, args.rounds))

            run_with_reactor(go)
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    result.update(
        {
            "benchmark": "rpc_fanout",
            "procedure": "version",
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
