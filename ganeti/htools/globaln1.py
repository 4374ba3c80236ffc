"""Global N+1 redundancy (hail's and hspace's "capacity checks"), straightforward.

A cluster state is redundant if every considered node of a node list can be
evacuated.  Evacuating node ``n`` happens on a scratch copy of the cluster:

1. every DRBD instance with ``n`` as primary is failed over to its
   secondary (`moves.apply_move`, soft errors ignored: migration tags and
   the hard resource checks decide);
2. every instance on a shared ("movable", externally mirrored) template,
   in the order of ``n``'s primary list (most recently added first), is
   moved with a failover-to-any to each *escape node* (the other nodes of
   ``n``'s group in the node list, by index) with soft errors ignored; the
   move giving the lowest score of the group's nodes (``n`` included) is
   applied, ties going to the later node;
3. every other instance (plain, file, diskless), largest memory first
   (stable), is re-created on an escape node like a one-node allocation
   with soft errors ignored: instance policy and hard resource checks, the
   best score of the whole node list, ties to the later node.  The
   original stays on ``n``.

Any step without a possible target makes ``n`` non-evacuable.  This module
is the oracle: every candidate is applied to a full copy and scored with
`score.cluster_score`.  `allocfast.redundant` computes the same answers
quickly; it uses `evacuable_exact` (same semantics, vectorised scoring)
when its cheap bounds do not decide.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ganeti.htools import model as m
from ganeti.htools import moves as mv
from ganeti.htools import score as sc
from ganeti.htools.model import Cluster, IArray
from ganeti.htools.types import MOVABLE_TEMPLATES

SHARED_TEMPLATES = MOVABLE_TEMPLATES - {"drbd"}


def primary_list(c: Cluster, n: int) -> list[int]:
    """Primaries of node n in the reference's list order (latest added first)."""
    return [int(i) for i in np.flatnonzero(c.pnode == n)[::-1]]


