"""Benchmark: a 100-node cluster — node adds, ``gnt-node list``, replicated commits, verify.

The master is a real node (node daemon + master daemon) on 127.0.1.1.  The other 100
nodes are node-daemon endpoints served by ONE process on 127.0.2.1 .. 127.0.2.100 (as in
``bench/rpc_fanout.py``), sharing one root: every RPC is real (mutual TLS, the real
resource and backend), but the 100 "machines" are one process on the same 2 cores.
The candidate pool is 10: the master and the first 9 nodes added.

    python bench/membership.py [--nodes 100] [--out bench/results/membership.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganeti import devcluster, tls
from ganeti.cli.base import wait_job
from ganeti.config.store import load_config
from ganeti.luxi.client import LuxiClient
from ganeti.paths import Paths

HERE = Path(__file__).parent


def run_cli(env: dict[str, str], *args: str) -> float:
    bindir = Path(sys.executable).parent
    t = time.perf_counter()
    proc = subprocess.run(
        [str(bindir / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=600
    )
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr}{proc.stdout}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--out", default="bench/results/membership.json")
    args = parser.parse_args()
    if not 1 <= args.nodes <= 250:
        raise SystemExit("--nodes must be 1..250")

    base = Path(tempfile.mkdtemp(prefix="gnt-bm-", dir="/tmp"))
    port = devcluster.free_port("127.0.1.1")
    [master] = devcluster.prepare(base, [("master.bench", "127.0.1.1")], port, "bench.cluster")
    # The shared root of the 100 simulated nodes: the cluster certificate, nothing else
    # (a node that has not joined yet).
    shared = Paths(base / "shared")
    shared.ensure_dirs()
    tls.write_secret_file(shared.server_pem, master.paths.server_pem.read_bytes(), 0o400)
    shared.default_file_storage_dir.mkdir(parents=True, exist_ok=True)
    shared.file_storage_paths.write_text("/srv/ganeti/file-storage\n")

    devcluster.start_noded(master, sys.executable)
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "rpc_fanout.py"),
            "--serve",
            str(shared.root),
            str(port),
            str(args.nodes),
        ]
    )
    master_pid = None
    result: dict[str, Any] = {"benchmark": "membership", "nodes": args.nodes}
    try:
        probes = [
            devcluster.DevNode(f"n{i}", f"127.0.2.{i}", port, shared.root)
            for i in range(1, args.nodes + 1)
        ]
        devcluster.wait_listening([master, *probes], timeout=60)
        master_pid = devcluster.start_masterd(master, sys.executable)
        devcluster.wait_socket(master.paths.luxi_socket, master_pid)
        env = {**os.environ, "GANETI_ROOT": str(master.root)}

        t = time.perf_counter()
        with LuxiClient(master.paths.luxi_socket) as client:
            for i in range(1, args.nodes + 1):
                op = {
                    "OP_ID": "OP_NODE_ADD",
                    "node_name": f"node{i:03d}.bench",
                    "primary_ip": f"127.0.2.{i}",
                }
                wait_job(client, client.submit_job([op]), feedback=lambda line: None)
        add_s = time.perf_counter() - t
        cfg = load_config(master.paths.config_data)
        result["add_nodes"] = {
            "total_s": round(add_s, 2),
            "per_node_ms": round(add_s / args.nodes * 1000, 1),
            "candidates": sum(1 for n in cfg.nodes.values() if n.master_candidate),
        }

        lists = sorted(run_cli(env, "gnt-node", "list") for _ in range(5))
        result["gnt_node_list_s"] = {"median": round(lists[2], 3), "min": round(lists[0], 3)}

        # One config commit, then replication to the 9 other candidates (which share one
        # root here): timed until the candidates' copy has the new serial.
        commits = []
        for k in range(5):
            t = time.perf_counter()
            run_cli(env, "gnt-cluster", "add-tags", f"bench{k}")
            job_done = time.perf_counter() - t
            want = load_config(master.paths.config_data).serial_no
            while True:
                try:
                    got = json.loads(shared.config_data.read_bytes()).get("serial_no", -1)
                except (OSError, ValueError):
                    got = -1
                if got >= want:
                    break
                if time.perf_counter() - t > 60:
                    raise SystemExit("replication did not finish within 60 s")
                time.sleep(0.005)
            commits.append((job_done, time.perf_counter() - t))
        commits.sort(key=lambda c: c[1])
        result["commit_and_replicate_s"] = {
            "job_median": round(sorted(c[0] for c in commits)[2], 3),
            "replicated_median": round(commits[2][1], 3),
        }

        verifies = sorted(run_cli(env, "gnt-cluster", "verify") for _ in range(3))
        result["gnt_cluster_verify_s"] = {"median": round(verifies[1], 3)}
    finally:
        if master_pid:
            devcluster.stop_pid(master_pid, master.root, "ganeti.masterd.tap", timeout=60)
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        devcluster.stop_noded(master)
        shutil.rmtree(base, ignore_errors=True)
    result.update(
        {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
