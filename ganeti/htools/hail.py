"""hail: answer IAllocator requests (pure, no I/O).

In-process API for the master (``--iallocator hail``)::

    from ganeti.htools.hail import run_request
    response = run_request(request_dict)          # {"success", "info", "result"}

`run_request` accepts the full IAllocator input document (``version``,
``nodes``, ``instances``, ``nodegroups``, ``request``, ...) as a dict and
returns the response as a dict; it never raises for an unplaceable request
(``success: False``) but raises `HToolsError` for malformed input.
`HailOptions` carries hail's command-line options.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from ganeti.htools import alloc as al
from ganeti.htools import model as m
from ganeti.htools import moves as mv
from ganeti.htools import score as sc
from ganeti.htools.backend.iallocator import IAllocInput, Request, parse_document
from ganeti.htools.backend.text import ClusterData
from ganeti.htools.model import Cluster, IArray
from ganeti.htools.types import AllocPolicy, HToolsError, Mirror


@attrs.frozen
class HailOptions:
    ignore_soft_errors: bool = False
    capacity_checks: bool = True
    restrict_to: tuple[str, ...] | None = None
    ignore_dynu: bool = False


def run_request(
    request: dict[str, Any],
    options: HailOptions | None = None,
    cluster_data: ClusterData | None = None,
) -> dict[str, Any]:
    """Answer one IAllocator request document."""
    inp = parse_document(request)
    return answer(inp, options or HailOptions(), cluster_data)


def build(data: ClusterData, opts: HailOptions) -> Cluster:
    if opts.ignore_dynu:
        for inst in data.instances:
            inst.util = (0.0, 0.0, 0.0, 0.0)
    return Cluster.build(data.groups, data.nodes, data.instances, data.cluster_tags, data.ipolicy)


def answer(
    inp: IAllocInput, opts: HailOptions, cluster_data: ClusterData | None = None
) -> dict[str, Any]:
    data = cluster_data if cluster_data is not None else inp.data
    c = build(data, opts)
    req = inp.request
    try:
        if req.type == "allocate":
            ok, info, result = _allocate(c, req.raw, opts)
        elif req.type == "multi-allocate":
            ok, info, result = _multi_allocate(c, req.raw, opts)
        elif req.type == "relocate":
            ok, info, result = _relocate(c, req, opts)
        elif req.type == "node-evacuate":
            ok, info, result = _evacuate(c, req.raw, opts, change_group=False)
        elif req.type == "change-group":
            ok, info, result = _evacuate(c, req.raw, opts, change_group=True)
        elif req.type == "allocate-secondary":
            ok, info, result = _allocate_secondary(c, req, opts)
        else:  # pragma: no cover - rejected by the parser
            raise HToolsError(f"Invalid request type '{req.type}'")
    except _Failed as exc:
        ok, info, result = False, str(exc), []
    prefix = "Request successful: " if ok else "Request failed: "
    return {"success": ok, "info": prefix + info, "result": result if ok else []}


class _Failed(Exception):
    pass


# ------------------------------------------------------------------ allocate


def spec_from(d: dict[str, Any], name: str | None = None) -> al.AllocSpec:
    disks = [int(x.get("size", 0)) for x in d.get("disks", [])]
    dsp = [x.get("spindles") for x in d.get("disks", [])]
    nm = name if name is not None else d.get("name")
    if not isinstance(nm, str):
        raise HToolsError("invalid request dict: key 'name': Unable to read String")
    try:
        return al.AllocSpec(
            name=nm,
            mem=int(d["memory"]),
            dsk=int(d.get("disk_space_total", sum(disks))),
            vcpus=int(d["vcpus"]),
            template=str(d["disk_template"]),
            disks=disks,
            tags=list(d.get("tags", [])),
            spindle_use=int(d.get("spindle_use", 1)),
            disk_spindles=sum(int(x) for x in dsp) if dsp and None not in dsp else None,
            nic_networks=[n["network"] for n in d.get("nics", []) if n.get("network")],
            required_nodes=int(d.get("required_nodes", 1)),
        )
    except KeyError as err:
        raise HToolsError(f"invalid request dict: key {err} not found") from None
    except (TypeError, ValueError) as err:
        raise HToolsError(f"invalid request dict: {err}") from None


def _restrict(c: Cluster, names: list[str] | None, opts: HailOptions) -> set[int] | None:
    lst = list(opts.restrict_to) if opts.restrict_to is not None else names
    if lst is None:
        return None
    return {c.node_index(n) for n in lst if n in c._node_idx}


def _is_dedicated(c: Cluster, nodes: IArray) -> bool:
    return len(nodes) > 0 and bool(np.all(c.stat[m.S_EXCL, nodes] > 0))


def _group_desc(c: Cluster, g: int, sol: al.AllocSolution) -> str:
    grp = c.groups[g]
    head = f"Group {grp.name} ({grp.alloc_policy.value}): "
    if not sol.ok:
        return head + "No valid allocation solutions, failure reasons: " + sol.fail_summary()
    assert sol.nodes is not None
    names = "/".join(c.node_names[n] for n in sol.nodes)
    return (
        head
        + f"score: {sol.score_text()}, successes {sol.successes}, "
        + f"failures {sol.total_fails()} ({sol.fail_summary()}) for node(s) {names}"
    )


def alloc_in_group(
    c: Cluster,
    spec: al.AllocSpec,
    g: int,
    score_nodes: IArray,
    restrict: set[int] | None,
    opts: HailOptions,
) -> al.AllocSolution | None:
    nodes = c.group_nodes(g)
    cand = nodes[~c.offline[nodes]]
    if restrict is not None:
        cand = np.array([n for n in cand if int(n) in restrict], np.int64)
    if len(cand) == 0:
        return None
    aopts = al.AllocOptions(opts.ignore_soft_errors, opts.capacity_checks)
    cap = score_nodes if opts.capacity_checks else None
    if _is_dedicated(c, nodes):
        from ganeti.htools import dedicated

        return dedicated.try_alloc(c, spec, cand, aopts, None)
    return al.try_alloc(c, spec, cand, score_nodes, aopts, cap)


def choose_group(
    c: Cluster,
    spec: al.AllocSpec,
    opts: HailOptions,
    restrict: set[int] | None,
    group_name: str | None,
    groups: list[int] | None = None,
) -> tuple[int | None, al.AllocSolution | None, list[str]]:
    """Reference's multi-group allocation; returns (group, solution, messages)."""
    msgs: list[str] = []
    descs: list[str] = []
    sols: list[tuple[int, al.AllocSolution]] = []
    if group_name is not None:
        try:
            gsel = [c.group_index(group_name)]
        except KeyError:
            raise _Failed(f"No such group '{group_name}'") from None
        all_nodes = None
    else:
        gsel = groups if groups is not None else list(range(len(c.groups)))
        all_nodes = np.arange(c.n_nodes, dtype=np.int64)
    for g in gsel:
        grp = c.groups[g]
        if grp.alloc_policy == AllocPolicy.UNALLOCABLE and group_name is None:
            continue
        missing = [n for n in spec.nic_networks if n not in grp.networks]
        if missing:
            msgs.append(
                f"group {grp.name} is not connected to a network required by instance {spec.name}"
            )
            continue
        score_nodes = all_nodes if all_nodes is not None else c.group_nodes(g)
        sol = alloc_in_group(c, spec, g, score_nodes, restrict, opts)
        if sol is None:
            continue
        descs.append(_group_desc(c, g, sol))
        if sol.ok:
            sols.append((g, sol))
    msgs += descs
    if not sols:
        return None, None, msgs

    def key(item: tuple[int, al.AllocSolution]) -> tuple[int, Any]:
        g, sol = item
        pol = 0 if c.groups[g].alloc_policy == AllocPolicy.PREFERRED else 1
        if sol.dedicated_key is not None:
            return (pol, sol.dedicated_key)
        return (pol, sol.score)

    g, sol = min(sols, key=key)
    return g, sol, msgs


