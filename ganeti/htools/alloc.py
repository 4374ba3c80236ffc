"""Placing new instances: hail's and hspace's allocation machinery.

The cluster is a `ganeti.htools.model.Cluster`; a new instance is an
`AllocSpec`.  `try_alloc` evaluates every candidate node (one node) or
ordered node pair (two nodes, DRBD) of a node list at once with numpy and
returns an `AllocSolution` with Ganeti's success/failure counters.

Scores follow the reference exactly:

* one node: the full cluster score of the node list after the placement
  (two-pass standard deviations, left folds); candidates are first ranked
  by a closed-form approximation and every candidate within a tiny margin
  of the best is then scored exactly, so ties break like the reference
  (the *last* candidate of equal score wins);
* two nodes: the reference's incremental statistics (``n``, ``sum``,
  ``var`` per standard-deviation metric, updated for the primary and then
  for the secondary), which is an elementwise formula and therefore
  evaluated exactly for every pair with numpy broadcasting.

`place` adds a new instance to a cluster (returns a new `Cluster`), and
`globally_redundant` is the reference's global N+1 ("capacity") check.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence

import attrs
import numpy as np

from ganeti.htools import allocfast as af
from ganeti.htools import globaln1
from ganeti.htools import model as m
from ganeti.htools import moves as mv
from ganeti.htools import score as sc
from ganeti.htools.model import BArray, Cluster, FArray, IArray
from ganeti.htools.types import (
    LOCAL_STORAGE_TEMPLATES,
    MIRROR_OF,
    MOVABLE_TEMPLATES,
    IPolicy,
    Mirror,
)


class Fail(enum.IntEnum):
    """Failure modes, in the reference's order (FailMode)."""

    MEM = 0
    DISK = 1
    CPU = 2
    N1 = 3
    TAGS = 4
    MIG = 5
    DISKCOUNT = 6
    SPINDLES = 7
    INTERNAL = 8


FAIL_NAMES = (
    "FailMem",
    "FailDisk",
    "FailCPU",
    "FailN1",
    "FailTags",
    "FailMig",
    "FailDiskCount",
    "FailSpindles",
    "FailInternal",
)
OK = -1


@attrs.define
class AllocSpec:
    """A new instance to place."""

    name: str
    mem: int
    dsk: int
    vcpus: int
    template: str
    disks: list[int] = attrs.Factory(list)
    tags: list[str] = attrs.Factory(list)
    spindle_use: int = 1
    disk_spindles: int | None = None
    nic_networks: list[str] = attrs.Factory(list)
    required_nodes: int = 1

    @property
    def local(self) -> bool:
        return self.template in LOCAL_STORAGE_TEMPLATES

    @property
    def mirror(self) -> Mirror:
        return MIRROR_OF.get(self.template, Mirror.NONE)


@attrs.define
class AllocSolution:
    """Result of trying one instance on one node list."""

    fails: list[int]  # count per Fail
    successes: int
    nodes: tuple[int, ...] | None  # chosen (primary[, secondary])
    score: float
    dedicated_key: tuple[tuple[int, ...], int] | None = None

    @property
    def ok(self) -> bool:
        return self.nodes is not None

    def fail_summary(self) -> str:
        return ", ".join(f"{FAIL_NAMES[k]}: {v}" for k, v in enumerate(self.fails) if v)

    def total_fails(self) -> int:
        return sum(self.fails)

    def score_text(self) -> str:
        if self.dedicated_key is not None:
            losses, dsk = self.dedicated_key
            return f"([{','.join(str(x) for x in losses)}],{dsk})"
        return f"{self.score:.8f}"


@attrs.frozen
class AllocOptions:
    ignore_soft_errors: bool = False
    capacity_checks: bool = True


# --------------------------------------------------------------- policy


def policy_failure(pol: IPolicy, spec: AllocSpec, excl: bool) -> int:
    """OK if the instance matches one min/max pair and the template is allowed."""
    if spec.template not in pol.disk_templates:
        return Fail.DISK
    disks = spec.disks or ([spec.dsk] if spec.dsk else [])
    reason: int = OK
    for mm in pol.minmax:
        lo, hi = mm.min, mm.max
        spindles = spec.disk_spindles if excl else spec.spindle_use
        if not lo.mem <= spec.mem <= hi.mem:
            r: int = Fail.MEM
        elif not lo.cpu <= spec.vcpus <= hi.cpu:
            r = Fail.CPU
        elif spec.template != "diskless" and not lo.disk_count <= len(disks) <= hi.disk_count:
            r = Fail.DISKCOUNT if False else Fail.DISK
        elif spec.template != "diskless" and any(
            not lo.disk_size <= d <= hi.disk_size for d in disks
        ):
            r = Fail.DISK
        elif not excl and not lo.spindle_use <= spec.spindle_use <= hi.spindle_use:
            r = Fail.SPINDLES
        elif excl and (spindles is None or not lo.spindle_use <= spindles <= hi.spindle_use):
            r = Fail.SPINDLES
        else:
            return OK
        if reason == OK:
            reason = r
    return reason


# --------------------------------------------------------------- checks


def excl_vector(c: Cluster, tags: Sequence[str]) -> FArray:
    vec = np.zeros(len(c.excl_tag_ids))
    for t in tags:
        k = c.excl_tag_ids.get(t)
        if k is not None:
            vec[k] += 1.0
    return vec


def desired_tags(c: Cluster, spec: AllocSpec) -> list[str]:
    pref = [
        t[len("htools:desiredlocation:") :]
        for t in c.cluster_tags
        if t.startswith("htools:desiredlocation:")
    ]
    return [t for t in spec.tags if any(t.startswith(p) for p in pref)]


