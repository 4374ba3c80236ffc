"""Benchmark: job throughput and latency through the real master daemon and LUXI.

Starts a one-node cluster (node daemon + master daemon) in a scratch directory and:

1. submits 500 ``OP_TEST_DELAY duration=0`` jobs at once (one SubmitManyJobs call) and
   measures jobs/s until all succeeded;
2. runs 200 jobs one after another, each submitted and followed with WaitForJobChange
   until it succeeded: submit-to-success latency p50/p95;
3. queues 10,000 jobs (behind a long-running job they depend on) and measures the master's
   RSS and the wall time of ``gnt-job list``.

    python bench/jobs.py [--out bench/results/jobs.json] [--queued 10000]
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
from ganeti.luxi.client import LuxiClient

FINAL = {"success", "error", "canceled"}


def delay_op(duration: float = 0, depends: list[Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"OP_ID": "OP_TEST_DELAY", "duration": duration}
    if depends:
        op["depends"] = depends
    return op


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def wait_all(client: LuxiClient, ids: list[int], limit: float = 300) -> list[str]:
    deadline = time.monotonic() + limit
    while True:
        rows = client.query_jobs(ids, ["status"])
        statuses = [r[0] if r else "lost" for r in rows]
        if all(s in FINAL for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs did not finish within {limit}s")
        time.sleep(0.01)


def follow(client: LuxiClient, job_id: int) -> str:
    info: Any = None
    serial = -1
    while True:
        info, log = client.wait_for_job_change(job_id, ["status"], info, serial, 30)
        for entry in log:
            serial = max(serial, entry[0])
        if info[0] in FINAL:
            return str(info[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="bench/results/jobs.json")
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--queued", type=int, default=10000)
    args = parser.parse_args()
    if not (1 <= args.burst <= 5000 and 1 <= args.sequential <= 5000 and 0 <= args.queued <= 20000):
        raise SystemExit("--burst/--sequential 1..5000, --queued 0..20000")

    base = Path(tempfile.mkdtemp(prefix="gnt-bench-", dir="/tmp"))
    port = devcluster.free_port("127.0.1.1")
    [node] = devcluster.prepare(base, [("node1.bench", "127.0.1.1")], port, "bench.cluster")
    devcluster.start_noded(node, sys.executable)
    master_pid = None
    result: dict[str, Any] = {"benchmark": "jobs"}
    try:
        devcluster.wait_listening([node])
        master_pid = devcluster.start_masterd(node, sys.executable)
        devcluster.wait_socket(node.paths.luxi_socket, master_pid)
        client = LuxiClient(node.paths.luxi_socket)

        # Warm up (imports, first file writes).
        follow(client, client.submit_job([delay_op()]))

        t0 = time.perf_counter()
        submitted = client.submit_many_jobs([[delay_op()] for _ in range(args.burst)])
        t_submit = time.perf_counter() - t0
        ids = [job_id for ok, job_id in submitted if ok]
        statuses = wait_all(client, ids)
        t_all = time.perf_counter() - t0
        result["burst"] = {
            "jobs": args.burst,
            "submit_s": round(t_submit, 4),
            "all_done_s": round(t_all, 4),
            "jobs_per_s": round(args.burst / t_all, 1),
            "succeeded": statuses.count("success"),
        }

        latencies = []
        for _ in range(args.sequential):
            t = time.perf_counter()
            status = follow(client, client.submit_job([delay_op()]))
            latencies.append(time.perf_counter() - t)
            if status != "success":
                raise SystemExit(f"sequential job ended {status}")
        latencies.sort()
        result["sequential"] = {
            "jobs": args.sequential,
            "p50_ms": round(statistics.median(latencies) * 1000, 3),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 3),
            "max_ms": round(latencies[-1] * 1000, 3),
        }

        if args.queued:
            rss_before = rss_kib(master_pid)
            blocker = client.submit_job([delay_op(3600)])
            t = time.perf_counter()
            queued = 0
            while queued < args.queued:
                n = min(1000, args.queued - queued)
                res = client.submit_many_jobs(
                    [[delay_op(0, depends=[[blocker, []]])] for _ in range(n)]
                )
                queued += sum(1 for ok, _ in res if ok)
            t_queue = time.perf_counter() - t
            env = {**os.environ, "GANETI_ROOT": str(node.root)}
            gnt_job = Path(sys.executable).parent / "gnt-job"
            t = time.perf_counter()
            out = subprocess.run(
                [str(gnt_job), "list"], env=env, capture_output=True, check=True, text=True
            ).stdout
            t_list = time.perf_counter() - t
            result["queued"] = {
                "jobs": queued,
                "submit_s": round(t_queue, 3),
                "master_rss_mib_before": round(rss_before / 1024, 1),
                "master_rss_mib": round(rss_kib(master_pid) / 1024, 1),
                "gnt_job_list_s": round(t_list, 3),
                "gnt_job_list_lines": len(out.splitlines()),
            }
            client.call("CancelJob", blocker, True)
        client.close()
    finally:
        if master_pid:
            devcluster.stop_pid(master_pid, node.root, "ganeti.masterd.tap", timeout=60)
        devcluster.stop_noded(node)
        shutil.rmtree(base, ignore_errors=True)

    result.update(
        {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