def _allocate(c: Cluster, raw: dict[str, Any], opts: HailOptions) -> tuple[bool, str, Any]:
    spec = spec_from(raw)
    restrict = _restrict(c, raw.get("restrict-to-nodes"), opts)
    g, sol, msgs = choose_group(c, spec, opts, restrict, raw.get("group_name"))
    if g is None or sol is None or sol.nodes is None:
        raise _Failed(", ".join(msgs))
    info = f"Selected group: {c.groups[g].name}, " + ", ".join(msgs)
    return True, info, [c.node_names[n] for n in sol.nodes]


def _multi_allocate(c: Cluster, raw: dict[str, Any], opts: HailOptions) -> tuple[bool, str, Any]:
    done: list[Any] = []
    failed: list[str] = []
    restrict = _restrict(c, None, opts)
    for item in raw.get("instances", []):
        spec = spec_from(item)
        g, sol, _msgs = choose_group(c, spec, opts, restrict, raw.get("group_name"))
        if g is None or sol is None or sol.nodes is None:
            failed.append(spec.name)
            continue
        p = sol.nodes[0]
        s = sol.nodes[1] if len(sol.nodes) > 1 else -1
        c = al.place(c, spec, p, s)
        done.append([spec.name, [c.node_names[n] for n in sol.nodes]])
    info = f"{len(failed)} instances failed to allocate and {len(done)} were allocated successfully"
    return True, info, [done, failed]


