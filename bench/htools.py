"""hbal benchmark: the generated rebalancing cases beside the reference.

Usage: python bench/htools.py [--shared ../shared] [--cases 20n-standard,...]
       [--big-nodes 1000 --big-instances 15000 --big-max-moves N --big-time-limit S]

Writes bench/results/htools.json.  For every case: our wall time, number of
moves, final score and whether the plan equals the recorded reference plan,
next to the reference program's recorded time/moves/score.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import time
from typing import Any

import numpy as np

from ganeti.htools import score as sc
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.cli import hbal
from ganeti.htools.model import Cluster, Group, InstanceSpec, NodeSpec
from ganeti.htools.types import IPolicy

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [f"{n}n-{k}" for n in (20, 50, 100, 200) for k in ("standard", "tiered")]


def _ref(shared: str, case: str) -> dict[str, Any]:
    ref_dir = os.path.join(shared, "data", "htools-reference")
    out: dict[str, Any] = {}
    path = os.path.join(ref_dir, f"rebal-{case}.hbal.txt")
    if os.path.exists(path):
        text = open(path).read()
        out["moves"] = len(re.findall(r"^\s+\d+\. ", text, re.M))
        m = re.search(r"improved from \S+ to (\S+)", text)
        out["final_score"] = float(m[1]) if m else None
        out["plan_lines"] = [line for line in text.splitlines() if re.match(r"^\s+\d+\. ", line)]
        if "Error:" in text:
            out["error"] = next(x for x in text.splitlines() if "Error:" in x)
    tpath = os.path.join(ref_dir, f"rebal-{case}.time")
    if os.path.exists(tpath):
        out["time_s"] = float(open(tpath).read().split()[0])
    l2 = os.path.join(ref_dir, f"rebal-{case}.l2.time")
    if os.path.exists(l2):
        out["time_first_2_moves_s"] = float(open(l2).read().split()[0])
    return out


def run_case(shared: str, case: str) -> dict[str, Any]:
    data = os.path.join(shared, "data", "htools", "generated", f"rebal-{case}.data")
    if not os.path.exists(data):
        return {"case": case, "skipped": f"missing {data}"}
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    rc = hbal.run(["-t", data, "-G", "group-01"], out, err)
    wall = time.perf_counter() - t0
    text = out.getvalue()
    plan = [line for line in text.splitlines() if re.match(r"^\s+\d+\. ", line)]
    m = re.search(r"improved from (\S+) to (\S+)", text)
    ini = re.search(r"Initial score: (\S+)", text)
    ref = _ref(shared, case)
    res: dict[str, Any] = {
        "case": case,
        "exit_code": rc,
        "wall_s": round(wall, 3),
        "moves": len(plan),
        "initial_score": float(ini[1]) if ini else None,
        "final_score": float(m[2]) if m else (float(ini[1]) if ini else None),
        "reference": {k: v for k, v in ref.items() if k != "plan_lines"},
    }
    if ref.get("plan_lines") and "error" not in ref:
        res["identical_plan"] = plan == ref["plan_lines"]
    return res


def synthetic(n_nodes: int, n_inst: int, seed: int = 1) -> Cluster:
    """A crowded half and an empty half, like the generated rebal cases."""
    rng = np.random.default_rng(seed)
    nodes = [
        NodeSpec(f"node-{k:04d}", 262144.0, 0, 262144, 8e6, 8000000, 32.0, False, 0)
        for k in range(n_nodes)
    ]
    full = n_nodes // 2
    insts = []
    used = np.zeros(n_nodes)
    for i in range(n_inst):
        p = int(rng.integers(0, full))
        s = int(rng.integers(0, full - 1))
        s = s + 1 if s >= p else s
        mem = int(rng.choice([512, 1024, 2048, 4096]))
        used[p] += mem
        insts.append(
            InstanceSpec(
                f"inst-{i:05d}",
                mem,
                int(rng.choice([10240, 20480])),
                1,
                "running",
                True,
                p,
                s,
                "drbd",
            )
        )
    for k, n in enumerate(nodes):
        n.f_mem = int(n.t_mem - used[k])
    return Cluster.build([Group("group-01", "uuid-01")], nodes, insts, [], IPolicy())


def run_big(n_nodes: int, n_inst: int, max_moves: int, time_limit: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    c = synthetic(n_nodes, n_inst)
    build = time.perf_counter() - t0
    nodes = np.arange(c.n_nodes)
    ini = sc.cluster_score(c, nodes)
    bal = Balancer(c, nodes, np.arange(c.n_instances), BalanceOptions(max_length=max_moves))
    deadline = time.perf_counter() + time_limit
    times: list[float] = []

    def on_step(no: int, _st: Any) -> None:
        times.append(time.perf_counter())
        if times[-1] > deadline:
            bal.opts = BalanceOptions(max_length=no)

    t1 = time.perf_counter()
    steps = bal.run(on_step, initial=ini)
    wall = time.perf_counter() - t1
    return {
        "case": f"synthetic-{n_nodes}n-{n_inst}i",
        "build_s": round(build, 3),
        "wall_s": round(wall, 3),
        "moves": len(steps),
        "max_moves": max_moves,
        "time_limit_s": time_limit,
        "initial_score": ini,
        "final_score": steps[-1].score if steps else ini,
        "first_step_s": round(times[0] - t1, 3) if times else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--big-nodes", type=int, default=1000)
    ap.add_argument("--big-instances", type=int, default=15000)
    ap.add_argument("--big-max-moves", type=int, default=20)
    ap.add_argument("--big-time-limit", type=float, default=600.0)
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "htools.json"))
    args = ap.parse_args()
    results = []
    for case in [c for c in args.cases.split(",") if c]:
        res = run_case(args.shared, case)
        print(json.dumps(res), file=sys.stderr)
        results.append(res)
    if not args.no_big:
        res = run_big(args.big_nodes, args.big_instances, args.big_max_moves, args.big_time_limit)
        print(json.dumps(res), file=sys.stderr)
        results.append(res)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"benchmark": "hbal", "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
