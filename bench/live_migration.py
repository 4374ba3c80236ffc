"""Benchmark: live migration of the tiny test guest on real libvirt (QEMU TCG).

The two-node lab of the VM tests (``tests/vm/twonode.py``: two private libvirtd, each in
its own network namespace, a noded in each, the master on node A) runs the test guest
(128 MiB, ``sharedfile`` disk of 32 MiB, no NIC).  It is migrated ``--runs`` times with
``gnt-instance migrate`` (A -> B, B -> A, ...).  Per run:

* the CLI's wall time (job submitted, migration done, configuration switched, job
  finished);
* what libvirt reports for the completed incoming migration on the target
  (``virDomainGetJobStats(VIR_DOMAIN_JOB_STATS_COMPLETED)``): ``downtime`` (ms, the
  guest's pause at the switch-over), ``time_elapsed`` (ms) and the memory copied;
* that the guest kept running: its uptime tick on the target's console continues.

Medians go to the JSON with the load average before and after.  Needs root, libvirtd,
QEMU and the test guest (``tools/vm-setup.sh``); without them it says why and exits 0.

    python bench/live_migration.py [--runs 3] [--out bench/results/live_migration.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.vm import twonode  # noqa: E402
from tests.vm.test_live_migration import guest_hvparams  # noqa: E402

INSTANCE = "gntlm-bench1"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="migrations per bandwidth setting")
    p.add_argument(
        "--bandwidth",
        type=int,
        nargs="+",
        default=[32, 0],
        help="migration_bandwidth values (MiB/s) to measure; 32 is the kvm default, "
        "0 leaves the stream unlimited",
    )
    p.add_argument("--out", default=str(REPO / "bench/results/live_migration.json"))
    opts = p.parse_args()
    if not 1 <= opts.runs <= 20:
        p.error("--runs must be between 1 and 20")
    reason = twonode.missing_requirements()
    if reason:
        print(f"live_migration benchmark skipped: {reason}")
        return 0
    load_before = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="gntlm-", dir="/tmp"))
    lab = twonode.Lab(base)
    sets: list[dict[str, Any]] = []
    try:
        started = time.monotonic()
        lab.start(guest_hvparams())
        setup = time.monotonic() - started
        a, b = lab.nodes
        hv = guest_hvparams()
        started = time.monotonic()
        lab.gnt(
            "gnt-instance", "add", "-t", "sharedfile", "--disk", "0:size=32M", "-o", "noop",
            "--no-nics", "--ignore-ipolicy", "--hypervisor", "kvm",
            "-H", f"kvm:kernel_path={hv['kernel_path']},initrd_path={hv['initrd_path']},"
            "kvm_flag=disabled",
            "-B", "memory=128", "-n", a.name, INSTANCE,
        )  # fmt: skip
        if lab.domain_type(a, INSTANCE) != "qemu":  # never let a type='kvm' guest run here
            lab.virsh(a, "destroy", INSTANCE, check=False)
            raise RuntimeError("the guest is not a TCG domain")
        twonode.wait_for("guest ticking", lambda: len(lab.ticks(a, INSTANCE)) >= 2, 120)
        boot = time.monotonic() - started
        source, target = a, b
        for bandwidth in opts.bandwidth:
            lab.gnt("gnt-cluster", "modify", "-H", f"kvm:migration_bandwidth={bandwidth}")
            runs = measure(lab, opts.runs, source, target)
            if opts.runs % 2:
                source, target = target, source
            sets.append(
                {
                    "migration_bandwidth": bandwidth,
                    "runs": runs,
                    "median": {
                        key: statistics.median(r[key] for r in runs)
                        for key in ("cli_seconds", "downtime_ms", "libvirt_elapsed_ms")
                    },
                }
            )
        lab.gnt("gnt-instance", "remove", "-f", INSTANCE)
    finally:
        failures = lab.close()
        shutil.rmtree(base, ignore_errors=True)
        if failures:
            print("cleanup failures: " + "; ".join(failures), file=sys.stderr)
    result = {
        "benchmark": "live_migration",
        "guest": "tools/make-guest.sh guest, 128 MiB, 1 vCPU, QEMU TCG, sharedfile disk 32 MiB",
        "hvparams": {"migration_downtime": 30, "disk_cache": "none"},
        "sets": sets,
        "lab_setup_seconds": round(setup, 2),
        "add_to_ticking_seconds": round(boot, 2),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(opts.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def measure(
    lab: twonode.Lab, count: int, source: twonode.LabNode, target: twonode.LabNode
) -> list[dict[str, Any]]:
    """``count`` migrations back and forth, starting with source -> target."""
    runs: list[dict[str, Any]] = []
    for i in range(count):
        started = time.monotonic()
        lab.gnt("gnt-instance", "migrate", "-f", "--ignore-ipolicy", "-n", target.name, INSTANCE)
        wall = time.monotonic() - started
        before = lab.ticks(source, INSTANCE)  # the source's last tick before the switch
        stats = lab.completed_job_stats(target, INSTANCE)

        # The target's QEMU truncated its console file when it opened it: every tick in
        # it is from after the switch.
        def ticking(node: twonode.LabNode = target) -> bool:
            return len(lab.ticks(node, INSTANCE)) >= 2

        twonode.wait_for("ticks on the target", ticking, 30)
        after = lab.ticks(target, INSTANCE)
        if not (after[0] >= before[-1] and after == sorted(after)):
            raise RuntimeError(f"guest uptime did not continue: {before[-3:]} -> {after}")
        runs.append(
            {
                "run": i + 1,
                "from": source.name,
                "to": target.name,
                "cli_seconds": round(wall, 3),
                "downtime_ms": stats.get("downtime"),
                "libvirt_elapsed_ms": stats.get("time_elapsed"),
                "memory_processed_mib": round(stats.get("memory_processed", 0) / 2**20, 1),
                "uptime_source_last": before[-1],
                "uptime_target_first": after[0],
            }
        )
        print(f"run {i + 1}: {runs[-1]}", file=sys.stderr)
        source, target = target, source
    return runs


if __name__ == "__main__":
    sys.exit(main())