# ------------------------------------------------------------------ relocate


def _inst(c: Cluster, name: str | None) -> int:
    if name is None or name not in c._inst_idx:
        raise HToolsError(f"Unknown instance '{name}'")
    return c.instance_index(name)


def _score_after(c: Cluster, move: mv.Move, nodes: IArray, opts: mv.MoveOptions) -> float | None:
    c2 = c.copy()
    if not mv.apply_move(c2, move, opts):
        return None
    return sc.cluster_score(c2, nodes)


def _sec_reason(c: Cluster, i: int, t: int, force: bool) -> str:
    if c.stat[m.S_EXCL, t] > 0 and c.inst_specs[i].disk_spindles is None:
        return "FailSpindles"
    ib = mv.InstBlock.gather(c, np.array([i], np.int64))
    ta = np.array([t], np.int64)
    p = int(c.pnode[i])
    r = al.sec_reasons(
        c.dyn[:, ta], c.stat[:, ta], ib, c.peers[t, np.array([p])], np.array([force])
    )
    code = int(r[0])
    return al.FAIL_NAMES[code] if code != al.OK else "FailInternal"


def _relocate(c: Cluster, req: Request, opts: HailOptions) -> tuple[bool, str, Any]:
    raw = req.raw
    i = _inst(c, req.name)
    p, s = int(c.pnode[i]), int(c.snode[i])
    if c.i_mirror[i] != Mirror.INTERNAL:
        fo = _best_failover_any(c, i, set(), opts)
        if fo is None:
            raise _Failed("Can't find any good node")
        return True, "success", [c.node_names[fo[0]]]
    rel = raw.get("relocate_from", [])
    if rel != [c.node_names[s]]:
        raise HToolsError("Instance secondary node is not the node being relocated")
    g = int(c.node_group[p])
    gnodes = c.group_nodes(g)
    mopts = mv.MoveOptions(ignore_soft_errors=opts.ignore_soft_errors)
    best: tuple[float, int] | None = None
    errs: list[str] = []
    for t in gnodes:
        t = int(t)
        if t in (p, s) or c.offline[t]:
            continue
        if c.stat[m.S_EXCL, t] > 0 and c.inst_specs[i].disk_spindles is None:
            errs.append(f" Node {c.node_names[t]} failed: FailSpindles;")
            continue
        val = _score_after(c, mv.Move(i, mv.MoveType.REPLACE_SECONDARY, t), gnodes, mopts)
        if val is None:
            force = bool(c.offline[s]) or opts.ignore_soft_errors
            errs.append(f" Node {c.node_names[t]} failed: {_sec_reason(c, i, t, force)};")
            continue
        if best is None or val <= best[0]:
            best = (val, t)
    if best is None:
        raise _Failed("Can't find any good node: " + "".join(errs))
    return True, "success", [c.node_names[best[1]]]