def split_primaries(c: Cluster, prim: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """(DRBD, shared in list order, others by memory descending, stable)."""
    drbd = [i for i in prim if c.i_template[i] == "drbd"]
    shared = [i for i in prim if c.i_template[i] in SHARED_TEMPLATES]
    other = [
        i for i in prim if c.i_template[i] != "drbd" and c.i_template[i] not in SHARED_TEMPLATES
    ]
    other.sort(key=lambda i: -float(c.i_mem[i]))
    return drbd, shared, other


def escape_nodes(c: Cluster, node_list: Sequence[int], n: int) -> tuple[list[int], list[int]]:
    """(escape nodes of n, n's group within the node list), both by index."""
    g = int(c.node_group[n])
    grp = [t for t in node_list if int(c.node_group[t]) == g]
    return [t for t in grp if t != n], grp


def recreated(c: Cluster, i: int, t: int) -> Cluster | None:
    """A copy of c with a second copy of instance i added on node t (no secondary).

    None if the node's hard checks fail (soft errors are ignored).  The
    policy check is the caller's.
    """
    from ganeti.htools import alloc as al

    sp = c.inst_specs[i]
    spec = al.AllocSpec(
        name=c.inst_names[i],
        mem=int(c.i_mem[i]),
        dsk=int(c.i_dsk[i]),
        vcpus=int(c.i_vcpus[i]),
        template=c.i_template[i],
        disks=list(sp.disks),
        tags=list(c.inst_tags[i]),
        spindle_use=int(c.i_su[i]),
        disk_spindles=sp.disk_spindles,
        nic_networks=list(sp.nic_networks),
    )
    new, j = al.add_instance(c, spec, t, -1)
    for name in (
        "i_mem",
        "i_dsk",
        "i_vcpus",
        "i_su",
        "i_dsp",
        "i_uses_mem",
        "i_not_offline",
        "i_auto_balance",
        "i_forth",
        "i_local",
        "i_running",
    ):
        arr = getattr(new, name)
        arr[j] = getattr(c, name)[i]
    new.i_util[:, j] = c.i_util[:, i]
    new.i_status[j] = c.i_status[i]
    if not al.apply_new(new, j, t, -1, strict=True):
        return None
    return new


def _policy_ok(c: Cluster, i: int, t: int) -> bool:
    from ganeti.htools import alloc as al

    excl = bool(c.stat[m.S_EXCL, t])
    return al.policy_failure(c.node_policy(t), al._spec_of(c, i), excl) == al.OK


def evacuable_reference(c: Cluster, node_list: Sequence[int], n: int) -> bool:
    """Can node n be evacuated (the straightforward oracle)?"""
    return plan_reference(c, node_list, n) is not None


def plan_reference(c: Cluster, node_list: Sequence[int], n: int) -> list[int] | None:
    """The escape node chosen for each shared and re-created instance, in order.

    None if node n cannot be evacuated.
    """
    prim = primary_list(c, n)
    if not prim:
        return []
    drbd, shared, other = split_primaries(c, prim)
    cur = c.copy()
    soft = mv.MoveOptions(ignore_soft_errors=True)
    for i in drbd:
        if cur.snode[i] < 0:
            continue
        if not mv.apply_move(cur, mv.Move(i, mv.MoveType.FAILOVER), soft):
            return None
    escape, grp = escape_nodes(c, node_list, n)
    chosen: list[int] = []
    for i in shared:
        best: tuple[float, int, Cluster] | None = None
        for t in escape:
            c2 = cur.copy()
            if not mv.apply_move(c2, mv.Move(i, mv.MoveType.FAILOVER_TO_ANY, t), soft):
                continue
            val = sc.cluster_score(c2, grp)
            if best is None or not best[0] < val:
                best = (val, t, c2)
        if best is None:
            return None
        chosen.append(best[1])
        cur = best[2]
    for i in other:
        best = None
        for t in escape:
            if not _policy_ok(cur, i, t):
                continue
            c3 = recreated(cur, i, t)
            if c3 is None:
                continue
            val = sc.cluster_score(c3, node_list)
            if best is None or not best[0] < val:
                best = (val, t, c3)
        if best is None:
            return None
        chosen.append(best[1])
        cur = best[2]
    return chosen


def evacuable_exact(c: Cluster, node_list: Sequence[int], n: int) -> bool:
    """`evacuable_reference` with the candidates of each step checked and scored at once.

    Online candidates are scored with `alloc.single_scores_exact` (one
    replaced column, exact for the best band); offline candidates, and
    moves that change the location-tag map, are applied and scored one by
    one like the reference.
    """
    return plan_exact(c, node_list, n) is not None


def plan_exact(c: Cluster, node_list: Sequence[int], n: int) -> list[int] | None:
    """`plan_reference`, computed like `evacuable_exact`."""
    prim = primary_list(c, n)
    if not prim:
        return []
    drbd, shared, other = split_primaries(c, prim)
    cur = c.copy()
    soft = mv.MoveOptions(ignore_soft_errors=True)
    for i in drbd:
        if cur.snode[i] < 0:
            continue
        if not mv.apply_move(cur, mv.Move(i, mv.MoveType.FAILOVER), soft):
            return None
    escape, grp = escape_nodes(c, node_list, n)
    if (shared or other) and not escape:
        return None
    chosen: list[int] = []
    for i in shared:
        t = _best_failover_any(cur, i, n, escape, grp)
        if t is None:
            return None
        done = mv.apply_move(cur, mv.Move(i, mv.MoveType.FAILOVER_TO_ANY, t), soft)
        assert done
        chosen.append(t)
    for i in other:
        t = _best_recreate(cur, i, escape, node_list)
        if t is None:
            return None
        nxt = recreated(cur, i, t)
        assert nxt is not None
        cur = nxt
        chosen.append(t)
    return chosen


def _pick(found: list[tuple[int, float]]) -> int | None:
    """The lowest score, ties to the later node."""
    best: tuple[float, int] | None = None
    for t, val in sorted(found):
        if best is None or not best[0] < val:
            best = (val, t)
    return None if best is None else best[1]


def _band(
    c: Cluster, nodes: IArray, cand: IArray, cols: np.ndarray, mdelta: np.ndarray
) -> list[tuple[int, float]]:
    """(node, exact score) of the online candidates in the best band."""
    from ganeti.htools import alloc as al

    if len(cand) == 0:
        return []
    scores, exact = al.single_scores_exact(c, nodes, cand, cols, mdelta)
    return [(int(cand[k]), float(scores[k])) for k in np.flatnonzero(exact)]


def _best_failover_any(
    cur: Cluster, i: int, n: int, escape: list[int], grp: list[int]
) -> int | None:
    soft = mv.MoveOptions(ignore_soft_errors=True)
    esc = np.array(escape, np.int64)
    res = mv.simulate(cur, mv.MoveType.FAILOVER_TO_ANY, np.full(len(esc), i, np.int64), esc, soft)
    ok = res.ok
    if not ok.any():
        return None
    found: list[tuple[int, float]] = []
    brute = ok & cur.offline[esc]
    if cur.global_map.size and cur.i_excl_mat[i].any():
        brute = ok.copy()
    for t in esc[brute].tolist():
        c2 = cur.copy()
        mv.apply_move(c2, mv.Move(i, mv.MoveType.FAILOVER_TO_ANY, t), soft)
        found.append((t, sc.cluster_score(c2, grp)))
    vec = ok & ~brute
    if vec.any():
        saved = cur.dyn[:, n].copy()
        cur.dyn[:, n] = res.blocks[0][:, 0]
        try:
            found += _band(
                cur,
                np.array(grp, np.int64),
                esc[vec],
                res.blocks[1][:, vec],
                np.zeros(int(vec.sum())),
            )
        finally:
            cur.dyn[:, n] = saved
    return _pick(found)


def _best_recreate(cur: Cluster, i: int, escape: list[int], node_list: Sequence[int]) -> int | None:
    from ganeti.htools import alloc as al

    esc = np.array([t for t in escape if _policy_ok(cur, i, t)], np.int64)
    k = len(esc)
    if k == 0:
        return None
    inst = np.full(k, i, np.int64)
    ib = mv.InstBlock.gather(cur, inst)
    tag_add = mv._tag_add_delta(ib, cur.excl_count[esc]) if ib.excl.shape[1] else np.zeros(k)
    loc_new = mv.loc_contrib(cur, inst, esc, np.full(k, -1, np.int64))
    cols, ok = mv.add_pri(cur.dyn[:, esc], cur.stat[:, esc], ib, np.ones(k, bool), loc_new, tag_add)
    if not ok.any():
        return None
    found: list[tuple[int, float]] = []
    off = ok & cur.offline[esc]
    for t in esc[off].tolist():
        c3 = recreated(cur, i, t)
        assert c3 is not None
        found.append((t, sc.cluster_score(c3, node_list)))
    on = ok & ~off
    if on.any():
        nodes = np.array(node_list, np.int64)
        cand = esc[on]
        mdelta = (
            al._map_delta(cur, al._stats(cur, nodes)[1], ib, cand)
            if cur.has_location and not cur.i_forth[i]  # the map counts real instances
            else np.zeros(len(cand))
        )
        found += _band(cur, nodes, cand, cols[:, on], mdelta)
    return _pick(found)


def considered(
    c: Cluster,
    node_list: Sequence[int],
    include_offline: bool,
    only: IArray | Sequence[int] | None = None,
) -> list[int]:
    """The nodes whose evacuation is checked (node-list order)."""
    sel = node_list if only is None else sorted({int(n) for n in only} & set(node_list))
    return [int(n) for n in sel if include_offline or not c.offline[int(n)]]


def node_list_of(nodes: IArray | Sequence[int]) -> list[int]:
    return sorted({int(n) for n in nodes})


def redundant_reference(
    c: Cluster,
    nodes: IArray | Sequence[int],
    include_offline: bool = False,
    only: IArray | Sequence[int] | None = None,
) -> bool:
    """Every considered node of the node list `nodes` (or of `only`) is evacuable."""
    node_list = node_list_of(nodes)
    return all(
        evacuable_reference(c, node_list, n)
        for n in considered(c, node_list, include_offline, only)
    )
