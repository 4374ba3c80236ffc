"""Benchmark: evacuating a node of ``--count`` sharedfile instances on a 3-node cluster.

Three ``ganeti-noded`` on 127.0.1.1-3 and ``ganeti-masterd`` (devcluster), fake
hypervisor, ``noop`` OS; every node root's shared file storage directory is a symbolic
link to one real directory (as in tests/cluster/test_migration.py), so sharedfile disks
(sparse files) are seen by all nodes.  Then, ``--rounds`` times:

1. ``gnt-node evacuate -f -p node2.test`` with all instances on node2 (running): wall
   time of the command, which plans through the built-in allocator, submits one
   migrate job per instance and follows every job to its end;
2. back to the start: ``gnt-node migrate -f -n node2.test`` of node1 and of node3 (each
   timed as well).

After each step every instance must run (fake hypervisor state file) exactly on the
node the configuration names, and none may be left on the evacuated node.

    python bench/evacuate.py [--count 50] [--rounds 3] [--out bench/results/evacuate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ganeti import devcluster
from ganeti.cli.base import wait_job
from ganeti.luxi.client import LuxiClient

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NODES = [("node1.test", "127.0.1.1"), ("node2.test", "127.0.1.2"), ("node3.test", "127.0.1.3")]
SHARED_WIRE = "/srv/ganeti/shared-file-storage"


def share_storage(nodes: list[devcluster.DevNode], real: Path) -> None:
    """Every node's shared file storage directory is ``real`` (see test_migration)."""
    real.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        link = node.paths.from_virtual(SHARED_WIRE)
        if link.is_symlink():
            link.unlink()
        elif link.is_dir():
            link.rmdir()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
        allowed = node.paths.file_storage_paths
        lines = allowed.read_text().splitlines() if allowed.exists() else []
        if SHARED_WIRE not in lines:
            allowed.write_text("\n".join([*lines, SHARED_WIRE]) + "\n")


def create_op(name: str) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": name,
        "mode": "create",
        "disk_template": "sharedfile",
        "disks": [{"size": 1024}],
        "nics": [{}],
        "os_type": "noop",
        "pnode": "node2.test",
        "beparams": {"maxmem": 128, "minmem": 128},
    }


def run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL
    )
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stdout}{proc.stderr}")
    return elapsed


def placement(nodes: list[devcluster.DevNode], env: dict[str, str]) -> dict[str, str]:
    """Instance -> primary node, after checking each runs exactly there."""
    out = subprocess.run(
        [
            str(BIN / "gnt-instance"),
            "list",
            "--no-headers",
            "--separator",
            "|",
            "-o",
            "name,pnode,status",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    where = {}
    for line in out.splitlines():
        name, pnode, status = line.split("|")
        if status != "running":
            raise SystemExit(f"{name} is {status} on {pnode}")
        holders = [n.name for n in nodes if (n.paths.run_dir / "fake-hv" / name).exists()]
        if holders != [pnode]:
            raise SystemExit(f"{name}: configuration says {pnode}, state files on {holders}")
        where[name] = pnode
    return where


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "runs_s": [round(v, 3) for v in values],
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=50)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=str(REPO / "bench/results/evacuate.json"))
    opts = p.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-evac-", dir="/tmp"))
    port = devcluster.free_port("127.0.1.1")
    nodes = devcluster.prepare(base, NODES, port, "cluster.test")
    share_storage(nodes, base / "shared-storage")
    master = nodes[0]
    env = {**os.environ, "GANETI_ROOT": str(master.root), "GANETI_NODED_PORT": str(port)}
    pid = 0
    load_before = os.getloadavg()
    evacuate: list[float] = []
    migrate_back: list[float] = []
    try:
        for node in nodes:
            devcluster.start_noded(node, sys.executable)
        devcluster.wait_listening(nodes)
        pid = devcluster.start_masterd(master, sys.executable)
        devcluster.wait_socket(master.paths.luxi_socket, pid)
        for node in nodes[1:]:
            run([str(BIN / "gnt-node"), "add", "--primary-ip", node.address, node.name], env)
        run(
            [
                str(BIN / "gnt-cluster"),
                "modify",
                "--enabled-disk-templates",
                "file,diskless,sharedfile",
                "--shared-file-storage-dir",
                SHARED_WIRE,
            ],
            env,
        )
        names = [f"vm{i:03d}.test" for i in range(opts.count)]
        t = time.perf_counter()
        with LuxiClient(master.paths.luxi_socket) as client:
            for ok, job in client.submit_many_jobs([[create_op(n)] for n in names]):
                if not ok:
                    raise SystemExit(f"submit failed: {job}")
                wait_job(client, job, feedback=lambda _l: None)
        create_s = time.perf_counter() - t
        if set(placement(nodes, env).values()) != {"node2.test"}:
            raise SystemExit("instances not all on node2")
        for _ in range(opts.rounds):
            evacuate.append(run([str(BIN / "gnt-node"), "evacuate", "-f", "-p", "node2.test"], env))
            where = placement(nodes, env)
            if "node2.test" in where.values() or len(where) != opts.count:
                raise SystemExit(f"node2 not evacuated: {where}")
            for src in ("node1.test", "node3.test"):
                migrate_back.append(
                    run([str(BIN / "gnt-node"), "migrate", "-f", "-n", "node2.test", src], env)
                )
            if set(placement(nodes, env).values()) != {"node2.test"}:
                raise SystemExit("instances not all back on node2")
    finally:
        if pid:
            devcluster.stop_pid(pid, master.root, "ganeti.masterd.tap")
        for node in nodes:
            devcluster.stop_noded(node)
        shutil.rmtree(base, ignore_errors=True)

    med = statistics.median(evacuate)
    result = {
        "benchmark": "evacuate",
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "instances": opts.count,
        "create_total_s": round(create_s, 3),
        "evacuate_primary": {
            **summary(evacuate),
            "per_instance_ms": round(1000 * med / opts.count, 1),
            "what": f"gnt-node evacuate -f -p of a node with {opts.count} running sharedfile "
            "instances (built-in allocator, one live-migrate job per instance, CLI follows "
            "every job), wall time",
        },
        "node_migrate_back": {
            **summary(migrate_back),
            "what": "gnt-node migrate -f -n node2.test of node1 and of node3 (about half of "
            "the instances each), wall time",
        },
    }
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