def _allocate_secondary(c: Cluster, req: Request, opts: HailOptions) -> tuple[bool, str, Any]:
    """Pick a secondary for a plain instance that becomes DRBD (primary fixed)."""
    i = _inst(c, req.name)
    p = int(c.pnode[i])
    gnodes = c.group_nodes(int(c.node_group[p]))
    ib = mv.InstBlock.gather(c, np.array([i], np.int64))
    ib.need_sec = np.array([float(c.i_mem[i])])
    fails = [0] * len(al.FAIL_NAMES)
    best: tuple[float, int] | None = None
    succ = 0
    for t in gnodes:
        t = int(t)
        if t == p or c.offline[t]:
            continue
        ta = np.array([t], np.int64)
        force = np.array([opts.ignore_soft_errors])
        r = int(al.sec_reasons(c.dyn[:, ta], c.stat[:, ta], ib, c.peers[t, [p]], force)[0])
        if r != al.OK:
            fails[r] += 1
            continue
        col, _ = mv.add_sec(c.dyn[:, ta], c.stat[:, ta], ib, c.peers[t, [p]], force, force & False)
        c2 = c.copy()
        c2.dyn[:, t] = col[:, 0]
        val = sc.cluster_score(c2, np.arange(c.n_nodes))
        succ += 1
        if best is None or val <= best[0]:
            best = (val, t)
    summary = ", ".join(f"{al.FAIL_NAMES[k]}: {v}" for k, v in enumerate(fails) if v)
    if best is None:
        raise _Failed("No valid allocation solutions, failure reasons: " + summary)
    info = (
        f"score: {best[0]:.8f}, successes {succ}, failures {sum(fails)} ({summary}) "
        f"for node(s) {c.node_names[p]}/{c.node_names[best[1]]}"
    )
    return True, info, c.node_names[best[1]]


def _without(c: Cluster, i: int) -> Cluster:
    """The cluster with instance i removed from its nodes (kept in the arrays)."""
    c2 = c.copy()
    ib = mv.InstBlock.gather(c2, np.array([i], np.int64))
    p = int(c2.pnode[i])
    pa = np.array([p], np.int64)
    loc_old = mv.loc_contrib(c2, np.array([i]), pa, np.array([int(c2.snode[i])]))
    rm = mv._tag_remove_delta(ib, c2.excl_count[pa]) if ib.excl.shape[1] else np.zeros(1)
    c2.dyn[:, p] = mv.remove_pri(c2.dyn[:, pa], c2.stat[:, pa], ib, loc_old, rm)[:, 0]
    if c2.excl_count.shape[1]:
        c2.excl_count[p] -= c2.i_excl_mat[i]
    c2.pnode[i] = -1
    c2.i_forth[i] = True  # excluded from every per-node recount
    return c2


# ------------------------------------------------------------------ evacuation


def _best_failover_any(
    c: Cluster, i: int, avoid: set[int], opts: HailOptions
) -> tuple[int, float] | None:
    p = int(c.pnode[i])
    g = int(c.node_group[p])
    gnodes = c.group_nodes(g)
    mopts = mv.MoveOptions(ignore_soft_errors=opts.ignore_soft_errors)
    best: tuple[int, float] | None = None
    for t in gnodes:
        t = int(t)
        if t == p or t in avoid or c.offline[t]:
            continue
        val = _score_after(c, mv.Move(i, mv.MoveType.FAILOVER_TO_ANY, t), gnodes, mopts)
        if val is not None and (best is None or val <= best[1]):
            best = (t, val)
    return best


def _op_migrate(name: str) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_MIGRATE",
        "instance_name": name,
        "allow_runtime_changes": False,
        "ignore_ipolicy": False,
        "cleanup": False,
        "allow_failover": True,
        "ignore_hvversions": True,
    }


def _op_migrate_to(name: str, node: str) -> dict[str, Any]:
    op = _op_migrate(name)
    op["target_node"] = node
    return op


def _op_replace(name: str, node: str) -> dict[str, Any]:
    return {
        "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
        "instance_name": name,
        "early_release": False,
        "ignore_ipolicy": False,
        "mode": "replace_new_secondary",
        "disks": [],
        "remote_node": node,
    }


def _apply(c: Cluster, move: mv.Move, force: bool) -> Cluster | None:
    i, t = move.inst, move.target
    if t >= 0 and c.stat[m.S_EXCL, t] > 0 and c.inst_specs[i].disk_spindles is None:
        return None
    c2 = c.copy()
    if not mv.apply_move(c2, move, mv.MoveOptions(ignore_soft_errors=force)):
        return None
    return c2


