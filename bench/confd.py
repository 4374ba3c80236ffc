"""Benchmark: confd queries per second with a window of outstanding queries.

Starts one ``ganeti-confd`` process (or, with ``--reference PATH``, another confd binary
such as Ganeti's Haskell one, run on the same root) on a loopback address, and drives
it from this process with a raw UDP socket that keeps ``--window`` queries outstanding.
Requests are signed in advance, so the client costs only its two system calls per query.
Each run is bounded by a query count and a time limit; every reply is matched by salt,
and a sample of them is fully verified.

    python bench/confd.py [--queries 100000] [--seconds 10] [--window 16]
                          [--out bench/results/confd.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from ganeti.confd import protocol as proto
from ganeti.confd.devtools import ping_once
from ganeti.paths import Paths

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "tests/unit/fixtures/config_sample.json"
KEY = b"0123456789abcdef0123456789abcdef01234567\n"
ADDRESS = "127.0.1.250"


def make_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="gnt-bench-confd-", dir="/tmp"))
    paths = Paths(root)
    paths.data_dir.mkdir(parents=True)
    paths.config_data.write_bytes(SAMPLE.read_bytes())
    paths.hmac_key.write_bytes(KEY)
    paths.hmac_key.chmod(0o400)
    return root


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def start_server(root: Path, port: int, reference: str | None) -> subprocess.Popen[bytes]:
    if reference:
        # A command template with {port} and {address}; Ganeti's daemon reads its files
        # from compiled-in paths, which the caller prepares (see docs/confd.md).
        cmd = [a.format(port=port, address=ADDRESS) for a in shlex.split(reference)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "ganeti.confd.tap",
            "--root",
            str(root),
            "--listen",
            f"udp:{port}:interface={ADDRESS}",
        ]
    log = open(root / "confd.log", "ab")  # the child keeps it
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ping_once(KEY, ADDRESS, port, 0.2):
        if proc.poll() is not None:
            raise RuntimeError(f"confd exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("confd did not answer")


def signed_requests(rtype: proto.RequestType, query: Any, count: int) -> list[tuple[bytes, str]]:
    now = time.time()
    out = []
    for i in range(count):
        rsalt = f"b{i:08d}"
        out.append((proto.encode_request(KEY, proto.Request(rtype, rsalt, query), now), rsalt))
    return out


def drive(
    port: int, rtype: proto.RequestType, query: Any, queries: int, seconds: float, window: int
) -> dict[str, Any]:
    requests = signed_requests(rtype, query, queries)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((ADDRESS, port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sent = received = lost = 0
    outstanding: set[bytes] = set()
    salt_key = {rsalt.encode(): True for _, rsalt in requests}
    checked = 0
    start = time.perf_counter()
    deadline = start + seconds
    try:
        while received + lost < queries:
            while len(outstanding) < window and sent < queries:
                data, rsalt = requests[sent]
                sock.send(data)
                outstanding.add(rsalt.encode())
                sent += 1
            ready, _, _ = select.select([sock], [], [], 0.5)
            if not ready:
                lost += len(outstanding)  # give up on these, refill the window
                outstanding.clear()
                if time.perf_counter() > deadline:
                    break
                continue
            reply = sock.recv(proto.MAX_UDP_DATA_SIZE)
            # The salt is the second string member of the envelope we build; find it cheaply.
            i = reply.find(b',"salt":"')
            salt = reply[i + 9 : reply.index(b'"', i + 9)]
            if salt in outstanding:
                outstanding.discard(salt)
                received += 1
                if received % 997 == 1:
                    answer, rs = proto.decode_reply(KEY, reply)
                    assert rs.encode() == salt and salt in salt_key and answer.ok, answer
                    checked += 1
            if time.perf_counter() > deadline:
                break
    finally:
        sock.close()
    elapsed = time.perf_counter() - start
    return {
        "queries": received,
        "lost": lost,
        "seconds": round(elapsed, 3),
        "queries_per_s": round(received / elapsed, 1),
        "verified_replies": checked,
    }


def run(args: argparse.Namespace, reference: str | None = None) -> dict[str, Any]:
    root = make_root()
    port = free_udp_port(ADDRESS)
    proc = start_server(root, port, reference)
    try:
        wait_ready(port, proc)
        results: dict[str, Any] = {}
        for name, rtype, query in (
            ("ping", proto.RequestType.PING, None),
            ("node_role_byname", proto.RequestType.NODE_ROLE_BYNAME, "node2.example.com"),
        ):
            drive(port, rtype, query, min(2000, args.queries), 2.0, args.window)  # warm-up
            results[name] = drive(port, rtype, query, args.queries, args.seconds, args.window)
            print(f"{name}: {results[name]}", file=sys.stderr)
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=100000)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--window", type=int, default=16)
    p.add_argument(
        "--reference",
        default=None,
        help="also measure another confd: command template with {port} and {address}",
    )
    p.add_argument("--out", default=str(REPO / "bench/results/confd.json"))
    args = p.parse_args()
    results = run(args)
    report: dict[str, Any] = {
        "benchmark": "confd",
        "server": "ganeti.confd (this code)",
        "window": args.window,
        **results,
        "target_queries_per_s": [12000, 22000],
        "ratio_ping_vs_target_low": round(results["ping"]["queries_per_s"] / 12000, 2),
        "ratio_ping_vs_target_high": round(results["ping"]["queries_per_s"] / 22000, 2),
    }
    if args.reference:
        ref = run(args, args.reference)
        report["reference"] = {"command": args.reference, **ref}
        for name in ("ping", "node_role_byname"):
            ratio = results[name]["queries_per_s"] / ref[name]["queries_per_s"]
            report[f"ratio_{name}_vs_reference"] = round(ratio, 2)
    report.update(
        python=platform.python_version(),
        cpus=os.cpu_count(),
        date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    Path(args.out).write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
