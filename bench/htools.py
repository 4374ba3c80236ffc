"""hbal benchmark: the generated rebalancing cases beside the reference.

Usage: python bench/htools.py [--shared ../shared] [--cases 20n-standard,...]
       [--repeat 3] [--case-timeout 600] [--no-better]
       [--big-nodes 1000 --big-instances 15000 --big-time-limit 600] [--no-big]
       [--big-cases synthetic,rebal]

Writes bench/results/htools.json.  For every case: our wall times (each run
in a fresh child process, bounded by --case-timeout; median over --repeat
runs), the load average around the runs, number of moves, final score and
whether the plan equals the recorded reference plan, next to the reference
program's recorded time/moves/score; then one ``--better`` run.  The big
cases are generated clusters (crowded half / empty half: ``synthetic`` with
mixed instance sizes, ``rebal`` the shared rebal-*n-standard data scaled up)
balanced greedily until --big-time-limit seconds have passed (checked after
each step); they report the moves done, the score reached and the per-step
times.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from ganeti.htools import score as sc  # noqa: E402
from ganeti.htools.balance import BalanceOptions, Balancer  # noqa: E402
from ganeti.htools.boundtable import BoundSearch  # noqa: E402
from ganeti.htools.candtable import CandidateTable  # noqa: E402
from ganeti.htools.cli import hbal  # noqa: E402
from ganeti.htools.model import Cluster, Group, InstanceSpec, NodeSpec  # noqa: E402
from ganeti.htools.types import IPolicy  # noqa: E402

CASES = [f"{n}n-{k}" for n in (20, 50, 100, 200) for k in ("standard", "tiered")]
PLAN_RE = re.compile(r"^\s+\d+\. ", re.M)


def _plan(text: str) -> list[str]:
    return [line for line in text.splitlines() if PLAN_RE.match(line)]


def _ref(shared: str, case: str) -> dict[str, Any]:
    ref_dir = os.path.join(shared, "data", "htools-reference")
    out: dict[str, Any] = {}
    path = os.path.join(ref_dir, f"rebal-{case}.hbal.txt")
    if os.path.exists(path):
        text = open(path).read()
        out["plan_lines"] = _plan(text)
        out["moves"] = len(out["plan_lines"])
        m = re.search(r"improved from \S+ to (\S+)", text)
        out["final_score"] = float(m[1]) if m else None
        if "Error:" in text:
            out["error"] = next(x for x in text.splitlines() if "Error:" in x)
        elif "No solution found" in text:
            out["note"] = "No solution found"
    tpath = os.path.join(ref_dir, f"rebal-{case}.time")
    if os.path.exists(tpath):
        out["time_s"] = float(open(tpath).read().split()[0])
    l2 = os.path.join(ref_dir, f"rebal-{case}.l2.time")
    if os.path.exists(l2):
        out["time_first_2_moves_s"] = float(open(l2).read().split()[0])
        l2txt = os.path.join(ref_dir, f"rebal-{case}.l2.hbal.txt")
        if os.path.exists(l2txt):
            text = open(l2txt).read()
            out["l2_plan_lines"] = _plan(text)
            m = re.search(r"improved from \S+ to (\S+)", text)
            out["score_after_2_moves"] = float(m[1]) if m else None
    return out


# ---------------------------------------------------------------- children
def child_case(data: str, extra: list[str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    rc = hbal.run(["-t", data, "-G", "group-01", *extra], out, err)
    wall = time.perf_counter() - t0
    text = out.getvalue()
    m = re.search(r"improved from (\S+) to (\S+)", text)
    ini = re.search(r"Initial score: (\S+)", text)
    res: dict[str, Any] = {
        "exit_code": rc,
        "wall_s": wall,
        "plan": _plan(text),
        "initial_score": float(ini[1]) if ini else None,
        "final_score": float(m[2]) if m else (float(ini[1]) if ini else None),
    }
    summ = re.search(r"greedy: (\d+) moves, score (\S+); better: (\d+) moves, score (\S+)", text)
    if summ:
        res["better_summary"] = summ[0]
    return res


def synthetic(n_nodes: int, n_inst: int, seed: int = 1) -> Cluster:
    """A crowded half and an empty half, like the generated rebal cases.

    Nodes: 256 GiB memory, 8 TiB disk, 32 CPUs.  Instances (DRBD, running):
    512 MiB-4 GiB memory, 10/20 GiB disk, 1 vCPU, primary and secondary
    drawn at random from the first half of the nodes.
    """
    rng = np.random.default_rng(seed)
    full = n_nodes // 2
    t_mem, t_dsk = 262144, 8 * 1024 * 1024
    used_mem = np.zeros(n_nodes, np.int64)
    used_dsk = np.zeros(n_nodes, np.int64)
    insts = []
    for i in range(n_inst):
        p = int(rng.integers(0, full))
        s = int(rng.integers(0, full - 1))
        s = s + 1 if s >= p else s
        mem = int(rng.choice([512, 1024, 2048, 4096]))
        dsk = int(rng.choice([10240, 20480]))
        used_mem[p] += mem
        used_dsk[p] += dsk
        used_dsk[s] += dsk
        insts.append(InstanceSpec(f"inst-{i:05d}", mem, dsk, 1, "running", True, p, s, "drbd"))
    nodes = [
        NodeSpec(
            f"node-{k:04d}",
            float(t_mem),
            0,
            int(t_mem - used_mem[k]),
            float(t_dsk),
            int(t_dsk - used_dsk[k]),
            32.0,
            False,
            0,
        )
        for k in range(n_nodes)
    ]
    return Cluster.build([Group("group-01", "uuid-01")], nodes, insts, [], IPolicy())


def synthetic_rebal(n_nodes: int, n_inst: int, seed: int = 1) -> Cluster:
    """The shared rebal-*n-standard data scaled up (upstream's rebal test).

    Like the shared files: hspace filled one half of the nodes (64 GiB,
    7.28 TiB, 16 CPUs) with standard instances (128 MiB, 1 GiB DRBD disk,
    1 vCPU) in rounds in which every filled node takes part in one instance,
    as primary in one round and as secondary in the next; then an equal
    empty half was merged in.  Instances are identical, so many candidate
    moves tie.
    """
    rng = np.random.default_rng(seed)
    full = n_nodes // 2
    t_mem, t_dsk = 65536, 7629394
    used_mem = np.zeros(n_nodes, np.int64)
    used_dsk = np.zeros(n_nodes, np.int64)
    insts = []
    perm = rng.permutation(full)
    k = 0
    rnd = 0
    while k < n_inst:
        if rnd % 2 == 0:
            perm = rng.permutation(full)
            pairs = [(perm[2 * j], perm[2 * j + 1]) for j in range(full // 2)]
        else:
            pairs = [(perm[2 * j + 1], perm[(2 * j + 2) % full]) for j in range(full // 2)]
        for p, sn in pairs:
            if k >= n_inst:
                break
            p, sn = int(p), int(sn)
            used_mem[p] += 128
            used_dsk[p] += 1024
            used_dsk[sn] += 1024
            insts.append(InstanceSpec(f"new-{k}", 128, 1024, 1, "running", True, p, sn, "drbd"))
            k += 1
        rnd += 1
    nodes = [
        NodeSpec(
            f"node-{g:02d}-{k2 + 1:04d}",
            float(t_mem),
            0,
            int(t_mem - used_mem[n]),
            float(t_dsk),
            int(t_dsk - used_dsk[n]),
            16.0,
            False,
            0,
        )
        for n in range(n_nodes)
        for g, k2 in [(1 if n < full else 2, n if n < full else n - full)]
    ]
    return Cluster.build([Group("group-01", "uuid-01")], nodes, insts, [], IPolicy())


GENERATORS = {"synthetic": synthetic, "rebal": synthetic_rebal}


def child_big(
    n_nodes: int, n_inst: int, time_limit: float, gen: str = "synthetic"
) -> dict[str, Any]:
    t0 = time.perf_counter()
    c = GENERATORS[gen](n_nodes, n_inst)
    build = time.perf_counter() - t0
    nodes = np.arange(c.n_nodes)
    ini = sc.cluster_score(c, nodes)
    bal = Balancer(c, nodes, np.arange(c.n_instances), BalanceOptions())
    table_bytes = CandidateTable.estimate_bytes(bal)
    times: list[float] = []
    scores: list[float] = []
    t1 = time.perf_counter()
    deadline = t1 + time_limit

    class TimeUp(Exception):
        pass

    loads: list[tuple[float, float]] = [(0.0, os.getloadavg()[0])]

    def on_step(no: int, st: Any) -> None:
        now = time.perf_counter()
        times.append(now - t1)
        scores.append(st.score)
        if now - t1 - loads[-1][0] >= 60.0:
            loads.append((round(now - t1, 1), os.getloadavg()[0]))
        if no % 100 == 0 or no == 1:
            print(json.dumps({"step": no, "t": round(times[-1], 2), "score": st.score}), flush=True)
        if now > deadline:
            raise TimeUp

    finished = True
    try:
        bal.run(on_step, initial=ini)
    except TimeUp:
        finished = False
    wall = time.perf_counter() - t1
    loads.append((round(wall, 1), os.getloadavg()[0]))
    first = times[0] if times else None
    rest = np.diff(times) if len(times) > 1 else np.zeros(0)
    table = bal._table
    extra: dict[str, Any] = {}
    if isinstance(table, BoundSearch):
        extra = {"scored_candidates_per_step": round(table.expanded_cells / max(1, table.steps), 1)}
    return {
        **extra,
        "load_avg_1min_during": [[t, round(x, 2)] for t, x in loads],
        "later_steps_p90_s": float(np.percentile(rest, 90)) if len(rest) else None,
        "moves_per_100s": [
            int(np.searchsorted(times, t0 + 100.0) - np.searchsorted(times, t0))
            for t0 in np.arange(0.0, wall, 100.0)
        ],
        "build_s": build,
        "wall_s": wall,
        "moves": len(times),
        "finished": finished,
        "first_step_s": first,
        "later_steps_median_s": float(np.median(rest)) if len(rest) else None,
        "search_mode": bal.mode(),
        "table_estimate_bytes": table_bytes,
        "initial_score": ini,
        "final_score": scores[-1] if scores else ini,
        "step_times_s": [round(t, 3) for t in times[:10]],
    }


# ---------------------------------------------------------------- parent
def _spawn(args: list[str], timeout: float) -> dict[str, Any] | None:
    cmd = [sys.executable, os.path.abspath(__file__), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return {"timeout": True, "partial": partial.splitlines()[-3:]}
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-2000:]}
    return dict(json.loads(lines[-1]))


def run_case(shared: str, case: str, repeat: int, timeout: float, better: bool) -> dict[str, Any]:
    data = os.path.join(shared, "data", "htools", "generated", f"rebal-{case}.data")
    if not os.path.exists(data):
        return {"case": case, "skipped": f"missing {data}"}
    ref = _ref(shared, case)
    runs: list[dict[str, Any]] = []
    loads: list[float] = []
    for _ in range(repeat):
        loads.append(os.getloadavg()[0])
        r = _spawn(["--child-case", data], timeout)
        loads.append(os.getloadavg()[0])
        if r is None or "wall_s" not in r:
            runs.append(r or {})
            break
        runs.append(r)
    ok = [r for r in runs if "wall_s" in r]
    res: dict[str, Any] = {"case": case, "runs": len(runs)}
    if not ok:
        res["failed"] = runs[-1] if runs else None
        res["timeout_s"] = timeout
    else:
        walls = [r["wall_s"] for r in ok]
        first = ok[0]
        res.update(
            {
                "exit_code": first["exit_code"],
                "wall_s_median": round(statistics.median(walls), 3),
                "wall_s_all": [round(w, 3) for w in walls],
                "moves": len(first["plan"]),
                "initial_score": first["initial_score"],
                "final_score": first["final_score"],
                "same_plan_every_run": all(r["plan"] == first["plan"] for r in ok),
            }
        )
        plan = first["plan"]
        if ref.get("plan_lines") and "error" not in ref:
            res["identical_plan"] = plan == ref["plan_lines"]
        if ref.get("l2_plan_lines"):
            n = len(ref["l2_plan_lines"])
            res["first_moves_identical_to_reference_l2"] = plan[:n] == ref["l2_plan_lines"]
    res["load_avg_1min"] = [round(x, 2) for x in loads]
    res["reference"] = {k: v for k, v in ref.items() if not k.endswith("plan_lines")}
    if better and ok:
        b = _spawn(["--child-case", data, "--child-better"], timeout)
        if b and "wall_s" in b:
            res["better"] = {
                "wall_s": round(b["wall_s"], 3),
                "moves": len(b["plan"]),
                "final_score": b["final_score"],
                "summary": b.get("better_summary"),
                "greedy_prefix_identical": b["plan"][: len(ok[0]["plan"])] == ok[0]["plan"],
            }
        else:
            res["better"] = b
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--case-timeout", type=float, default=600.0)
    ap.add_argument("--no-better", action="store_true")
    ap.add_argument("--big-nodes", type=int, default=1000)
    ap.add_argument("--big-instances", type=int, default=15000)
    ap.add_argument("--big-time-limit", type=float, default=600.0)
    ap.add_argument("--no-big", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "htools.json"))
    ap.add_argument(
        "--merge", action="store_true", help="replace only the cases run in an existing --out"
    )
    ap.add_argument("--child-case")
    ap.add_argument("--child-better", action="store_true")
    ap.add_argument("--child-big", nargs=4)
    ap.add_argument(
        "--big-cases",
        default="synthetic",
        help="generated big cases: synthetic (mixed sizes), rebal (rebal-*n scaled up)",
    )
    args = ap.parse_args()
    if args.child_case:
        extra = ["--better"] if args.child_better else []
        print(json.dumps(child_case(args.child_case, extra)))
        return 0
    if args.child_big:
        n, i, limit, gen = args.child_big
        print(json.dumps(child_big(int(n), int(i), float(limit), gen)))
        return 0
    results = []
    for case in [c for c in args.cases.split(",") if c]:
        res = run_case(args.shared, case, args.repeat, args.case_timeout, not args.no_better)
        print(json.dumps(res), file=sys.stderr, flush=True)
        results.append(res)
    for gen in [] if args.no_big else [g for g in args.big_cases.split(",") if g]:
        load0 = os.getloadavg()[0]
        # one step may overrun the limit: allow a generous margin, then kill
        big = _spawn(
            [
                "--child-big",
                str(args.big_nodes),
                str(args.big_instances),
                str(args.big_time_limit),
                gen,
            ],
            args.big_time_limit * 1.5 + 300,
        )
        name = "synthetic" if gen == "synthetic" else f"{gen}-scaled"
        res = {
            "case": f"{name}-{args.big_nodes}n-{args.big_instances}i",
            "time_limit_s": args.big_time_limit,
            "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            **(big or {}),
        }
        print(json.dumps(res), file=sys.stderr, flush=True)
        results.append(res)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    if args.merge and os.path.exists(args.out):
        with open(args.out) as fh:
            old = json.load(fh).get("results", [])
        done = {r["case"] for r in results}
        results = [r for r in old if r.get("case") not in done] + results
    doc = {
        "benchmark": "hbal",
        "machine": f"{os.cpu_count()} shared cores, Python {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "results": results,
    }
    with open(args.out, "w") as fh:
        json.dump(doc, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
