"""Fast, answer-preserving kernels for hail/hspace allocation (`alloc`).

Everything here computes *exactly* what the straightforward code in
`ganeti.htools.alloc` computes (same IEEE operations in the same order),
only with less work:

* `replaced_scores` — full cluster scores of a node list with one column
  replaced, for many candidates at once.  The reference's two-pass standard
  deviation is a left fold over the node list, so the fold state before the
  replaced column is a shared prefix; only the suffix after each candidate's
  column is folded per candidate (one vectorised step per node position over
  the candidates already passed).  The second pass (squared deviations from
  the candidate's mean) shares the prefix among candidates with the same mean,
  which on symmetric clusters is nearly all of them.
* `ascending` — candidates by (score, -index) lazily, one score level at a
  time, instead of sorting a million pairs in Python.
* `CapView` / `redundant` — the global N+1 ("capacity") check on a light
  view of the cluster (no copy of the peers matrix), with the per-node
  evacuation simulated with numpy over the group's nodes instead of Python
  loops over node lists.  `CapView.after` gives the view of the cluster with
  one new instance placed, without building that cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs
import numpy as np

from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.model import BArray, Cluster, FArray, IArray
from ganeti.htools.types import IPolicy

# Direct (per-candidate full fold) scoring is cheaper below this many candidates.
FOLD_MIN_CANDIDATES = 24
# Give up prefix sharing in the second pass above this many distinct means.
MAX_MEAN_GROUPS = 512


# --------------------------------------------------------------- scores


def replaced_scores(
    von: FArray,
    voff: FArray,
    mapv: float,
    map_delta: FArray,
    cpos: IArray,
    newv: FArray,
) -> FArray | None:
    """Exact total scores with column ``cpos[i]`` of `von` replaced by ``newv[:, i]``.

    Bit-identical to building each replaced matrix and calling
    `score.metrics_from_values` / `score.total_score`.  Returns None when
    the prefix sharing would not pay off (too many distinct means); the
    caller then uses the direct computation.
    """
    k = len(cpos)
    n = von.shape[1]
    base = sc.metrics_from_values(von, voff, 0.0)
    mets = np.tile(base, (k, 1))
    mets[:, sc.MAP_METRIC] = mapv + map_delta
    if k == 0:
        return sc.total_score(mets)
    old = von[:, cpos]
    changed = np.any(~(newv == old), axis=1)
    sd_rows = [int(r) for r in sc.SD_ROWS if changed[r]]
    sum_rows = [int(r) for r in sc.SUM_ROWS if changed[r]]
    rows = sd_rows + sum_rows
    if not rows:
        return sc.total_score(mets)
    order = np.argsort(cpos, kind="stable")
    pos = cpos[order]
    x = np.ascontiguousarray(von[rows])  # (R, n)
    y = np.ascontiguousarray(newv[rows][:, order])  # (R, K)
    # bitwise-identical rows (e.g. the four load rows, or a row and its
    # forthcoming twin) have identical folds: fold each distinct row once
    rep, inv_r = unique_rows(np.hstack([x, y]))
    ux, uy = x[rep], y[rep]
    usums = _replaced_folds(ux, uy, pos, np.cumsum(ux, axis=1))
    sums = usums[inv_r]
    nsd = len(sd_rows)
    sd_vals = np.zeros((0, k))
    if nsd:
        sd_u = np.unique(inv_r[:nsd])
        mean = usums[sd_u] / float(n)
        sq = _replaced_square_folds(ux[sd_u], uy[sd_u], pos, mean)
        if sq is None:
            return None
        sd_vals = np.sqrt(sq / float(n))[np.searchsorted(sd_u, inv_r[:nsd])]
    inv = np.empty(k, np.int64)
    inv[order] = np.arange(k)
    for j, r in enumerate(sd_rows):
        mets[:, r] = sd_vals[j][inv]
    for j, r in enumerate(sum_rows):
        mets[:, r] = sums[nsd + j][inv]
    if sc.RTOTAL_ROW in sd_rows:
        # reserved_mem_rtotal is the plain sum of the reserved-memory row
        mets[:, 19] = sums[sd_rows.index(sc.RTOTAL_ROW)][inv]
    return sc.total_score(mets)


def unique_rows(feat: FArray) -> tuple[IArray, IArray]:
    """(representative row, inverse) of the bitwise-distinct rows of `feat`."""
    rows = np.ascontiguousarray(feat)
    void = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _u, rep, inv = np.unique(void, return_index=True, return_inverse=True)
    return np.asarray(rep, np.int64), np.asarray(inv, np.int64).reshape(len(rows))


def _replaced_folds(x: FArray, y: FArray, pos: IArray, prefix: FArray) -> FArray:
    """Left-fold sums of each row of x with column pos[c] replaced by y[:, c].

    `pos` is strictly increasing; ``prefix`` is ``cumsum(x, axis=1)``.
    Returns shape (R, K).
    """
    r, n = x.shape
    k = len(pos)
    xt = np.ascontiguousarray(x.T)  # (n, R)
    yt = np.ascontiguousarray(y.T)  # (K, R)
    pre = np.ascontiguousarray(prefix.T)
    state = np.empty((k, r))  # candidates already passed form a contiguous prefix
    nxt = [*pos.tolist(), n]
    ptr = 0
    for col in range(nxt[0], n):
        if ptr:
            view = state[:ptr]
            np.add(view, xt[col], out=view)
        if nxt[ptr] == col:
            if col == 0:
                state[ptr] = yt[ptr]
            else:
                np.add(pre[col - 1], yt[ptr], out=state[ptr])
            ptr += 1
    return np.ascontiguousarray(state.T)


def _replaced_square_folds(x: FArray, y: FArray, pos: IArray, mean: FArray) -> FArray | None:
    """Left-fold sums of (x' - mean_c)^2 per candidate c (x' = x with y at pos[c])."""
    r, n = x.shape
    k = len(pos)
    # prefix tables per distinct (row, mean)
    tab_rows: list[int] = []
    tab_means: list[FArray] = []
    tix = np.empty((r, k), np.int64)
    for row in range(r):
        uniq, inv = np.unique(mean[row].view(np.int64), return_inverse=True)
        tix[row] = len(tab_rows) + inv.reshape(k)
        tab_rows.extend([row] * len(uniq))
        tab_means.append(uniq.view(np.float64))
    if len(tab_rows) > MAX_MEAN_GROUPS:
        return None
    tm = np.concatenate(tab_means)
    d = x[np.array(tab_rows, np.int64)] - tm[:, None]
    pre = np.cumsum(d * d, axis=1)  # (T, n)
    xt = np.ascontiguousarray(x.T)  # (n, R)
    mt = np.ascontiguousarray(mean.T)  # (K, R)
    dy = y.T - mt
    dy = dy * dy  # (K, R)
    state = np.empty((k, r))
    tmp = np.empty((k, r))
    nxt = [*pos.tolist(), n]
    ptr = 0
    for col in range(nxt[0], n):
        if ptr:
            t = tmp[:ptr]
            np.subtract(xt[col], mt[:ptr], out=t)
            np.multiply(t, t, out=t)
            view = state[:ptr]
            np.add(view, t, out=view)
        if nxt[ptr] == col:
            if col == 0:
                state[ptr] = dy[ptr]
            else:
                np.add(pre[tix[:, ptr], col - 1], dy[ptr], out=state[ptr])
            ptr += 1
    return np.ascontiguousarray(state.T)


# --------------------------------------------------------------- ordering


def ascending(scores: FArray) -> Iterator[int] | None:
    """Indices by (score ascending, index descending), lazily; None if any NaN.

    ``+inf`` entries are skipped (callers mark invalid candidates with it),
    so callers must not pass valid candidates scored ``+inf``.
    """
    if np.isnan(scores).any():
        return None
    return _levels(scores.copy())


def _levels(g: FArray) -> Iterator[int]:
    while g.size:
        v = g.min()
        if v == np.inf:
            return
        idx = np.flatnonzero(g == v)
        for j in idx[::-1]:
            yield int(j)
        g[idx] = np.inf


# --------------------------------------------------------------- capacity

# Instance kinds of the capacity check (`globaln1`): re-created, DRBD, shared.
K_OTHER, K_DRBD, K_SHARED = 0, 1, 2


def kind_of(template: str) -> int:
    from ganeti.htools.globaln1 import SHARED_TEMPLATES

    if template == "drbd":
        return K_DRBD
    return K_SHARED if template in SHARED_TEMPLATES else K_OTHER


@attrs.define
class CapView:
    """What the global N+1 check reads from a cluster (arrays are not copied)."""

    u_mem: FArray
    f_dsk: FArray
    f_sp: FArray
    offline: BArray
    excl: BArray
    node_group: IArray
    mig_ok: BArray | None  # None: no migration tags
    pnode: IArray
    snode: IArray
    forth: BArray
    kind: IArray  # K_OTHER / K_DRBD / K_SHARED
    uses_mem: BArray
    mem: FArray
    dsk: FArray
    dsp: FArray
    local: BArray
    spec_key: Callable[[int], tuple[object, ...]]
    policy_ok: Callable[[int, int, bool], bool]  # (instance, group, excl)

    @classmethod
    def of(cls, c: Cluster) -> CapView:
        return cls(
            u_mem=c.dyn[m.D_U_MEM],
            f_dsk=c.dyn[m.D_F_DSK],
            f_sp=c.dyn[m.D_F_SP],
            offline=c.offline,
            excl=c.stat[m.S_EXCL] > 0,
            node_group=c.node_group,
            mig_ok=c.mig_ok if c.has_migration else None,
            pnode=c.pnode,
            snode=c.snode,
            forth=c.i_forth,
            kind=np.array([kind_of(t) for t in c.i_template], np.int64).reshape(c.n_instances),
            uses_mem=c.i_uses_mem,
            mem=c.i_mem,
            dsk=c.i_dsk,
            dsp=c.i_dsp,
            local=c.i_local,
            spec_key=lambda i: _inst_key(c, i),
            policy_ok=lambda i, g, ex: _policy_ok(c, i, g, ex),
        )

    def after(
        self,
        c: Cluster,
        key: tuple[object, ...],
        pol: Callable[[int, bool], bool],
        mem: float,
        dsk: float,
        dsp: float,
        local: bool,
        template: str,
        p: int,
        s: int,
    ) -> CapView:
        """The view after adding a running instance on primary p (secondary s).

        Only the fields the check reads are updated, with the operations of
        `moves.add_pri` / `moves.add_sec` (`alloc.place`).
        """
        u_mem = self.u_mem.copy()
        f_dsk = self.f_dsk.copy()
        f_sp = self.f_sp.copy()
        u_mem[p] = u_mem[p] - mem
        if local:
            f_dsk[p] = f_dsk[p] - dsk
            if self.excl[p]:
                f_sp[p] = f_sp[p] - dsp
        if s >= 0:
            f_dsk[s] = f_dsk[s] - dsk
            if self.excl[s]:
                f_sp[s] = f_sp[s] - dsp
        new = c.n_instances
        old_key = self.spec_key
        old_pol = self.policy_ok
        return attrs.evolve(
            self,
            u_mem=u_mem,
            f_dsk=f_dsk,
            f_sp=f_sp,
            pnode=np.append(self.pnode, p),
            snode=np.append(self.snode, s),
            forth=np.append(self.forth, False),
            kind=np.append(self.kind, kind_of(template)),
            uses_mem=np.append(self.uses_mem, True),
            mem=np.append(self.mem, mem),
            dsk=np.append(self.dsk, dsk),
            dsp=np.append(self.dsp, dsp),
            local=np.append(self.local, local),
            spec_key=lambda i: key if i == new else old_key(i),
            policy_ok=lambda i, g, ex: pol(g, ex) if i == new else old_pol(i, g, ex),
        )


def _inst_key(c: Cluster, i: int) -> tuple[object, ...]:
    sp = c.inst_specs[i]
    disks = tuple(sp.disks) if sp.disks else (int(c.i_dsk[i]),)
    return (
        int(c.i_mem[i]),
        int(c.i_dsk[i]),
        int(c.i_vcpus[i]),
        c.i_template[i],
        disks,
        int(c.i_su[i]),
        sp.disk_spindles,
    )


def _policy_ok(c: Cluster, i: int, g: int, excl: bool) -> bool:
    from ganeti.htools import alloc as al

    pol = c.groups[g].ipolicy
    return policy_ok_for(pol if pol is not None else c.ipolicy, al._spec_of(c, i), excl)


def policy_ok_for(pol: IPolicy, spec: object, excl: bool) -> bool:
    from ganeti.htools import alloc as al

    assert isinstance(spec, al.AllocSpec)
    return al.policy_failure(pol, spec, excl) == al.OK


def redundant(
    v: CapView,
    nodes: IArray,
    include_offline: bool = False,
    only: IArray | None = None,
    exact: Callable[[list[int], int], bool] | None = None,
) -> bool:
    """`alloc.globally_redundant` on a `CapView` (same answer).

    Each node is first decided by bounds that do not depend on which target
    the reference picks (see `_evacuable`); a node they leave open is
    evaluated by ``exact(node_list, node)`` (`globaln1.evacuable_exact` on
    the cluster the view describes).
    """
    off = v.offline
    node_list = np.unique(np.asarray(nodes, np.int64))
    sel = node_list
    if only is not None:
        sel = np.intersect1d(node_list, np.asarray(only, np.int64))
    if not include_offline:
        sel = sel[~off[sel]]
    if len(sel) == 0:
        return True
    if (v.mem < 0).any() or (v.dsk < 0).any() or (v.dsp < 0).any():
        raise ValueError("negative instance sizes")
    order = np.argsort(v.pnode, kind="stable")
    pn = v.pnode[order]
    starts = np.searchsorted(pn, sel, "left")
    ends = np.searchsorted(pn, sel, "right")
    members: dict[int, IArray] = {}
    pol_cache: dict[tuple[object, ...], BArray] = {}
    nl_list: list[int] | None = None
    in_list = np.zeros(len(off), bool)
    in_list[node_list] = True
    easy = _one_node_escape(v, sel, in_list, pol_cache)
    for n, a, b, done in zip(sel.tolist(), starts.tolist(), ends.tolist(), easy.tolist()):
        if a == b or done:
            continue
        prim = order[a:b][::-1]  # the reference's list order: latest first
        g = int(v.node_group[n])
        grp = members.get(g)
        if grp is None:
            grp = np.flatnonzero((v.node_group == g) & in_list)
            members[g] = grp
        verdict = _evacuable(v, n, prim, grp, pol_cache)
        if verdict is None:
            if exact is None:
                raise ValueError("capacity check needs the exact evaluation")
            if nl_list is None:
                nl_list = [int(x) for x in node_list]
            verdict = exact(nl_list, n)
        if not verdict:
            return False
    return True


def _integral(*arrays: FArray) -> bool:
    return all(bool(np.all(np.floor(x) == x)) for x in arrays)


def _one_node_escape(
    v: CapView, sel: IArray, in_list: BArray, pol_cache: dict[tuple[object, ...], BArray]
) -> BArray:
    """Nodes of `sel` certainly evacuable because one escape node can take all.

    For a node without DRBD or forthcoming primaries: if one escape node
    can take every shared and re-created instance of it at once (memory,
    disk and spindles summed, policy, migration tags), each instance finds
    it feasible at its turn, whichever nodes the earlier ones went to.
    The candidate is the group node (of the node list) with the most free
    memory, or the second one for that node itself.  Sums are exact for
    integral sizes (else nothing is marked).
    """
    nn = len(v.offline)
    out = np.zeros(len(sel), bool)
    if len(sel) == 0 or not _integral(v.mem, v.dsk, v.dsp, v.u_mem, v.f_dsk, v.f_sp):
        return out
    has_p = v.pnode >= 0
    ip = np.where(has_p, v.pnode, 0)
    drbd = v.kind == K_DRBD
    special = has_p & (v.forth | (drbd & (v.snode >= 0)))
    n_special = np.bincount(ip[special], minlength=nn)
    mov = has_p & ~v.forth & ~drbd
    need = np.where(v.uses_mem, v.mem, 0.0)
    tot_mem = np.bincount(ip[mov], weights=need[mov], minlength=nn)
    n_mov = np.bincount(ip[mov], minlength=nn)
    other = mov & (v.kind == K_OTHER)
    loc = other & v.local
    tot_dsk = np.bincount(ip[loc], weights=v.dsk[loc], minlength=nn)
    tot_sp = np.bincount(ip[loc], weights=v.dsp[loc], minlength=nn)
    has_loc = np.bincount(ip[loc], minlength=nn) > 0
    shared = np.bincount(ip[mov & (v.kind == K_SHARED)], minlength=nn) > 0
    cand = sel[(n_special[sel] == 0) & (n_mov[sel] > 0)]
    if len(cand) == 0:
        return out
    # policy of every re-created instance, for non-exclusive / exclusive targets
    bad = np.zeros((2, nn), bool)
    in_cand = np.zeros(nn, bool)
    in_cand[cand] = True
    for i in np.flatnonzero(other & in_cand[ip]).tolist():
        p = int(v.pnode[i])
        g = int(v.node_group[p])
        key = (g, v.spec_key(i))
        pol = pol_cache.get(key)
        if pol is None:
            pol = np.array([v.policy_ok(i, g, False), v.policy_ok(i, g, True)])
            pol_cache[key] = pol
        bad[0, p] |= not pol[0]
        bad[1, p] |= not pol[1]
    # best and second-best escape node per group, by free memory
    target = np.full(nn, -1, np.int64)
    for g in np.unique(v.node_group[cand]).tolist():
        grp = np.flatnonzero((v.node_group == g) & in_list)
        if len(grp) < 2:
            continue
        um = v.u_mem[grp]
        k1 = int(np.argmax(um))
        um2 = um.copy()
        um2[k1] = -np.inf
        k2 = int(np.argmax(um2))
        members = cand[v.node_group[cand] == g]
        target[members] = np.where(members == grp[k1], grp[k2], grp[k1])
    t = target[cand]
    has_t = t >= 0
    t0 = np.where(has_t, t, 0)
    ex = v.excl[t0]
    ok = has_t & (v.u_mem[t0] - tot_mem[cand] > 0)
    hl = has_loc[cand]
    ok &= ~hl | (v.f_dsk[t0] - tot_dsk[cand] > 0)
    ok &= ~hl | ~ex | (v.f_sp[t0] - tot_sp[cand] >= 0)
    ok &= ~np.where(ex, bad[1, cand], bad[0, cand])
    if v.mig_ok is not None:
        ok &= ~shared[cand] | v.mig_ok[cand, t0]
    easy = np.zeros(nn, bool)
    easy[cand[ok]] = True
    return easy[sel]


def _evacuable(
    v: CapView,
    n: int,
    prim: IArray,
    grp: IArray,
    pol_cache: dict[tuple[object, ...], BArray],
) -> bool | None:
    """Node n evacuable (True/False), or None if the bounds do not decide.

    DRBD failovers have no choice and are simulated (hard checks only, as
    the reference ignores soft errors there).  For the rest the escape
    nodes' free resources only shrink as instances land, so: an instance
    with no feasible escape node at the start fails whatever happens
    before it; and it certainly has one if a node can take it after
    taking every earlier instance too, or if more escape nodes can take it
    at the start than there are earlier instances (one of them is
    untouched).
    """
    if v.forth[prim].any():
        return None
    kind = v.kind[prim]
    drbd = prim[(kind == K_DRBD) & (v.snode[prim] >= 0)]
    shared = prim[kind == K_SHARED]
    other = prim[kind == K_OTHER]
    umem = v.u_mem
    fdsk = v.f_dsk
    fsp = v.f_sp
    if len(drbd):
        umem = umem.copy()
        fdsk = fdsk.copy()
        fsp = fsp.copy()
        mig = v.mig_ok
        ex_n = bool(v.excl[n])
        chk_n = not bool(v.offline[n])
        for i in drbd.tolist():
            s = int(v.snode[i])
            if mig is not None and not mig[n, s]:
                return False
            d = v.dsk[i]
            # the secondary: removed as secondary, added as primary
            fdsk[s] = (fdsk[s] + d) - d
            if fdsk[s] <= 0:
                return False
            if v.excl[s]:
                fsp[s] = (fsp[s] + v.dsp[i]) - v.dsp[i]
                if fsp[s] < 0:
                    return False
            umem[s] = umem[s] - (v.mem[i] if v.uses_mem[i] else 0.0)
            if umem[s] <= 0:
                return False
            # the old primary: removed as primary, added as secondary
            fdsk[n] = (fdsk[n] + d) - d
            if chk_n and fdsk[n] <= 0:
                return False
            if ex_n:
                fsp[n] = (fsp[n] + v.dsp[i]) - v.dsp[i]
                if fsp[n] < 0:
                    return False
    if not len(shared) and not len(other):
        return True
    esc = grp[grp != n]
    if len(esc) == 0:
        return False
    srt = sorted(other.tolist(), key=lambda x: -v.mem[x])  # stable: list order on ties
    seq = shared.tolist() + srt
    g = int(v.node_group[n])
    ex = v.excl[esc]
    ex_i = ex.astype(np.int64)
    u0 = umem[esc]
    d0 = fdsk[esc]
    s0 = fsp[esc]
    # worst case: every earlier instance landed on the node
    uw, dw, sw = u0.copy(), d0.copy(), s0.copy()
    decided = True
    for j, i in enumerate(seq):
        need = v.mem[i] if v.uses_mem[i] else 0.0
        if v.kind[i] == K_SHARED:
            base = np.ones(len(esc), bool) if v.mig_ok is None else v.mig_ok[n, esc]
            feas = base & (u0 - need > 0)
            safe = base & (uw - need > 0)
            uw = uw - need
        else:
            key = (g, v.spec_key(i))
            pol = pol_cache.get(key)
            if pol is None:
                pol = np.array([v.policy_ok(i, g, False), v.policy_ok(i, g, True)])
                pol_cache[key] = pol
            base = pol[ex_i]
            feas = base & (u0 - need > 0)
            safe = base & (uw - need > 0)
            uw = uw - need
            if v.local[i]:
                d, sp = v.dsk[i], v.dsp[i]
                feas &= d0 - d > 0
                safe &= dw - d > 0
                feas &= ~ex | (s0 - sp >= 0)
                safe &= ~ex | (sw - sp >= 0)
                dw = dw - d
                sw = np.where(ex, sw - sp, sw)
        n_feas = int(np.count_nonzero(feas))
        if n_feas == 0:
            return False
        if decided and n_feas <= j and not safe.any():
            decided = False
    return True if decided else None
