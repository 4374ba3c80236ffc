"""Benchmarks for hail (allocation on a 1,000-node cluster).

Run: ``.venv/bin/python bench/htools_alloc.py`` -> bench/results/htools_alloc.json

* ``hail_alloc_1000n_<template>``: p50/p90 wall time of one IAllocator
  allocate request answered in-process (`ganeti.htools.hail.answer`) on a
  simulated 1,000-node group (``--simulate p,1000,...``) that already holds
  instances placed by earlier requests (each request is applied before the
  next), default options (capacity checks on).
* ``hail_alloc_1000n_ext_busy``: the same for ext instances on a group
  where every node already holds two ext and two plain instances (the
  capacity check evacuates four instances per node).
* ``hspace_simu_1000n_plain_l100``: wall time of ``hspace --simulate
  p,1000,8T,256g,64 --disk-template plain --machine-readable -l 100``
  in-process (100 tiered + 100 standard allocations, capacity checks on).

``--runs N`` repeats every case N times and records the median of each
figure (``runs``, and ``loadavg`` = the 1-minute load average before and
after, since other jobs share the machine).  ``--only-hspace`` keeps the
recorded hail figures.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from ganeti.htools import alloc as al
from ganeti.htools.backend.iallocator import IAllocInput, Request
from ganeti.htools.backend.simu import load_simulation
from ganeti.htools.hail import HailOptions, build, choose_group

OUT = os.path.join(os.path.dirname(__file__), "results", "htools_alloc.json")


def _request(template: str, nodes: int) -> dict[str, Any]:
    return {
        "type": "allocate",
        "name": "bench-inst",
        "memory": 1024,
        "vcpus": 1,
        "disk_template": template,
        "disks": [{"size": 10240}],
        "disk_space_total": 10240,
        "tags": [],
        "spindle_use": 1,
        "nics": [],
        "required_nodes": nodes,
    }


def bench_hail_alloc(
    n_nodes: int = 1000, requests: int = 20, template: str = "plain", busy: bool = False
) -> dict:
    data = load_simulation([f"p,{n_nodes},8T,256g,64"])
    if busy:
        # every node already holds two ext and two plain instances: the
        # capacity check moves/re-creates four instances per evacuated node
        from ganeti.htools.model import InstanceSpec

        k = 0
        for n in range(n_nodes):
            for tmpl, mem, dsk in (
                ("ext", 4096, 0),
                ("ext", 4096, 0),
                ("plain", 8192, 102400),
                ("plain", 2048, 10240),
            ):
                data.instances.append(
                    InstanceSpec(
                        f"busy{k}",
                        mem,
                        dsk,
                        2,
                        "running",
                        True,
                        n,
                        -1,
                        tmpl,
                        disks=[dsk] if dsk else [],
                    )
                )
                k += 1
    c = build(data, HailOptions())
    raw = _request(template, 2 if template == "drbd" else 1)
    times = []
    for k in range(requests):
        raw["name"] = f"bench-{k}"
        spec = al.AllocSpec(
            name=raw["name"],
            mem=1024,
            dsk=10240,
            vcpus=1,
            template=template,
            disks=[10240],
            required_nodes=raw["required_nodes"],
        )
        t0 = time.perf_counter()
        _g, sol, _msgs = choose_group(c, spec, HailOptions(), None, None)
        times.append(time.perf_counter() - t0)
        assert sol is not None and sol.nodes is not None
        c = al.place(c, spec, sol.nodes[0], sol.nodes[1] if len(sol.nodes) > 1 else -1)
    times.sort()
    return {
        "nodes": n_nodes,
        "template": template,
        "busy": busy,
        "requests": requests,
        "p50_ms": round(1000 * statistics.median(times), 1),
        "p90_ms": round(1000 * times[int(0.9 * (len(times) - 1))], 1),
        "max_ms": round(1000 * times[-1], 1),
    }


def bench_hspace(n_nodes: int = 1000, limit: int = 100, template: str = "plain") -> dict:
    """hspace --simulate on n_nodes nodes, -l limit instances per mode (in-process)."""
    import io

    from ganeti.htools.cli import hspace

    args = [
        "--simulate",
        f"p,{n_nodes},8T,256g,64",
        "--disk-template",
        template,
        "--machine-readable",
        "-l",
        str(limit),
    ]
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    code = hspace.run(args, out, err)
    wall = time.perf_counter() - t0
    keys = dict(x.split("=", 1) for x in out.getvalue().splitlines() if "=" in x)
    return {
        "args": " ".join(args),
        "exit": code,
        "wall_s": round(wall, 2),
        "tiered_instances": int(keys.get("HTS_TRL_INST_CNT", "0")),
        "standard_instances": int(keys.get("HTS_ALLOC_INSTANCES", "0")),
    }


def _median_of(runs: int, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `fn` `runs` times; numeric figures are the median over the runs."""
    load0 = os.getloadavg()[0]
    got = [fn() for _ in range(runs)]
    out = dict(got[0])
    for key in ("p50_ms", "p90_ms", "max_ms", "wall_s"):
        if key in out:
            out[key] = round(statistics.median(g[key] for g in got), 2)
    out["runs"] = runs
    out["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    return out


def main() -> None:
    _ = (IAllocInput, Request)
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    results: dict[str, Any] = {}
    if "--only-hspace" in sys.argv and os.path.exists(OUT):
        with open(OUT, encoding="utf-8") as fh:
            results = json.load(fh)
    else:
        results["hail_alloc_1000n_plain"] = _median_of(
            runs, lambda: bench_hail_alloc(template="plain")
        )
        results["hail_alloc_1000n_drbd"] = _median_of(
            runs, lambda: bench_hail_alloc(template="drbd", requests=10)
        )
        results["hail_alloc_1000n_ext_busy"] = _median_of(
            runs, lambda: bench_hail_alloc(template="ext", busy=True)
        )
    results["hspace_simu_1000n_plain_l100"] = _median_of(runs, bench_hspace)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=2)
        fh.write("\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