def _evac_one(
    c: Cluster, i: int, mode: str, avoid: set[int], nodes: IArray, opts: HailOptions
) -> tuple[Cluster, list[dict[str, Any]]] | str:
    name = c.inst_names[i]
    p, s = int(c.pnode[i]), int(c.snode[i])
    force = opts.ignore_soft_errors
    if c.i_mirror[i] == Mirror.EXTERNAL:
        if mode == "secondary-only":
            return "Instances with shared storage have no secondary node"
        best = None
        for t in nodes:
            t = int(t)
            if t == p or t in avoid or c.offline[t]:
                continue
            c2 = _apply(c, mv.Move(i, mv.MoveType.FAILOVER_TO_ANY, t), force or bool(c.offline[p]))
            if c2 is None:
                continue
            val = sc.cluster_score(c2, nodes)
            if best is None or val <= best[0]:
                best = (val, t, c2)
        if best is None:
            return "Can't find any good node for relocation: no valid target"
        return best[2], [_op_migrate_to(name, c.node_names[best[1]])]
    if c.i_mirror[i] != Mirror.INTERNAL:
        return "Instance has non-mirrored disks and cannot be evacuated"
    if mode == "primary-only":
        c2 = _apply(c, mv.Move(i, mv.MoveType.FAILOVER), force or bool(c.offline[p]))
        if c2 is None:
            return "Can't failover instance"
        return c2, [_op_migrate(name)]
    targets = [int(t) for t in nodes if int(t) not in avoid and not c.offline[t]]
    if mode == "secondary-only":
        best2: tuple[float, int, Cluster] | None = None
        last_err = "FailInternal"
        for t in targets:
            if t in (p, s):
                continue
            mvv = mv.Move(i, mv.MoveType.REPLACE_SECONDARY, t)
            c2 = _apply(c, mvv, force or bool(c.offline[s]))
            if c2 is None:
                last_err = _sec_reason(c, i, t, force)
                continue
            val = sc.cluster_score(c2, nodes)
            if best2 is None or val <= best2[0]:
                best2 = (val, t, c2)
        if best2 is None:
            return f"Can't find any good nodes for relocation: Allocation failed: {last_err}"
        return best2[2], [_op_replace(name, c.node_names[best2[1]])]
    # all: r:np, f, r:ns for every pair
    best3: tuple[float, int, int, Cluster] | None = None
    err = "FailInternal"
    for np_ in targets:
        for ns in targets:
            if np_ == ns or np_ in (p, s) or ns in (p, s):
                continue
            cur: Cluster | None = c
            if c.offline[p]:
                cur = _apply(c, mv.Move(i, mv.MoveType.FAILOVER), True)
            if cur is None:
                continue
            c1 = _apply(cur, mv.Move(i, mv.MoveType.REPLACE_SECONDARY, np_), force)
            if c1 is None:
                err = "Allocation failed: Changing secondary to new primary: " + _sec_reason(
                    cur, i, np_, force
                )
                continue
            c2 = _apply(c1, mv.Move(i, mv.MoveType.FAILOVER), force)
            if c2 is None:
                err = "Allocation failed: Failing over to new primary: FailMem"
                continue
            c3 = _apply(c2, mv.Move(i, mv.MoveType.REPLACE_SECONDARY, ns), force)
            if c3 is None:
                err = "Allocation failed: Changing secondary to new secondary: " + _sec_reason(
                    c2, i, ns, force
                )
                continue
            val = sc.cluster_score(c3, nodes)
            if best3 is None or val <= best3[0]:
                best3 = (val, np_, ns, c3)
    if best3 is None:
        return f"Can't find any good nodes for relocation: {err}"
    _v, np_, ns, c3 = best3
    ops = []
    if c.offline[p]:
        ops.append(_op_migrate(name))
    ops += [
        _op_replace(name, c.node_names[np_]),
        _op_migrate(name),
        _op_replace(name, c.node_names[ns]),
    ]
    return c3, ops