def desired_unsat(c: Cluster, spec: AllocSpec, nodes: IArray) -> FArray:
    want = desired_tags(c, spec)
    if not want:
        return np.zeros(len(nodes))
    return np.array(
        [float(len([w for w in want if w not in c.node_loc_tags[int(n)]])) for n in nodes]
    )


def excl_prefixes(c: Cluster) -> list[str]:
    return [t[len("htools:iextags:") :] for t in c.cluster_tags if t.startswith("htools:iextags:")]


def inst_block(c: Cluster, spec: AllocSpec, k: int) -> mv.InstBlock:
    """An InstBlock of K copies of the new instance (running, auto-balanced)."""
    ones = np.ones(k)
    excl = excl_vector(c, [t for t in spec.tags if any(t.startswith(p) for p in excl_prefixes(c))])
    return mv.InstBlock(
        idx=np.full(k, -1, np.int64),
        mem=ones * spec.mem,
        dsk=ones * spec.dsk,
        vcpus=ones * spec.vcpus,
        su=ones * spec.spindle_use,
        dsp=ones * float(spec.disk_spindles or 0),
        util=np.ones((4, k)),
        uses_mem=np.ones(k, bool),
        not_off=np.ones(k, bool),
        forth=np.zeros(k, bool),
        local=np.full(k, spec.local),
        need_sec=ones * spec.mem,
        excl=np.tile(excl, (k, 1)),
    )


