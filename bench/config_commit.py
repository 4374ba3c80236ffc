"""Config store benchmark: 1,000 nodes / 20,000 instances.

Measures, on the file system of ``--dir`` (default: a temp dir under bench/results):

* load: read + parse + build objects + full verify of ``config.data``;
* writer start-up (indexes; fragment cache primed, from loading when the file is canonical);
* first commit after load;
* commit latency: one instance modification through ``ConfigWriter.update`` until its
  ``flush()`` Deferred fires, i.e. verify + render + write + fsync + rename + dir fsync.
  The writer's ``callLater(0)`` runs on a ``task.Clock`` advanced at once, so reactor
  scheduling (microseconds) is not included.  Blocking work runs inline here, so after
  the Deferred fired the same thread also frees the replaced file (``release_previous``,
  which the master runs off the reactor thread); ``*_incl_release`` figures include it.

Targets: commit p50 <= 20 ms, load <= 1 s.  Results go to bench/results/config_commit.json.
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

from twisted.internet.task import Clock

from ganeti import constants
from ganeti.config import ConfigStore, ConfigWriter, bootstrap_config, load_config
from ganeti.objects import NIC, ConfigData, Disk, Instance, Node, NodeGroup, new_uuid

RESULTS = Path(__file__).parent / "results" / "config_commit.json"


def build(n_nodes: int, n_instances: int, drbd_share: float = 0.5) -> ConfigData:
    now = time.time()
    cfg = bootstrap_config(
        cluster_name="bench.example.com",
        master_name="node0001.example.com",
        master_ip="10.0.0.1",
        node_ip="10.1.0.1",
        now=now,
        enabled_hypervisors=[constants.HT_KVM],
    )
    groups = list(cfg.nodegroups.values())
    for g in range(1, 4):
        grp = NodeGroup(name=f"group{g}", ctime=now, mtime=now)
        cfg.nodegroups[grp.uuid] = grp
        groups.append(grp)
    nodes = list(cfg.nodes.values())
    for i in range(2, n_nodes + 1):
        node = Node(
            name=f"node{i:04d}.example.com",
            primary_ip=f"10.1.{i // 250}.{i % 250 + 1}",
            secondary_ip=f"10.2.{i // 250}.{i % 250 + 1}",
            group=groups[i % len(groups)].uuid,
            master_candidate=i <= 10,
            ctime=now,
            mtime=now,
        )
        cfg.nodes[node.uuid] = node
        nodes.append(node)
    port = constants.FIRST_DRBD_PORT
    for i in range(n_instances):
        pnode = nodes[i % len(nodes)]
        snode = nodes[(i + 1) % len(nodes)]
        inst_uuid = new_uuid()
        drbd = (i % 100) < drbd_share * 100
        disks = []
        for d in range(1 + (i // 2) % 2):
            duuid = new_uuid()
            if drbd:
                port = port + 1 if port < constants.LAST_DRBD_PORT else constants.FIRST_DRBD_PORT
                children = [
                    Disk(
                        dev_type="plain",
                        logical_id=["xenvg", f"{duuid}.disk{d}_data"],
                        nodes=[pnode.uuid, snode.uuid],
                        size=10240,
                        ctime=now,
                        mtime=now,
                    ),
                    Disk(
                        dev_type="plain",
                        logical_id=["xenvg", f"{duuid}.disk{d}_meta"],
                        nodes=[pnode.uuid, snode.uuid],
                        size=128,
                        ctime=now,
                        mtime=now,
                    ),
                ]
                disk = Disk(
                    uuid=duuid,
                    dev_type="drbd",
                    children=children,
                    logical_id=[pnode.uuid, snode.uuid, port, d, d, "s" * 32],
                    nodes=[pnode.uuid, snode.uuid],
                    size=10240,
                    iv_name=f"disk/{d}",
                    ctime=now,
                    mtime=now,
                )
            else:
                disk = Disk(
                    uuid=duuid,
                    dev_type="plain",
                    logical_id=["xenvg", f"{duuid}.disk{d}"],
                    nodes=[pnode.uuid],
                    size=10240,
                    iv_name=f"disk/{d}",
                    ctime=now,
                    mtime=now,
                )
            cfg.disks[duuid] = disk
            disks.append(duuid)
        mac = f"aa:00:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
        inst = Instance(
            uuid=inst_uuid,
            name=f"inst{i:05d}.example.com",
            primary_node=pnode.uuid,
            os="debootstrap+default",
            hypervisor=constants.HT_KVM,
            beparams={"maxmem": 1024, "minmem": 512, "vcpus": 2} if i % 5 == 0 else {},
            admin_state=constants.ADMINST_UP,
            nics=[NIC(mac=mac, nicparams={"link": "br0"} if i % 3 == 0 else {})],
            disks=disks,
            disks_active=True,
            network_port=11000 + i % 3000 if i % 4 == 0 else None,
            tags={"web"} if i % 7 == 0 else set(),
            ctime=now,
            mtime=now,
        )
        cfg.instances[inst_uuid] = inst
    return cfg


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=20000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument(
        "--drbd-share", type=float, default=0.5, help="fraction of DRBD instances (rest: plain)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="directory for config.data")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(dir=args.dir or Path(__file__).parent / "results"))
    try:
        t0 = time.perf_counter()
        cfg = build(args.nodes, args.instances, args.drbd_share)
        build_s = time.perf_counter() - t0
        store = ConfigStore(workdir / "config.data")
        t0 = time.perf_counter()
        store.save(cfg)
        save_s = time.perf_counter() - t0
        size = store.path.stat().st_size

        load_times = []
        loaded: ConfigData | None = None
        for _ in range(args.loads):
            loaded = None  # free the previous copy outside the timed region
            t0 = time.perf_counter()
            loaded = load_config(store.path)
            load_times.append(time.perf_counter() - t0)
        assert loaded is not None

        clock = Clock()
        store = ConfigStore(store.path)  # cold fragment cache, as after a daemon start
        t0 = time.perf_counter()
        writer = ConfigWriter(loaded, store, clock)  # indexes, primes the fragment cache
        writer_init_s = time.perf_counter() - t0
        names = sorted(i.name for i in writer.get_instances())

        def flushed(t_start: float) -> tuple[float, float]:
            """Flush; (seconds until the flush Deferred fired, until control came back)."""
            done: list[object] = []
            fired: list[float] = []

            def durable(serial: int) -> int:
                fired.append(time.perf_counter())
                return serial

            writer.flush().addCallback(durable).addBoth(done.append)
            clock.advance(0)
            t_end = time.perf_counter()
            if not done or not isinstance(done[0], int):
                raise RuntimeError(f"commit did not complete: {done!r}")
            return fired[0] - t_start, t_end - t_start

        def one_commit(k: int) -> tuple[float, float]:
            t_start = time.perf_counter()
            inst = writer.lookup_instance(names[(k * 7919) % len(names)]).copy()
            inst.beparams["vcpus"] = 1 + k % 4
            writer.update(inst)
            return flushed(t_start)

        first_commit_s, first_commit_total_s = one_commit(0)
        writes_before = store.writes
        runs = [one_commit(k) for k in range(1, args.iterations + 1)]
        latencies = [durable for durable, _ in runs]
        totals = [total for _, total in runs]
        assert store.writes - writes_before == args.iterations

        # Group commit: 100 modifications in one tick, one write.
        t0 = time.perf_counter()
        for k in range(100):
            inst = writer.lookup_instance(names[k]).copy()
            inst.admin_state = constants.ADMINST_DOWN
            writer.update(inst)
        writes_before = store.writes
        batch_s, _ = flushed(t0)
        assert store.writes - writes_before == 1

        reloaded = load_config(store.path)
        assert reloaded.serial_no == writer.serial_no

        ms = [x * 1000 for x in latencies]
        total_ms = [x * 1000 for x in totals]
        result = {
            "benchmark": "config_commit",
            "nodes": args.nodes,
            "instances": args.instances,
            "disks": len(cfg.disks),
            "drbd_share": args.drbd_share,
            "file_bytes": size,
            "iterations": args.iterations,
            "build_s": round(build_s, 3),
            "initial_save_s": round(save_s, 3),
            "load_s": {
                "min": round(min(load_times), 3),
                "median": round(statistics.median(load_times), 3),
                "max": round(max(load_times), 3),
            },
            "writer_init_ms": round(writer_init_s * 1000, 2),
            "first_commit_after_load_ms": round(first_commit_s * 1000, 2),
            "first_commit_after_load_incl_release_ms": round(first_commit_total_s * 1000, 2),
            "commit_ms": {
                "p50": round(pct(ms, 0.50), 2),
                "p95": round(pct(ms, 0.95), 2),
                "p99": round(pct(ms, 0.99), 2),
                "max": round(max(ms), 2),
                "mean": round(statistics.mean(ms), 2),
            },
            "commit_incl_release_ms": {
                "p50": round(pct(total_ms, 0.50), 2),
                "p95": round(pct(total_ms, 0.95), 2),
            },
            "group_commit_100_changes_ms": round(batch_s * 1000, 2),
            "targets": {"commit_p50_ms": 20, "load_s": 1.0},
            "met": {
                "commit_p50": pct(ms, 0.50) <= 20,
                "load": statistics.median(load_times) <= 1.0,
            },
            "environment": {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "fs_dir": str(workdir.parent),
            },
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"config: {args.nodes} nodes, {args.instances} instances, {result['disks']} disks, "
        f"{size / 1e6:.1f} MB\n"
        f"load: median {result['load_s']['median']:.3f} s (min {result['load_s']['min']:.3f})\n"
        f"writer start-up (indexes, fragment cache): {result['writer_init_ms']:.1f} ms\n"
        f"first commit after load: {result['first_commit_after_load_ms']:.1f} ms\n"
        f"commit: p50 {result['commit_ms']['p50']:.2f} ms, p95 {result['commit_ms']['p95']:.2f} "
        f"ms, max {result['commit_ms']['max']:.2f} ms over {args.iterations} "
        f"(incl. freeing the old file: p50 {result['commit_incl_release_ms']['p50']:.2f} ms)\n"
        f"group commit of 100 changes: {result['group_commit_100_changes_ms']:.1f} ms\n"
        f"targets met: {result['met']}"
    )
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
