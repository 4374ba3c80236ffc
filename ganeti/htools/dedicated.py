"""Allocation on dedicated clusters (every node has exclusive storage).

There the reference does not balance but fills nodes: a placement is
rated by the "lost allocations" — for each minimal instance spec of the
group policy (largest disk first) how many fewer such instances still fit
on the touched node(s) — and then by the free disk left; smaller wins
(lexicographically), ties go to the last candidate.
"""

from __future__ import annotations

import math

import numpy as np

from ganeti.htools import alloc as al
from ganeti.htools import model as m
from ganeti.htools.model import Cluster, FArray, IArray
from ganeti.htools.types import ISpec


def _fits(mem: FArray, dsk: FArray, cpu: FArray, spec: ISpec) -> FArray:
    out = np.full(mem.shape, np.inf)
    if spec.mem > 0:
        out = np.minimum(out, np.floor(np.maximum(mem, 0) / spec.mem))
    if spec.disk_size > 0:
        out = np.minimum(out, np.floor(np.maximum(dsk, 0) / spec.disk_size))
    if spec.cpu > 0:
        out = np.minimum(out, np.floor(np.maximum(cpu, 0) / spec.cpu))
    return np.where(np.isinf(out), 0.0, out)


def _losses(
    c: Cluster, nodes: IArray, d_mem: float, d_dsk: float, d_spn: float
) -> tuple[list[FArray], FArray]:
    g = int(c.node_group[nodes[0]]) if len(nodes) else 0
    pol = c.groups[g].ipolicy or c.ipolicy
    mins = sorted((mm.min for mm in pol.minmax), key=lambda s: -s.disk_size)
    mem = c.dyn[m.D_U_MEM, nodes]
    dsk = c.dyn[m.D_F_DSK, nodes]
    cpu = c.stat[m.S_VCPU_RATIO, nodes] * c.stat[m.S_T_CPU, nodes] - c.dyn[m.D_U_CPU, nodes]
    out = []
    for spec in mins:
        before = _fits(mem, dsk, cpu, spec)
        after = _fits(mem - d_mem, dsk - d_dsk, cpu - d_spn, spec)
        out.append(before - after)
    return out, dsk - d_dsk


def try_alloc(
    c: Cluster,
    spec: al.AllocSpec,
    cand: IArray,
    opts: al.AllocOptions,
    cap_nodes: IArray | None,
) -> al.AllocSolution:
    fails = [0] * len(al.FAIL_NAMES)
    k = len(cand)
    pol_fail = np.array(
        [al.policy_failure(c.node_policy(int(n)), spec, True) for n in cand], np.int64
    )
    force = np.full(k, opts.ignore_soft_errors)
    ib = al.inst_block(c, spec, k)
    pr = al.pri_reasons(c.dyn[:, cand], c.stat[:, cand], ib, force)
    pr = np.where(pol_fail != al.OK, pol_fail, pr)
    dsk = float(spec.dsk) if spec.local else 0.0
    p_loss, p_free = _losses(c, cand, float(spec.mem), dsk, float(spec.vcpus))
    if spec.required_nodes == 1:
        for r in pr[pr != al.OK]:
            fails[int(r)] += 1
        okc = [j for j in range(k) if pr[j] == al.OK]
        keys = {j: (tuple(int(v[j]) for v in p_loss), int(p_free[j])) for j in okc}
        order = sorted(okc, key=lambda j: (keys[j], -j))
        succ = len(okc)
        for j in order:
            node = int(cand[j])
            if cap_nodes is not None:
                if not al.globally_redundant(
                    al.place(c, spec, node, -1), cap_nodes, only=np.array([node])
                ):
                    fails[al.Fail.N1] += 1
                    succ -= 1
                    continue
            return al.AllocSolution(fails, succ, (node,), math.nan, keys[j])
        return al.AllocSolution(fails, 0, None, math.inf)
    # pairs
    ibs = al.inst_block(c, spec, 1)
    blk = c.dyn[:, cand]
    st = c.stat[:, cand]
    peer = c.peers[np.ix_(cand, cand)].T
    srs = al.sec_reasons(
        np.repeat(blk[:, None, :], k, axis=1),
        np.repeat(st[:, None, :], k, axis=1),
        ibs,
        peer,
        np.zeros((k, k), bool),
    )
    reason = np.where(pr[:, None] != al.OK, pr[:, None], srs)
    np.fill_diagonal(reason, -2)
    for r in reason[(reason != -2) & (reason != al.OK)]:
        fails[int(r)] += 1
    s_loss, s_free = _losses(c, cand, 0.0, dsk, 0.0)
    pairs: list[tuple[int, int]] = [
        (a, b) for a in range(k) for b in range(k) if reason[a, b] == al.OK
    ]
    pkeys = {
        (a, b): (
            tuple(int(pl[a] + sl[b]) for pl, sl in zip(p_loss, s_loss)),
            int(p_free[a] + s_free[b]),
        )
        for a, b in pairs
    }

    def _key(ab: tuple[int, int]) -> tuple[tuple[tuple[int, ...], int], int]:
        return (pkeys[ab], -(ab[0] * k + ab[1]))

    porder = sorted(pairs, key=_key)
    succ = len(pairs)
    for ab in porder:
        p, s = int(cand[ab[0]]), int(cand[ab[1]])
        if cap_nodes is not None:
            if not al.globally_redundant(al.place(c, spec, p, s), cap_nodes, only=np.array([p, s])):
                fails[al.Fail.N1] += 1
                succ -= 1
                continue
        return al.AllocSolution(fails, succ, (p, s), math.nan, pkeys[ab])
    return al.AllocSolution(fails, 0, None, math.inf)