def _evacuate(
    c: Cluster, raw: dict[str, Any], opts: HailOptions, change_group: bool
) -> tuple[bool, str, Any]:
    moved: list[Any] = []
    failed: list[Any] = []
    jobs: list[Any] = []
    names = raw.get("instances", [])
    for name in names:
        i = _inst(c, name)
        p, s = int(c.pnode[i]), int(c.snode[i])
        if change_group:
            cur_groups = {int(c.node_group[p])} | ({int(c.node_group[s])} if s >= 0 else set())
            tg = raw.get("target_groups") or []
            targets = [c.group_index(t) for t in tg] if tg else list(range(len(c.groups)))
            targets = [g for g in targets if g not in cur_groups]
            res = _change_group_one(c, i, targets, opts)
        else:
            mode = raw.get("evac_mode", "all")
            avoid = {p, s} if mode == "all" else ({s} if mode == "secondary-only" else {p})
            avoid.discard(-1)
            res = _evac_one(c, i, mode, avoid, c.group_nodes(int(c.node_group[p])), opts)
        if isinstance(res, str):
            failed.append([name, res])
            continue
        c, ops = res
        np_, ns = int(c.pnode[i]), int(c.snode[i])
        nodes = [c.node_names[np_]] + ([c.node_names[ns]] if ns >= 0 else [])
        moved.append([name, c.groups[int(c.node_group[np_])].name, nodes])
        jobs.append(ops)
    info = f"{len(failed)} instances failed to move and {len(moved)} were moved successfully"
    return True, info, [moved, failed, jobs]


def _change_group_one(
    c: Cluster, i: int, targets: list[int], opts: HailOptions
) -> tuple[Cluster, list[dict[str, Any]]] | str:
    """Pick a group like a multi-group allocation, then evacuate into it."""
    spec = al.AllocSpec(
        name=c.inst_names[i],
        mem=int(c.i_mem[i]),
        dsk=int(c.i_dsk[i]),
        vcpus=int(c.i_vcpus[i]),
        template=c.i_template[i],
        disks=list(c.inst_specs[i].disks),
        tags=list(c.inst_tags[i]),
        spindle_use=int(c.i_su[i]),
        disk_spindles=c.inst_specs[i].disk_spindles,
        required_nodes=2 if c.i_mirror[i] == Mirror.INTERNAL else 1,
    )
    base = _without(c, i)
    g, _sol, msgs = choose_group(base, spec, opts, None, None, groups=targets)
    if g is None:
        return ", ".join(msgs)
    gnodes = c.group_nodes(g)
    # move the instance into the group: pretend its current nodes are foreign
    res = _evac_into(c, i, gnodes, opts)
    return res


def _evac_into(
    c: Cluster, i: int, gnodes: IArray, opts: HailOptions
) -> tuple[Cluster, list[dict[str, Any]]] | str:
    name = c.inst_names[i]
    p = int(c.pnode[i])
    force = opts.ignore_soft_errors
    targets = [int(t) for t in gnodes if not c.offline[t]]
    best: tuple[float, int, int, Cluster] | None = None
    err = "FailInternal"
    for np_ in targets:
        for ns in targets:
            if np_ == ns:
                continue
            cur: Cluster | None = c
            if c.offline[p]:
                cur = _apply(c, mv.Move(i, mv.MoveType.FAILOVER), True)
            if cur is None:
                continue
            c1 = _apply(cur, mv.Move(i, mv.MoveType.REPLACE_SECONDARY, np_), True)
            if c1 is None:
                err = "Allocation failed: Changing secondary to new primary: " + _sec_reason(
                    cur, i, np_, force
                )
                continue
            c2 = _apply(c1, mv.Move(i, mv.MoveType.FAILOVER), True)
            if c2 is None:
                continue
            c3 = _apply(c2, mv.Move(i, mv.MoveType.REPLACE_SECONDARY, ns), force)
            if c3 is None:
                continue
            val = sc.cluster_score(c3, gnodes)
            if best is None or val <= best[0]:
                best = (val, np_, ns, c3)
    if best is None:
        return f"Can't find any good nodes for relocation: {err}"
    _v, np_, ns, c3 = best
    ops = [
        _op_replace(name, c.node_names[np_]),
        _op_migrate(name),
        _op_replace(name, c.node_names[ns]),
    ]
    return c3, ops


__all__ = ["HailOptions", "answer", "math", "run_request"]