def pri_reasons(blk: FArray, st: FArray, ib: mv.InstBlock, force: BArray) -> IArray:
    """First failure of adding the instance as primary (OK = -1)."""
    excl = st[m.S_EXCL] > 0
    soft = ~force
    loc = ib.local
    new_umem = blk[m.D_U_MEM] - np.where(ib.uses_mem, ib.mem, 0.0)
    new_dsk = blk[m.D_F_DSK] - np.where(loc, ib.dsk, 0.0)
    new_fsp = blk[m.D_F_SP] - np.where(loc & excl, ib.dsp, 0.0)
    new_isp = blk[m.D_INST_SP] + np.where(loc & ~excl, ib.su, 0.0)
    new_ucpu = blk[m.D_U_CPU] + np.where(ib.not_off, ib.vcpus, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        new_pcpu = new_ucpu / st[m.S_T_CPU]
    ratio = st[m.S_VCPU_RATIO]
    new_fail = new_umem <= blk[m.D_R_MEM]
    counts = np.asarray(ib.excl)  # placeholder shape (K, n_excl), replaced by caller
    del counts
    out = np.full(blk.shape[1], OK, np.int64)
    conds: list[tuple[BArray, int]] = [
        (new_umem <= 0, Fail.MEM),
        (loc & (new_dsk <= 0), Fail.DISK),
        (soft & loc & (new_dsk < st[m.S_LO_DSK]), Fail.DISK),
        (loc & excl & (new_fsp < 0), Fail.SPINDLES),
        (soft & loc & (new_isp > st[m.S_HI_SP]), Fail.SPINDLES),
        (soft & new_fail & (blk[m.D_FAIL_N1] == 0), Fail.MEM),
        (soft & (ratio >= 0) & (ratio < new_pcpu), Fail.CPU),
    ]
    for cond, code in reversed(conds):
        out = np.where(cond, code, out)
    return out


def sec_reasons(
    blk: FArray, st: FArray, ib: mv.InstBlock, peer_before: FArray, force: BArray
) -> IArray:
    excl = st[m.S_EXCL] > 0
    soft = ~force
    new_rmem = np.maximum(blk[m.D_R_MEM], peer_before + ib.need_sec)
    u_mem = blk[m.D_U_MEM]
    new_dsk = blk[m.D_F_DSK] - ib.dsk
    new_fsp = blk[m.D_F_SP] - np.where(excl, ib.dsp, 0.0)
    new_isp = blk[m.D_INST_SP] + np.where(~excl, ib.su, 0.0)
    conds: list[tuple[BArray, int]] = [
        (new_dsk <= 0, Fail.DISK),
        (soft & (new_dsk < st[m.S_LO_DSK]), Fail.DISK),
        (excl & (new_fsp < 0), Fail.SPINDLES),
        (soft & (new_isp > st[m.S_HI_SP]), Fail.SPINDLES),
        (soft & (ib.need_sec >= u_mem), Fail.MEM),
        (soft & (u_mem <= new_rmem) & (blk[m.D_FAIL_N1] == 0), Fail.MEM),
    ]
    out = np.full(np.broadcast(new_dsk, new_rmem).shape, OK, np.int64)
    for cond, code in reversed(conds):
        out = np.where(cond, code, out)
    return out


def _tag_fail(c: Cluster, ib: mv.InstBlock, nodes: IArray) -> BArray:
    if ib.excl.shape[1] == 0 or not ib.excl.any():
        return np.zeros(len(nodes), bool)
    return np.asarray((ib.excl[0][None, :] * (c.excl_count[nodes] >= 1)).sum(axis=1) > 0)


# --------------------------------------------------------------- scoring


def _stats(c: Cluster, nodes: IArray) -> tuple[FArray, FArray, BArray, float]:
    vals = sc.node_values(c.dyn[:, nodes], c.stat[:, nodes])
    off = c.offline[nodes]
    gm = sc.location_map(c, nodes)
    return vals, gm, off, sc.map_value(gm)


def _map_delta(c: Cluster, gm: FArray, ib: mv.InstBlock, cand: IArray) -> FArray:
    if gm.size == 0 or not ib.excl.any():
        return np.zeros(len(cand))
    present = (gm >= 1).astype(float)  # (n_loc, n_excl)
    per_loc = present @ ib.excl[0]  # (n_loc,)
    return np.asarray(c.node_loc_mat[cand] @ per_loc)


def single_scores(
    c: Cluster,
    nodes: IArray,
    cand: IArray,
    new_cols: FArray,
    map_delta: FArray,
    exact_all: bool = False,
    fast: bool = True,
) -> FArray:
    """Full scores of the node list after replacing each candidate's column.

    Only the candidates within a tiny margin of the best are scored exactly
    (`single_scores_exact` tells which); the others get an upper-biased
    approximation that never ties an exact score.
    """
    return single_scores_exact(c, nodes, cand, new_cols, map_delta, exact_all, fast)[0]


def single_scores_exact(
    c: Cluster,
    nodes: IArray,
    cand: IArray,
    new_cols: FArray,
    map_delta: FArray,
    exact_all: bool = False,
    fast: bool = True,
) -> tuple[FArray, BArray]:
    """`single_scores` and the mask of the candidates scored exactly."""
    vals, _gm, off, mapv = _stats(c, nodes)
    pos_of = {int(n): k for k, n in enumerate(nodes)}
    on_idx = np.flatnonzero(~off)
    on_pos = {int(p): k for k, p in enumerate(on_idx)}
    von = vals[:, on_idx]
    voff = vals[:, off]
    newv = sc.node_values(new_cols, c.stat[:, cand])  # (18, K)
    cpos = np.array([on_pos[pos_of[int(n)]] for n in cand], np.int64)
    k = len(cand)
    base = sc.metrics_from_values(von, voff, mapv)
    n_on = von.shape[1]
    # closed-form approximation
    approx = np.empty(k)
    if k:
        mean = von.mean(axis=1)
        d = von - mean[:, None]
        q = (d * d).sum(axis=1)
        old = von[:, cpos]  # (18, K)
        met = np.tile(base, (k, 1))
        dd_old = old - mean[:, None]
        dd_new = newv - mean[:, None]
        delta = dd_new - dd_old
        with np.errstate(invalid="ignore"):
            var = (q[:, None] - dd_old**2 + dd_new**2) / n_on - (delta / n_on) ** 2
        sd = np.sqrt(np.maximum(var, 0.0))
        met[:, sc.SD_ROWS] = sd[sc.SD_ROWS].T
        sums = von.sum(axis=1)
        met[:, sc.SUM_ROWS] = (sums[sc.SUM_ROWS, None] - old[sc.SUM_ROWS] + newv[sc.SUM_ROWS]).T
        met[:, sc.MAP_METRIC] = mapv + map_delta
        met[:, 19] = sums[sc.RTOTAL_ROW] - old[sc.RTOTAL_ROW] + newv[sc.RTOTAL_ROW]
        approx = sc.total_score(met)
    if k == 0:
        return approx, np.zeros(0, bool)
    finite = np.isfinite(approx)
    if exact_all or not finite.any():
        need = np.arange(k)
    else:
        best = float(np.min(approx[finite]))
        tol = 1e-9 * max(1.0, abs(best))
        need = np.flatnonzero(~finite | (approx <= best + tol))
    exact = np.zeros(k, bool)
    exact[need] = True
    out = approx.copy()
    out[finite] += 1e-6 * max(1.0, float(np.max(np.abs(approx[finite]))))  # never tie exact ones
    if fast and len(need) >= af.FOLD_MIN_CANDIDATES:
        got = af.replaced_scores(von, voff, mapv, map_delta[need], cpos[need], newv[:, need])
        if got is not None:
            out[need] = got
            return out, exact
    step = max(1, 200_000 // max(1, 18 * n_on))
    for lo in range(0, len(need), step):
        sel = need[lo : lo + step]
        blk = np.repeat(von[None, :, :], len(sel), axis=0)
        blk[np.arange(len(sel)), :, cpos[sel]] = newv[:, sel].T
        mets = sc.metrics_from_values(blk, np.repeat(voff[None], len(sel), axis=0), 0.0)
        mets[:, sc.MAP_METRIC] = mapv + map_delta[sel]
        out[sel] = sc.total_score(mets)
    return out, exact


def _sd_stats(x: FArray) -> tuple[float, FArray, FArray]:
    n = x.shape[-1]
    if n == 0:
        z = np.zeros(x.shape[:-1])
        return 0.0, z, z
    s = np.cumsum(x, axis=-1)[..., -1]
    mean = s / float(n)
    d = x - mean[..., None]
    var = np.cumsum(d * d, axis=-1)[..., -1] / float(n)
    return float(n), s, var


def _sd_update(n: float, s: FArray, var: FArray, x: FArray, y: FArray) -> tuple[FArray, FArray]:
    ds = y - x
    dss = y * y - x * x
    dnn = (n * dss - 2.0 * s * ds) - ds * ds
    return s + ds, np.maximum(0.0, var + dnn / (n * n))


# --------------------------------------------------------------- placement


def _cand_nodes(c: Cluster, nodes: IArray, restrict: set[int] | None) -> IArray:
    on = nodes[~c.offline[nodes]]
    if restrict is not None:
        on = np.array([n for n in on if int(n) in restrict], np.int64)
    return on


def try_alloc(
    c: Cluster,
    spec: AllocSpec,
    cand_nodes: IArray,
    score_nodes: IArray,
    opts: AllocOptions,
    cap_nodes: IArray | None = None,
    pairs_within: IArray | None = None,
    fixed_primary: int | None = None,
    cap_include_offline: bool = False,
    fast: bool = True,
) -> AllocSolution:
    """Best placement of `spec` on the candidate nodes (or node pairs).

    `cand_nodes` are online candidate nodes; `score_nodes` the node list
    whose score decides; `cap_nodes` the node list for the global N+1 check
    (None: no capacity check; `cap_include_offline`: offline nodes of it
    must be evacuable too); `pairs_within` optional per-candidate group
    id (pairs only within one group, for hspace).
    """
    fails = [0] * len(FAIL_NAMES)
    cand = np.asarray(cand_nodes, np.int64)
    if len(cand) == 0:
        return AllocSolution(fails, 0, None, math.inf)
    if spec.required_nodes == 2 and spec.mirror != Mirror.INTERNAL:
        return AllocSolution(fails, 0, None, math.inf)
    # policy per candidate node (group policy)
    pol_memo: dict[tuple[int, bool], int] = {}

    def pol_of(n: int) -> int:
        key = (int(c.node_group[n]), bool(c.stat[m.S_EXCL, n]))
        got = pol_memo.get(key)
        if got is None:
            got = policy_failure(c.node_policy(n), spec, key[1])
            pol_memo[key] = got
        return got

    pol_fail = np.array([pol_of(int(n)) for n in cand.tolist()], np.int64)
    force = np.full(len(cand), opts.ignore_soft_errors)
    ib = inst_block(c, spec, len(cand))
    blk = c.dyn[:, cand]
    st = c.stat[:, cand]
    pr = pri_reasons(blk, st, ib, force)
    tagf = _tag_fail(c, ib, cand) & ~force
    pr = np.where((pr == OK) & tagf, Fail.TAGS, pr)
    pr = np.where(pol_fail != OK, pol_fail, pr)
    tag_add = np.asarray((ib.excl * (c.excl_count[cand] >= 1)).sum(axis=1)) if ib.excl.size else 0
    loc_zero = np.zeros(len(cand))
    if spec.required_nodes == 1:
        loc_new = loc_zero + desired_unsat(c, spec, cand)
        new_cols, _ = mv.add_pri(blk, st, ib, np.ones(len(cand), bool), loc_new, tag_add + loc_zero)
        for r in pr[pr != OK]:
            fails[int(r)] += 1
        okc = np.flatnonzero(pr == OK)
        if len(okc) == 0:
            return AllocSolution(fails, 0, None, math.inf)
        mdelta = (
            _map_delta(c, _stats(c, score_nodes)[1], ib, cand[okc])
            if c.has_location
            else np.zeros(len(okc))
        )
        succ = len(okc)
        check = _CapChecker(c, spec, cap_nodes, cap_include_offline, fast)
        left = np.arange(len(okc))  # candidates not yet tried, by position
        while len(left):
            # Score the untried candidates; only the best band is exact, so
            # once capacity checks reject the whole band the rest is rescored.
            scores, exact = single_scores_exact(
                c,
                score_nodes,
                cand[okc[left]],
                new_cols[:, okc[left]],
                mdelta[left],
                fast=fast,
            )
            order: Iterable[int] | None = None
            if fast and np.isfinite(scores).all():
                order = af.ascending(scores)
            if order is None:
                order = sorted(range(len(left)), key=lambda j: (scores[j], -j))
            for j in order:
                if not exact[j]:
                    break
                node = int(cand[okc[left[j]]])
                if cap_nodes is not None and not check(node, -1):
                    fails[Fail.N1] += 1
                    succ -= 1
                    continue
                return AllocSolution(fails, succ, (node,), float(scores[j]))
            left = left[~exact]
        return AllocSolution(fails, 0, None, math.inf)
    if fast:
        return _try_pairs(
            c, spec, cand, score_nodes, opts, cap_nodes, pairs_within, pr, fails, ib, fixed_primary
        )
    return _try_pairs_reference(
        c, spec, cand, score_nodes, opts, cap_nodes, pairs_within, pr, fails, ib, fixed_primary
    )


class _CapChecker:
    """The capacity check of the cluster with the new instance placed at (p, s)."""

    def __init__(
        self,
        c: Cluster,
        spec: AllocSpec,
        cap_nodes: IArray | None,
        include_offline: bool,
        fast: bool,
    ) -> None:
        self.c = c
        self.spec = spec
        self.cap_nodes = cap_nodes
        self.include_offline = include_offline
        self.fast = fast
        self._view: af.CapView | None = None
        self._pol: dict[tuple[int, bool], bool] = {}

    def _policy(self, g: int, excl: bool) -> bool:
        got = self._pol.get((g, excl))
        if got is None:
            pol = self.c.groups[g].ipolicy
            got = (
                policy_failure(pol if pol is not None else self.c.ipolicy, self._spec2, excl) == OK
            )
            self._pol[(g, excl)] = got
        return got

    def __call__(self, p: int, s: int) -> bool:
        assert self.cap_nodes is not None
        c, spec = self.c, self.spec
        if not self.fast or (c.i_mem < 0).any() or (c.i_dsk < 0).any() or (c.i_dsp < 0).any():
            new_c = place(c, spec, p, s)
            return globally_redundant_reference(new_c, self.cap_nodes, self.include_offline)
        if self._view is None:
            self._view = af.CapView.of(c)
            self._spec2 = AllocSpec(
                name=spec.name,
                mem=spec.mem,
                dsk=spec.dsk,
                vcpus=spec.vcpus,
                template=spec.template,
                disks=list(spec.disks) if spec.disks else [spec.dsk],
                spindle_use=spec.spindle_use,
                disk_spindles=spec.disk_spindles,
            )
            self._key = (
                spec.mem,
                spec.dsk,
                spec.vcpus,
                spec.template,
                tuple(self._spec2.disks),
                spec.spindle_use,
                spec.disk_spindles,
            )
        view = self._view.after(
            c,
            self._key,
            self._policy,
            float(spec.mem),
            float(spec.dsk),
            float(spec.disk_spindles or 0),
            spec.local,
            spec.template,
            p,
            s,
        )
        placed: Cluster | None = None

        def exact(node_list: list[int], n: int) -> bool:
            nonlocal placed
            if placed is None:
                placed = place(c, spec, p, s)
            return globaln1.evacuable_exact(placed, node_list, n)

        return af.redundant(view, self.cap_nodes, self.include_offline, None, exact)


def _try_pairs(
    c: Cluster,
    spec: AllocSpec,
    cand: IArray,
    score_nodes: IArray,
    opts: AllocOptions,
    cap_nodes: IArray | None,
    pairs_within: IArray | None,
    pr: IArray,
    fails: list[int],
    ib: mv.InstBlock,
    fixed_primary: int | None = None,
) -> AllocSolution:
    """`_try_pairs_reference` with the same answer, without K x K work per metric.

    A pair's checks and score are elementwise functions of per-primary
    inputs, per-secondary inputs and two pair inputs (the peer memory and
    the shared location tags).  Pairs with no peer memory and no shared
    location (nearly all) are scored once per distinct (primary inputs,
    secondary inputs) combination and gathered; the others elementwise.
    """
    k = len(cand)
    blk = c.dyn[:, cand]
    st = c.stat[:, cand]
    ibs = inst_block(c, spec, 1)
    posmap = np.full(c.n_nodes, -1, np.int64)
    posmap[cand] = np.arange(k)
    # special pairs: non-zero peer memory or shared location tags
    special = np.zeros((k, k), bool)
    sn, pn = np.nonzero(c.peers)  # peers[s, p]
    ps, ss = posmap[pn], posmap[sn]
    keep = (ps >= 0) & (ss >= 0)
    special[ps[keep], ss[keep]] = True
    if c.has_location:
        an, bn = np.nonzero(c.loc_pair)
        pa, sb = posmap[an], posmap[bn]
        keep = (pa >= 0) & (sb >= 0)
        special[pa[keep], sb[keep]] = True
    sp_p, sp_s = np.nonzero(special)
    sp_peer = c.peers[cand[sp_s], cand[sp_p]]
    # secondary checks: per secondary for generic pairs, elementwise for special ones
    zero_k = np.zeros(k, bool)
    srs_gen = sec_reasons(blk, st, ibs, np.zeros(k), zero_k)
    srs = np.broadcast_to(srs_gen[None, :], (k, k)).copy()
    if len(sp_p):
        srs[sp_p, sp_s] = sec_reasons(
            blk[:, sp_s], st[:, sp_s], ibs, sp_peer, np.zeros(len(sp_s), bool)
        )
    reason = np.where(pr[:, None] != OK, pr[:, None], srs)
    np.fill_diagonal(reason, -2)
    if pairs_within is not None:
        same = pairs_within[:, None] == pairs_within[None, :]
        reason = np.where(same, reason, -2)
    if fixed_primary is not None:
        reason = np.where((cand != fixed_primary)[:, None], -2, reason)
    bad = reason[reason >= 0]
    for r, cnt in enumerate(np.bincount(bad, minlength=len(FAIL_NAMES)).tolist()):
        fails[r] += int(cnt)
    ok = reason == OK
    if not ok.any():
        return AllocSolution(fails, 0, None, math.inf)
    # per-candidate inputs of the incremental statistics
    vals = sc.node_values(c.dyn[:, score_nodes], c.stat[:, score_nodes])
    off = c.offline[score_nodes]
    von = vals[:, ~off]
    gm = sc.location_map(c, score_nodes)
    mapv = sc.map_value(gm)
    pos = {int(n): j for j, n in enumerate(score_nodes[~off])}
    cpos = np.array([pos[int(n)] for n in cand], np.int64)
    du = desired_unsat(c, spec, cand)
    tag_add = np.asarray((ib.excl * (c.excl_count[cand] >= 1)).sum(axis=1)) if ib.excl.size else 0
    pcols, _ = mv.add_pri(blk, st, ib, np.ones(k, bool), np.zeros(k), tag_add + np.zeros(k))
    pv = sc.node_values(pcols, st)
    sv_fixed = sc.node_values(
        mv.add_sec(blk, st, ibs, np.zeros(k), np.ones(k, bool), np.zeros(k, bool))[0], st
    )
    old = von[:, cpos]
    md = _map_delta(c, gm, ib, cand) if c.has_location else np.zeros(k)
    n, s0, var0 = _sd_stats(von)
    sums0 = np.cumsum(von, axis=1)[:, -1] if von.shape[1] else np.zeros(18)
    offv = [
        float(sc.exact_sum_rows(vals[r, off][None, :])[0]) if kind == "off" else 0.0
        for r, (_n, _w, kind) in enumerate(sc.METRICS[:18])
    ]
    need = float(spec.mem)
    r_mem = blk[m.D_R_MEM]
    u_mem = blk[m.D_U_MEM]
    t_mem = st[m.S_T_MEM]
    s_cnt = blk[m.D_N_PRI] + blk[m.D_N_SEC] + 1.0

    def total(pi: IArray, si: IArray, peer: FArray | float, lp: FArray | float) -> FArray:
        """Pair scores exactly as the reference's elementwise formula."""
        s_rmem = np.maximum(r_mem[si], peer + need)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_prem = s_rmem / t_mem[si]
        s_n1 = np.where(u_mem[si] <= s_rmem, s_cnt[si], 0.0)
        shape = np.broadcast(pi, si, s_rmem).shape
        acc = np.zeros(shape)
        for row, (_name, _w, kind) in enumerate(sc.METRICS):
            if row == sc.MAP_METRIC:
                met: FArray = np.broadcast_to((mapv + md)[pi], shape)
            else:
                vrow = sc.RTOTAL_ROW if row == 19 else row
                if kind == "off":
                    met = np.full(shape, offv[vrow])
                else:
                    xp = old[vrow][pi]
                    yp = pv[vrow][pi]
                    xs = old[vrow][si]
                    if vrow == 3:
                        ys: FArray = s_prem
                    elif vrow == 2:
                        ys = s_n1
                    else:
                        ys = sv_fixed[vrow][si]
                    if kind == "sd":
                        s1, v1 = _sd_update(n, s0[vrow], var0[vrow], xp, yp)
                        _s2, v2 = _sd_update(n, s1, v1, xs, ys)
                        met = np.sqrt(v2)
                    else:
                        yp2 = yp + (lp + du[pi]) if vrow == 17 else yp
                        met = (sums0[vrow] + (yp2 - xp)) + (ys - xs)
            acc = acc + sc.WEIGHTS[row] * met
        return np.broadcast_to(acc, shape)

    fp = np.vstack([old, pv, md[None, :], du[None, :]]).T
    fs = np.vstack([old, sv_fixed, r_mem[None, :], u_mem[None, :], t_mem[None, :], s_cnt]).T
    rep_p, inv_p = af.unique_rows(fp)
    rep_s, inv_s = af.unique_rows(fs)
    table = total(rep_p[:, None], rep_s[None, :], 0.0, 0.0)
    grid = table[inv_p[:, None], inv_s[None, :]]
    if len(sp_p):
        lp = c.loc_pair[cand[sp_p], cand[sp_s]] if c.has_location else 0.0
        grid[sp_p, sp_s] = total(sp_p, sp_s, sp_peer, lp)
    flat = np.where(ok, grid, np.inf).ravel()
    okflat = np.flatnonzero(ok.ravel())
    order: Iterable[int] | None = None
    if np.isfinite(flat[okflat]).all():
        order = af.ascending(flat)
    if order is None:
        order = sorted(okflat.tolist(), key=lambda j: (flat[j], -j))
    succ = len(okflat)
    check = _CapChecker(c, spec, cap_nodes, False, True)
    for j in order:
        p, s = int(cand[j // k]), int(cand[j % k])
        if cap_nodes is not None and not check(p, s):
            fails[Fail.N1] += 1
            succ -= 1
            continue
        return AllocSolution(fails, succ, (p, s), float(flat[j]))
    return AllocSolution(fails, 0, None, math.inf)


def _try_pairs_reference(
    c: Cluster,
    spec: AllocSpec,
    cand: IArray,
    score_nodes: IArray,
    opts: AllocOptions,
    cap_nodes: IArray | None,
    pairs_within: IArray | None,
    pr: IArray,
    fails: list[int],
    ib: mv.InstBlock,
    fixed_primary: int | None = None,
) -> AllocSolution:
    k = len(cand)
    blk = c.dyn[:, cand]
    st = c.stat[:, cand]
    # secondary checks for every (p, s): shape (K, K); the secondary is always strict
    peer = c.peers[np.ix_(cand, cand)].T  # peer[p, s] = peers[s, p]
    ibs = inst_block(c, spec, 1)
    srs = sec_reasons(
        np.repeat(blk[:, None, :], k, axis=1),
        np.repeat(st[:, None, :], k, axis=1),
        ibs,
        peer,
        np.zeros((k, k), bool),
    )
    reason = np.where(pr[:, None] != OK, pr[:, None], srs)
    np.fill_diagonal(reason, -2)
    if pairs_within is not None:
        same = pairs_within[:, None] == pairs_within[None, :]
        reason = np.where(same, reason, -2)
    if fixed_primary is not None:
        reason = np.where((cand != fixed_primary)[:, None], -2, reason)
    valid = reason != -2
    for r in reason[valid & (reason != OK)]:
        fails[int(r)] += 1
    ok = reason == OK
    if not ok.any():
        return AllocSolution(fails, 0, None, math.inf)
    # incremental statistics over the score node list
    vals = sc.node_values(c.dyn[:, score_nodes], c.stat[:, score_nodes])
    off = c.offline[score_nodes]
    von = vals[:, ~off]
    gm = sc.location_map(c, score_nodes)
    mapv = sc.map_value(gm)
    pos = {int(n): j for j, n in enumerate(score_nodes[~off])}
    cpos = np.array([pos[int(n)] for n in cand], np.int64)
    loc_new = np.zeros((k, k))
    if c.has_location:
        loc_new = c.loc_pair[np.ix_(cand, cand)].copy()
    loc_new = loc_new + desired_unsat(c, spec, cand)[:, None]
    force = np.full(k, opts.ignore_soft_errors)
    tag_add = np.asarray((ib.excl * (c.excl_count[cand] >= 1)).sum(axis=1)) if ib.excl.size else 0
    # primary columns do not depend on the secondary except the location score
    pcols, _ = mv.add_pri(blk, st, ib, force | True, np.zeros(k), tag_add + np.zeros(k))
    pv = sc.node_values(pcols, st)  # (18, K)
    # secondary columns depend on the pair through the reserved memory
    need = float(spec.mem)
    s_rmem = np.maximum(blk[m.D_R_MEM][None, :], peer + need)  # (p, s)
    s_umem = blk[m.D_U_MEM][None, :]
    sv_fixed = sc.node_values(
        mv.add_sec(blk, st, ibs, np.zeros(k), np.ones(k, bool), np.zeros(k, bool))[0], st
    )
    old = von[:, cpos]  # (18, K) old values of candidates
    t_mem = st[m.S_T_MEM][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_prem = s_rmem / t_mem
    s_fail = s_umem <= s_rmem
    s_cnt = blk[m.D_N_PRI] + blk[m.D_N_SEC] + 1.0
    s_n1 = np.where(s_fail, s_cnt[None, :], 0.0)
    n, s0, var0 = _sd_stats(von)
    sums0 = np.cumsum(von, axis=1)[:, -1] if von.shape[1] else np.zeros(18)
    total = np.zeros((k, k))
    met_vals: list[FArray] = []
    for row, (_name, _w, kind) in enumerate(sc.METRICS):
        if row == sc.MAP_METRIC:
            md = _map_delta(c, gm, ib, cand) if c.has_location else np.zeros(k)
            met_vals.append(np.broadcast_to((mapv + md)[:, None], (k, k)))
            continue
        vrow = sc.RTOTAL_ROW if row == 19 else row
        if kind == "off":
            val = float(sc.exact_sum_rows(vals[vrow, off][None, :])[0])
            met_vals.append(np.full((k, k), val))
            continue
        xp = old[vrow]
        yp = pv[vrow]
        xs = old[vrow]
        if vrow == 3:
            ys: FArray = s_prem
        elif vrow == 2:
            ys = s_n1
        else:
            ys = np.broadcast_to(sv_fixed[vrow][None, :], (k, k))
        if vrow == 17:
            yp2 = yp[:, None] + loc_new
        else:
            yp2 = np.broadcast_to(yp[:, None], (k, k))
        if kind == "sd":
            s1, v1 = _sd_update(n, np.full(k, s0[vrow]), np.full(k, var0[vrow]), xp, yp)
            if vrow == 17:
                raise AssertionError("location score is a sum")
            _s2, v2 = _sd_update(n, s1[:, None], v1[:, None], xs[None, :], ys)
            met_vals.append(np.sqrt(v2))
        else:
            base = sums0[vrow]
            a = base + (yp2 - xp[:, None])
            met_vals.append(a + (ys - xs[None, :]))
    for row in range(len(sc.METRICS)):
        total = total + sc.WEIGHTS[row] * met_vals[row]
    total = np.where(ok, total, np.inf)
    flat = total.ravel()
    okflat = np.flatnonzero(ok.ravel())
    order = sorted(okflat.tolist(), key=lambda j: (flat[j], -j))
    succ = len(okflat)
    for j in order:
        p, s = int(cand[j // k]), int(cand[j % k])
        if cap_nodes is not None:
            new_c = place(c, spec, p, s)
            if not globally_redundant_reference(new_c, cap_nodes):
                fails[Fail.N1] += 1
                succ -= 1
                continue
        return AllocSolution(fails, succ, (p, s), float(flat[j]))
    return AllocSolution(fails, 0, None, math.inf)


# --------------------------------------------------------------- applying


def _append(arr: np.ndarray, value: object) -> np.ndarray:
    return np.concatenate([arr, np.array([value], dtype=arr.dtype)])


def add_instance(c: Cluster, spec: AllocSpec, p: int, s: int) -> tuple[Cluster, int]:
    """A copy of `c` with the instance recorded at (p, s) *without* node updates."""
    new = c.copy()
    i = c.n_instances
    new.inst_names = [*c.inst_names, spec.name]
    new.inst_alias = [*c.inst_alias, spec.name]
    new.inst_tags = [*c.inst_tags, list(spec.tags)]
    pref = excl_prefixes(c)
    etags = [t for t in spec.tags if any(t.startswith(pp) for pp in pref)]
    new.inst_excl_tags = [*c.inst_excl_tags, etags]
    new.inst_desired = [*c.inst_desired, desired_tags(c, spec)]
    if new.inst_desired[-1]:
        new.has_desired = True
    new.inst_specs = [
        *c.inst_specs,
        m.InstanceSpec(
            spec.name,
            spec.mem,
            spec.dsk,
            spec.vcpus,
            "running",
            True,
            p,
            s,
            spec.template,
            list(spec.tags),
            spec.spindle_use,
            spec.disk_spindles,
            disks=list(spec.disks),
            nic_networks=list(spec.nic_networks),
        ),
    ]
    new._inst_idx = dict(c._inst_idx)
    new._inst_idx[spec.name] = i
    new.pnode = _append(c.pnode, p)
    new.snode = _append(c.snode, s)
    new.i_mem = _append(c.i_mem, float(spec.mem))
    new.i_dsk = _append(c.i_dsk, float(spec.dsk))
    new.i_vcpus = _append(c.i_vcpus, float(spec.vcpus))
    new.i_su = _append(c.i_su, float(spec.spindle_use))
    new.i_dsp = _append(c.i_dsp, float(spec.disk_spindles or 0))
    new.i_util = np.concatenate([c.i_util, np.ones((4, 1))], axis=1)
    new.i_uses_mem = _append(c.i_uses_mem, True)
    new.i_not_offline = _append(c.i_not_offline, True)
    new.i_auto_balance = _append(c.i_auto_balance, True)
    new.i_forth = _append(c.i_forth, False)
    new.i_local = _append(c.i_local, spec.local)
    new.i_running = _append(c.i_running, True)
    new.i_mirror = [*c.i_mirror, spec.mirror]
    new.i_template = [*c.i_template, spec.template]
    new.i_status = [*c.i_status, "running"]
    new.movable = _append(c.movable, spec.template in MOVABLE_TEMPLATES)
    # exclusion tags (new tag names get new columns)
    ids = dict(c.excl_tag_ids)
    for t in etags:
        if t not in ids:
            ids[t] = len(ids)
    extra = len(ids) - len(c.excl_tag_ids)
    mat = c.i_excl_mat
    cnt = new.excl_count
    gmap = new.global_map
    if extra:
        mat = np.concatenate([mat, np.zeros((mat.shape[0], extra))], axis=1)
        cnt = np.concatenate([cnt, np.zeros((cnt.shape[0], extra))], axis=1)
        gmap = np.zeros((len(c.loc_tag_ids), len(ids)))
        if new.global_map.size:
            gmap[:, : len(c.excl_tag_ids)] = new.global_map
    row = np.zeros((1, len(ids)))
    for t in etags:
        row[0, ids[t]] += 1.0
    new.excl_tag_ids = ids
    new.i_excl_mat = np.concatenate([mat, row], axis=0)
    new.excl_count = cnt
    new.global_map = gmap
    new._desired_cache = {}
    return new, i


def place(c: Cluster, spec: AllocSpec, p: int, s: int, force: bool = True) -> Cluster:
    """A copy of `c` with the new instance placed on primary p (and secondary s)."""
    new, i = add_instance(c, spec, p, s)
    apply_new(new, i, p, s)
    return new


def apply_new(new: Cluster, i: int, p: int, s: int, strict: bool = False) -> bool:
    """Account instance i (recorded by `add_instance`) on its nodes, in place.

    With `strict` the primary's hard checks (soft errors ignored) decide:
    False and nothing changed if they fail.
    """
    idx = np.array([i], np.int64)
    ib = mv.InstBlock.gather(new, idx)
    pa = np.array([p], np.int64)
    tag_add = mv._tag_add_delta(ib, new.excl_count[pa]) if ib.excl.shape[1] else np.zeros(1)
    loc_new = mv.loc_contrib(new, idx, pa, np.array([s], np.int64))
    col, ok = mv.add_pri(new.dyn[:, pa], new.stat[:, pa], ib, np.ones(1, bool), loc_new, tag_add)
    if strict and not ok[0]:
        return False
    new.dyn[:, p] = col[:, 0]
    if s >= 0:
        sa = np.array([s], np.int64)
        col2, _ = mv.add_sec(
            new.dyn[:, sa],
            new.stat[:, sa],
            ib,
            new.peers[s, pa],
            np.ones(1, bool),
            np.zeros(1, bool),
        )
        new.dyn[:, s] = col2[:, 0]
        new.peers[s, p] += new.sec_needed_mem(i)
    for t in new.inst_excl_tags[i]:
        new.p_tags[p][t] += 1
    if new.excl_count.shape[1]:
        new.excl_count[p] += new.i_excl_mat[i]
    if new.global_map.size and new.online_mask[p] and not new.i_forth[i]:
        new.global_map += np.outer(new.node_loc_mat[p], new.i_excl_mat[i])
    return True


# --------------------------------------------------------------- global N+1


def _spec_of(c: Cluster, i: int) -> AllocSpec:
    sp = c.inst_specs[i]
    return AllocSpec(
        name=c.inst_names[i],
        mem=int(c.i_mem[i]),
        dsk=int(c.i_dsk[i]),
        vcpus=int(c.i_vcpus[i]),
        template=c.i_template[i],
        disks=list(sp.disks) if sp.disks else [int(c.i_dsk[i])],
        spindle_use=int(c.i_su[i]),
        disk_spindles=sp.disk_spindles,
    )


def globally_redundant(
    c: Cluster,
    nodes: IArray,
    include_offline: bool = False,
    failover_to_offline: bool = False,
    only: IArray | None = None,
) -> bool:
    """Every node of the node list `nodes` (or of `only`) can be evacuated.

    Same answer as `globally_redundant_reference`, computed on a light view
    of the cluster with numpy (`allocfast.redundant`).
    """
    del failover_to_offline
    if (c.i_mem < 0).any() or (c.i_dsk < 0).any() or (c.i_dsp < 0).any():
        return globally_redundant_reference(c, nodes, include_offline, False, only)
    return af.redundant(
        af.CapView.of(c),
        nodes,
        include_offline,
        only,
        lambda node_list, n: globaln1.evacuable_exact(c, node_list, n),
    )


def globally_redundant_reference(
    c: Cluster,
    nodes: IArray,
    include_offline: bool = False,
    failover_to_offline: bool = False,
    only: IArray | None = None,
) -> bool:
    """Every node of the node list `nodes` can be evacuated (the capacity check).

    `nodes` is the node list of the reference (escape nodes and scores are
    taken within it); `only` restricts which of its nodes must be
    evacuable (hcheck counts them one by one).  Offline nodes are skipped
    unless `include_offline` (the reference's accept-existing option off).
    The semantics are in `ganeti.htools.globaln1`; `failover_to_offline`
    is kept for callers and has no effect (a DRBD failover to an offline
    secondary is an ordinary move, as in the reference).
    """
    del failover_to_offline
    return globaln1.redundant_reference(c, nodes, include_offline, only)
