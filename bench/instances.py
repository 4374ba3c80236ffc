"""Benchmark: instance creation and listing against a real master and node daemon.

Starts one ``ganeti-noded`` and ``ganeti-masterd`` (devcluster, loopback, fake
hypervisor, the ``noop`` OS), then:

1. submits ``--count`` OP_INSTANCE_CREATE jobs (diskless, noop OS installed, started,
   node chosen by the built-in allocator) one after another over LUXI and measures each
   job from submit to success;
2. runs ``gnt-instance add`` for a sample and measures the CLI's wall time;
3. times ``gnt-instance list`` (default fields, live status) with those instances;
4. stops the master, writes instances into config.data until there are ``--big`` of
   them (diskless, admin down: the fake hypervisor only runs the first ones), restarts
   the master and times ``gnt-instance list`` again.

    python bench/instances.py [--count 100] [--big 10000] [--out bench/results/instances.json]
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
from ganeti.config.store import ConfigStore
from ganeti.luxi.client import LuxiClient
from ganeti.objects import NIC, Instance

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def create_op(name: str) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_CREATE",
        "instance_name": name,
        "mode": "create",
        "disk_template": "diskless",
        "disks": [],
        "nics": [{}],
        "os_type": "noop",
    }


def timed(cmd: list[str], env: dict[str, str], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        out.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd} failed: {proc.stderr}")
    return out


def summary(values: list[float]) -> dict[str, float]:
    return {
        "mean_s": round(statistics.mean(values), 4),
        "median_s": round(statistics.median(values), 4),
        "min_s": round(min(values), 4),
        "max_s": round(max(values), 4),
        "n": len(values),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--cli-sample", type=int, default=10)
    p.add_argument("--big", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default=str(REPO / "bench/results/instances.json"))
    opts = p.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-inst-", dir="/tmp"))
    port = devcluster.free_port("127.0.1.1")
    [node] = devcluster.prepare(base, [("node1.test", "127.0.1.1")], port, "cluster.test")
    # devcluster.prepare installed the OS definitions (noop, image).
    env = {**os.environ, "GANETI_ROOT": str(node.root), "GANETI_NODED_PORT": str(port)}
    devcluster.start_noded(node, sys.executable)
    pid = 0
    try:
        devcluster.wait_listening([node])
        pid = devcluster.start_masterd(node, sys.executable)
        devcluster.wait_socket(node.paths.luxi_socket, pid)
        per_job = []
        with LuxiClient(node.paths.luxi_socket) as client:
            for i in range(opts.count):
                t = time.perf_counter()
                job = client.submit_job([create_op(f"inst{i:05d}.test")])
                wait_job(client, job, feedback=lambda _l: None)
                per_job.append(time.perf_counter() - t)
        cli = []
        for i in range(opts.cli_sample):
            cli += timed(
                [
                    str(BIN / "gnt-instance"),
                    "add",
                    "-t",
                    "diskless",
                    "-o",
                    "noop",
                    f"cli{i:03d}.test",
                ],
                env,
                1,
            )
        listing = [str(BIN / "gnt-instance"), "list"]
        small_n = opts.count + opts.cli_sample
        list_small = timed(listing, env, opts.repeats)

        # Grow the configuration offline to --big instances.
        devcluster.stop_pid(pid, node.root, "ganeti.masterd.tap")
        store = ConfigStore(node.paths.config_data)
        config = store.load()
        master = config.cluster.master_node
        prefix = config.cluster.mac_prefix
        for i in range(small_n, opts.big):
            inst = Instance(
                name=f"big{i:05d}.test",
                primary_node=master,
                os="noop",
                hypervisor="fake",
                nics=[NIC(mac=f"{prefix}:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}")],
                ctime=time.time(),
                mtime=time.time(),
            )
            config.instances[inst.uuid] = inst
        config.serial_no += 1
        store.save(config)
        pid = devcluster.start_masterd(node, sys.executable)
        devcluster.wait_socket(node.paths.luxi_socket, pid)
        list_big = timed(listing, env, opts.repeats)
        lines = subprocess.run(
            [*listing, "--no-headers"], env=env, capture_output=True, text=True
        ).stdout.splitlines()
        if len(lines) != opts.big:
            raise SystemExit(f"expected {opts.big} instances listed, got {len(lines)}")
    finally:
        if pid:
            devcluster.stop_pid(pid, node.root, "ganeti.masterd.tap")
        devcluster.stop_noded(node)
        shutil.rmtree(base, ignore_errors=True)

    result = {
        "benchmark": "instances",
        "host": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
        },
        "create_per_job": {
            **summary(per_job),
            "target_mean_s": 0.05,
            "ganeti_3_0_mean_s": 1.25,
            "what": "OP_INSTANCE_CREATE diskless, noop OS installed, started, "
            "built-in allocator; LUXI submit -> success, sequential",
        },
        "create_cli_wall": {**summary(cli), "what": "gnt-instance add -t diskless -o noop"},
        "list_small": {**summary(list_small), "instances": small_n, "target_s": 0.15},
        "list_big": {
            **summary(list_big),
            "instances": opts.big,
            "target_s": 1.0,
            "note": f"instances beyond {small_n} written into config.data before "
            "starting the master (admin down, not running)",
        },
    }
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
