"""Benchmark: one disk copied between two real node daemons over loopback TLS.

Two ``ganeti-noded`` processes on 127.0.3.1 and 127.0.3.2 (own roots, one cluster
certificate); a file disk of ``--size`` MiB is created on both (``blockdev_create``), the
source filled, and the master-side RPCs of a move are issued from this process:
``import_start`` on the receiver, ``export_start`` on the sender, ``impexp_status``
polled every 50 ms.  Reported per case: the wall time from ``import_start`` to both sides
done (RPCs included), the receiver's own elapsed time, throughput, and bytes on the wire.
Cases: random data (incompressible) without and with ``gzip-fast``, and a sparse disk
(all zeros: crosses as zero-run frames).  The copy is checked byte for byte.

    python bench/transfer.py [--size 256] [--runs 3] [--out bench/results/transfer.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ganeti import devcluster, tls

MIB = 1024 * 1024
NODES = [("node1.bench", "127.0.3.1"), ("node2.bench", "127.0.3.2")]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


async def _run(reactor: Any, nodes: list[devcluster.DevNode], size: int, runs: int) -> Any:
    from twisted.internet.task import deferLater

    from ganeti.rpc.client import RpcClient, RpcTarget, make_http_client

    paths = nodes[0].paths
    ca = tls.KeyPair.load(paths.server_pem)
    client = tls.KeyPair.load(paths.client_pem)
    http = make_http_client(reactor, tls.client_context_factory(client, ca.cert))
    rpc = RpcClient(reactor, http)
    recv_t, send_t = (RpcTarget(n.name, n.address, n.port) for n in nodes)

    async def call(target: RpcTarget, proc: str, *args: Any) -> Any:
        return (await rpc.call_one(target, proc, list(args))).raise_on_fail(proc)

    disk: dict[str, Any] = {
        "dev_type": "file",
        "logical_id": ["loop", f"/srv/ganeti/file-storage/bench/{uuid.uuid4()}.file.disk0"],
        "size": size,
        "uuid": str(uuid.uuid4()),
        "iv_name": "disk/0",
        "params": {},
    }
    for target in (recv_t, send_t):
        await call(target, "blockdev_create", disk, size, "bench", True, "", False)
    src = nodes[1].paths.from_virtual(disk["logical_id"][1])
    dst = nodes[0].paths.from_virtual(disk["logical_id"][1])

    async def wait(target: RpcTarget, name: str) -> dict[str, Any]:
        while True:
            [status] = await call(target, "impexp_status", [name])
            if status["exit_status"] is not None:
                return dict(status)
            await deferLater(reactor, 0.05)

    async def once(compress: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        started = await call(
            recv_t,
            "import_start",
            {
                "compress": compress,
                "listen_address": nodes[0].address,
                "expected_size": size * MIB,
            },
            None,
            "disk0",
            ["raw", disk],
        )
        name = await call(
            send_t,
            "export_start",
            {"compress": compress, "magic": started["magic"]},
            nodes[0].address,
            started["port"],
            None,
            "disk0",
            ["raw", disk],
        )
        sent = await wait(send_t, name)
        received = await wait(recv_t, started["name"])
        wall = time.perf_counter() - t0
        if sent["exit_status"] != 0 or received["exit_status"] != 0:
            raise SystemExit(
                f"transfer failed: {sent['error_message']} / {received['error_message']}"
            )
        await call(send_t, "impexp_cleanup", name)
        await call(recv_t, "impexp_cleanup", started["name"])
        return {
            "wall_s": wall,
            "receiver_s": received["elapsed"],
            "wire_bytes": received["wire_bytes"],
            "sha256": received["sha256"],
        }

    cases: dict[str, Any] = {}
    for label, fill, compress in (
        ("random", "random", "none"),
        ("random_gzip_fast", "random", "gzip-fast"),
        ("zeros_sparse", "zeros", "none"),
    ):
        with open(src, "r+b") as f:
            if fill == "random":
                for _ in range(size):
                    f.write(os.urandom(MIB))
            else:
                f.truncate(0)
                f.truncate(size * MIB)
        expect = sha256_file(src)
        samples = []
        loads = []
        for _ in range(runs):
            loads.append(os.getloadavg()[0])
            r = await once(compress)
            if r["sha256"] != expect or sha256_file(dst) != expect:
                raise SystemExit(f"{label}: the copy differs from the source")
            samples.append(r)
        walls = [s["wall_s"] for s in samples]
        best = min(walls)
        cases[label] = {
            "compress": compress,
            "wall_s_median": round(statistics.median(walls), 3),
            "wall_s_min": round(best, 3),
            "receiver_s_median": round(statistics.median(s["receiver_s"] for s in samples), 3),
            "mib_per_s_median": round(size / statistics.median(walls), 1),
            "mib_per_s_best": round(size / best, 1),
            "wire_mib": round(samples[0]["wire_bytes"] / MIB, 1),
            "loadavg_1m_at_start": [round(x, 2) for x in loads],
            "verified": "sha256 of source, receiver and target file equal",
        }
    await http.close()
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="disk size in MiB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/transfer.json")
    args = parser.parse_args()
    if not 1 <= args.size <= 4096 or not 1 <= args.runs <= 20:
        raise SystemExit("--size must be 1..4096 MiB and --runs 1..20")
    with tempfile.TemporaryDirectory(prefix="gnt-bench-xfer-", dir="/tmp") as tmp:
        port = devcluster.free_port(NODES[0][1])
        nodes = devcluster.prepare(Path(tmp), NODES, port, "cluster.bench")
        try:
            for node in nodes:
                devcluster.start_noded(node, sys.executable)
            devcluster.wait_listening(nodes)
            from ganeti.daemon import run_with_reactor

            result: dict[str, Any] = {}

            async def go(reactor: Any) -> None:
                result.update(await _run(reactor, nodes, args.size, args.runs))

            run_with_reactor(go)
        finally:
            for node in nodes:
                devcluster.stop_noded(node)
    out = {
        "benchmark": "transfer",
        "what": "one file disk between two noded processes over loopback TLS "
        "(import_start/export_start/impexp_status from a client process)",
        "size_mib": args.size,
        "runs": args.runs,
        "cases": result,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
