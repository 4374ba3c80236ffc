"""Branch-and-bound candidate search for big clusters ("bound" mode).

A candidate move (victim i, move type k, target t) changes at most three
node columns: the instance's primary p and secondary s (the *P part*) and
the target t (the *T part*).  Without location tags, desired locations and
exclusion tags:

* the P part depends on (i, k) and on t only through ``peers[x, t]`` (the
  memory x must reserve for the failover of t, x = p for
  ReplaceAndFailover, x = s for ReplacePrimary);
* the T part depends on t and on the instance only through its resource
  attributes (memory, disk, vcpus, spindles, utilisation, flags): instances
  with equal attributes form a *class*; for a secondary on t it also reads
  ``peers[t, x]``.

``add_sec`` is monotone in the peer memory: a larger peer can only raise
the node's reserved memory (row 3), set its N+1 flag (row 2, a count) and
fail the soft N+1 check.  So for every node value row the P and T parts lie
in ranges computed with peer 0 and with the largest peer of the node, and
every candidate of a group (i, k) is feasible only if its peer-0 P and T
parts are.

Per step the table keeps the P ranges per (victim, move type) and the T
ranges per (class, role, force flag, target), updates them only for the
victims and targets whose nodes changed, and derives for every group (i, k)
a *lower bound* of the approximate score of all its targets: per standard
deviation row the smallest possible centred sum of squares and the largest
possible squared mean over the targets, per sum row the smallest sum; the
bound carries a margin far above rounding.  Groups are then expanded
(all their targets simulated and scored like the other modes) in order of
their bound until the next bound is above the best score found plus the tie
tolerance.  Every candidate within the tolerance of the best approximate
score is then among the scored ones, and the exact second tier
(`Balancer._exact`) chooses as in every other mode, so plans are identical
to the exhaustive search.  Failover candidates have no target: their P part
is exact and they are scored directly.

Nothing is cached per candidate: memory is O(victims x move types + classes
x targets), and the first step costs about as much as a later one.

Public API: `BoundSearch` (`supports`, `best_step`, `lower_bounds`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from ganeti.htools import score as sc
from ganeti.htools.candtable import _OFF, _SD, _SUM, NV, CandidateTable
from ganeti.htools.model import BArray, FArray, IArray
from ganeti.htools.moves import (
    InstBlock,
    Move,
    MoveType,
    add_pri,
    add_sec,
    possible_move_types,
    remove_pri,
    remove_sec,
    rmem_after_sec_removal,
    simulate,
)
from ganeti.htools.types import Mirror

if TYPE_CHECKING:
    from ganeti.htools.balance import Balancer

MARGIN = 1e-9  # absolute margin subtracted from every bound (>> rounding)
VAR_SLACK = 1e-11  # relative slack on bounded variances
CLASS_BUDGET = 200_000  # instance classes x targets the T ranges may hold
EXPAND_FIRST = 8  # groups expanded before the first upper bound exists
EXPAND_CHUNK = 64  # groups expanded at once afterwards (whole-group mode)
GROUP_FIRST = 64  # groups whose per-cell bounds are computed first (then doubling)
CELL_CHUNK = 2048  # at most this many groups at once
PAIR_FIRST = 256  # candidates scored first by increasing bound (then doubling)
PAIR_CHUNK = 16384  # at most this many at once
P_CHUNK = 20_000  # victims per P-part batch

_PRI, _SEC = 0, 1
# role of the target node in each move type with a target
TARGET_ROLE = {
    MoveType.REPLACE_SECONDARY: _SEC,
    MoveType.REPLACE_AND_FAILOVER: _PRI,
    MoveType.REPLACE_PRIMARY: _PRI,
    MoveType.FAILOVER_AND_REPLACE: _SEC,
    MoveType.FAILOVER_TO_ANY: _PRI,
}
_SD_IDX = np.flatnonzero(_SD)
_SUM_IDX = np.flatnonzero(_SUM)
_OFF_IDX = np.flatnonzero(_OFF)
# rows of ds the score reads (SD and sum rows), and where each part sits
_DS_ROWS = np.flatnonzero(_SD | _SUM)
_PK_SD = np.searchsorted(_DS_ROWS, _SD_IDX)
_PK_SUM = np.searchsorted(_DS_ROWS, _SUM_IDX)
_PK_RT = int(np.searchsorted(_DS_ROWS, sc.RTOTAL_ROW))


@attrs.define
class PPart:
    """P-part ranges of one move type, per victim (rows x victims)."""

    ok: BArray  # feasible with peer 0 (necessary for every target)
    dslo: FArray
    dshi: FArray
    dqmin: FArray
    doff: FArray | None  # lower end of the offline-sum change (offline nodes only)
    ds0: FArray  # exact partial sums with peer 0 (as `_partial_sums` adds them)
    dq0: FArray
    doff0: FArray | None


@attrs.define
class TPart:
    """T-part ranges of one (role, force) variant: (rows, classes, targets)."""

    ok: BArray  # (classes, targets), feasible with peer 0
    dslo: FArray
    dshi: FArray
    dqmin: FArray
    ds0: FArray  # exact change with peer 0
    dq0: FArray


def _class_keys(c: object, inst: IArray) -> FArray:
    """Instance attributes the T part reads (one row per instance)."""
    from ganeti.htools.model import Cluster

    assert isinstance(c, Cluster)
    ib = InstBlock.gather(c, inst)
    cols = [
        ib.mem,
        ib.dsk,
        ib.vcpus,
        ib.su,
        ib.dsp,
        *ib.util,
        ib.uses_mem,
        ib.not_off,
        ib.forth,
        ib.local,
        ib.need_sec,
    ]
    return np.stack([np.asarray(x, dtype=float) for x in cols], axis=1)


def _classes(c: object, inst: IArray) -> tuple[IArray, IArray]:
    """(class of every instance, representative instance of every class)."""
    if len(inst) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys = _class_keys(c, inst)
    # NaN-safe grouping: compare bit patterns
    bits = np.ascontiguousarray(keys).view(np.int64)
    _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
    return np.asarray(inverse, np.int64).reshape(-1), np.asarray(inst[first], np.int64)


def _wsum(w: FArray, x: FArray) -> FArray:
    """``w @ x`` without BLAS (its threads stall on a loaded machine)."""
    return np.asarray(np.einsum("r,rk->k", w, x))


class BoundSearch(CandidateTable):
    """Exact greedy step by bounding groups of candidates (see module doc)."""

    def __init__(self, bal: Balancer, center: FArray | None = None) -> None:
        if not self.supports(bal):
            raise ValueError("the bound search does not support this group")
        c = bal.c
        ins = bal.insts
        vic = ins[c.movable[ins] & c.i_auto_balance[ins]]
        self.cls, self.rep = _classes(c, vic)
        self.p_parts: dict[MoveType, PPart] = {}
        self.t_parts: dict[tuple[int, bool], TPart] = {}
        self._t_ready = False
        self._p_active = np.zeros(NV, bool)  # rows some P part changes
        self._t_active = np.zeros(NV, bool)  # rows some T part changes
        self._twins: dict[int, int] | None = None  # SD row -> identical earlier row
        self._feat_cache: dict[
            tuple[tuple[int, bool], bytes, int], tuple[FArray, FArray | None]
        ] = {}
        self._force_cache: dict[MoveType, BArray] = {}
        self._stats_cache: dict[
            tuple[tuple[int, bool], bytes], tuple[BArray, FArray, FArray, FArray, FArray]
        ] = {}
        self.peer_max = np.zeros(c.n_nodes)
        ign = bal.opts.moves.ignore_soft_errors
        forces = {ign} | ({True} if c.offline[bal.nodes].any() else set())
        self.variants = [(role, f) for role in (_PRI, _SEC) for f in sorted(forces)]
        # statistics (for benchmarks and tests)
        self.split = True  # score expanded groups from P + T (False: simulate them)
        self.cell_bounds = True  # per-cell bounds (False: expand whole groups)
        self.expanded_groups = 0
        self.expanded_cells = 0
        self.steps = 0
        super().__init__(bal, center)

    # ------------------------------------------------------------ support
    @staticmethod
    def supports(bal: Balancer) -> bool:
        """True if the group has no location/exclusion/desired-location terms,
        every victim's nodes are in the group and the T ranges fit."""
        c = bal.c
        if bal.gmap.size or c.has_location or c.has_desired or c.i_excl_mat.shape[1]:
            return False
        ins = bal.insts
        vic = ins[c.movable[ins] & c.i_auto_balance[ins]]
        if len(vic) == 0:
            return False
        p = c.pnode[vic]
        s = c.snode[vic]
        if not bal.in_group[p].all():
            return False
        internal = np.array([c.i_mirror[int(i)] == Mirror.INTERNAL for i in vic])
        s_ok = np.where(s >= 0, bal.in_group[np.maximum(s, 0)], ~internal)
        if not s_ok.all():
            return False
        nt = int(c.online_mask[bal.nodes].sum())
        ncls = len(_classes(c, vic)[1])
        return ncls * max(nt, 1) <= CLASS_BUDGET

    @staticmethod
    def estimate_bytes(bal: Balancer) -> int:
        c = bal.c
        ins = bal.insts
        nv = int((c.movable[ins] & c.i_auto_balance[ins]).sum())
        return nv * 5 * NV * 8 * 4 + CLASS_BUDGET * NV * 8 * 3 * 4

    # ------------------------------------------------------------ storage
    def _new_storage(self, kind: MoveType) -> None:
        nv = len(self.vic)
        self.p_parts[kind] = PPart(
            np.zeros(nv, bool),
            np.zeros((NV, nv)),
            np.zeros((NV, nv)),
            np.zeros((NV, nv)),
            np.zeros((NV, nv)) if self.with_off else None,
            np.zeros((NV, nv)),
            np.zeros((NV, nv)),
            np.zeros((NV, nv)) if self.with_off else None,
        )

    def _recompute(self, rows: IArray, cols: IArray) -> None:
        c = self.c
        opts = self.bal.opts.moves
        for v in rows.tolist():
            i = int(self.vic[v])
            use_fo, kinds = possible_move_types(c, i, opts)
            self.use_fo[v] = use_fo
            if use_fo:
                self._ensure(MoveType.FAILOVER)
            for r in self.rank.values():
                r[v] = -1
            for rank, k in enumerate(kinds):
                self._ensure(k)
                self.rank[k][v] = rank
        if len(rows):
            self.rmem[rows] = rmem_after_sec_removal(c, self.vic[rows])
        self.peer_max = c.peers.max(axis=1) if c.peers.size else np.zeros(c.n_nodes)
        for kind in list(self.rank):
            for lo in range(0, len(rows), P_CHUNK):
                self._p_fill(kind, rows[lo : lo + P_CHUNK])
        if not self._t_ready:
            cols = np.arange(self.nt)
            self._t_ready = True
        if len(cols):
            self._t_fill(np.asarray(cols, np.int64))

    def sync(self) -> None:
        # The P parts of victims touching a changed node and the T parts of
        # changed targets are recomputed by `_recompute` (via the parent).
        self._stats_cache = {}
        self._feat_cache = {}
        self._force_cache = {}
        super().sync()

    # ------------------------------------------------------------ P part
    def _roles_sums(
        self, roles: list[tuple[IArray, FArray, FArray | None]], k: int
    ) -> tuple[FArray, ...]:
        """Ranges and exact peer-0 sums over the roles' columns.

        Returns (ds lo, ds hi, dq min, doff lo, ds0, dq0, doff0).  A role with
        a second block varies between the two (monotone in the peer memory);
        the exact sums use the first block and add up like `_partial_sums`.
        """
        c = self.c
        bal = self.bal
        onl = c.online_mask
        dslo = np.zeros((NV, k))
        dshi = np.zeros((NV, k))
        dqmin = np.zeros((NV, k))
        ds0 = np.zeros((NV, k))
        dq0 = np.zeros((NV, k))
        doff = np.zeros((NV, k)) if self.with_off else None
        doff0 = np.zeros((NV, k)) if self.with_off else None
        cen = self.center[:, None]
        two_c = 2.0 * cen
        for nodes, blk, alt in roles:
            st = c.stat[:, nodes]
            x0 = sc.node_values(blk, st)
            old = self.vals[:, bal.pos[nodes]]
            on = onl[nodes]
            d = x0 - old
            q = d * (x0 + old - two_c)
            if alt is None:
                dl = dh = d
                qm = q
            else:
                x1 = sc.node_values(alt, st)
                xl = np.minimum(x0, x1)
                xh = np.maximum(x0, x1)
                dl = xl - old
                dh = xh - old
                xm = np.minimum(np.maximum(cen, xl), xh)
                qm = (xm - cen) ** 2 - (old - cen) ** 2
            if on.all():
                dslo += dl
                dshi += dh
                dqmin += qm
                ds0 += d
                dq0 += q
            else:
                dslo += np.where(on, dl, 0.0)
                dshi += np.where(on, dh, 0.0)
                dqmin += np.where(on, qm, 0.0)
                ds0 += np.where(on, d, 0.0)
                dq0 += np.where(on, q, 0.0)
                if doff is not None and doff0 is not None:
                    doff += np.where(on, 0.0, dl)
                    doff0 += np.where(on, 0.0, d)
        return dslo, dshi, dqmin, doff, ds0, dq0, doff0  # type: ignore[return-value]

    def _p_fill(self, kind: MoveType, rows: IArray) -> None:
        pp = self.p_parts[kind]
        if len(rows) == 0:
            return
        pp.ok[rows] = False
        if kind == MoveType.FAILOVER:
            allowed = self.use_fo[rows]
        else:
            allowed = self.rank[kind][rows] >= 0
        sel = rows[allowed]
        if len(sel) == 0:
            return
        c = self.c
        opts = self.bal.opts.moves
        inst = self.vic[sel]
        k = len(inst)
        ib = InstBlock.gather(c, inst)
        p = c.pnode[inst]
        s = c.snode[inst]
        s0 = np.where(s >= 0, s, 0)
        off = c.offline
        ign = np.full(k, opts.ignore_soft_errors)
        off_p = off[p] | ign
        off_s = off[s0] | ign
        dyn, stat = c.dyn, c.stat
        sp, ss = stat[:, p], stat[:, s0]
        zeros = np.zeros(k)
        no_ign = np.zeros(k, bool)
        ok = np.ones(k, bool)

        def mig(a: IArray, b: IArray) -> BArray:
            if c.has_migration:
                return np.asarray(c.mig_ok[a, b])
            return np.ones(k, bool)

        roles: list[tuple[IArray, FArray, FArray | None]]
        if kind == MoveType.FAILOVER_TO_ANY:
            new_p = remove_pri(dyn[:, p], sp, ib, zeros, zeros)
            roles = [(p, new_p, None)]
        else:
            int_s = remove_sec(dyn[:, s0], ss, ib, self.rmem[sel])
            int_p = remove_pri(dyn[:, p], sp, ib, zeros, zeros)
            if kind == MoveType.FAILOVER:
                ok &= mig(p, s0)
                new_p, ok1 = add_pri(int_s, ss, ib, off_p, zeros, zeros)
                new_s, ok2 = add_sec(int_p, sp, ib, c.peers[p, s0], off_p, off[p])
                ok &= ok1 & ok2
                roles = [(p, new_s, None), (s0, new_p, None)]
            elif kind == MoveType.REPLACE_SECONDARY:
                new_p, ok0 = add_pri(int_p, sp, ib, np.ones(k, bool), zeros, zeros)
                ok &= ok0
                roles = [(p, new_p, None), (s0, int_s, None)]
            elif kind == MoveType.REPLACE_AND_FAILOVER:
                new_p, ok2 = add_sec(int_p, sp, ib, zeros, off_s, no_ign)
                hi_p, _ = add_sec(int_p, sp, ib, self.peer_max[p], off_s, no_ign)
                ok &= ok2
                roles = [(p, new_p, hi_p), (s0, int_s, None)]
            elif kind == MoveType.REPLACE_PRIMARY:
                ok &= mig(p, s0)
                _, ok0 = add_pri(int_s, ss, ib, off_p, zeros, zeros)
                new_s, ok2 = add_sec(int_s, ss, ib, zeros, off_p, no_ign)
                hi_s, _ = add_sec(int_s, ss, ib, self.peer_max[s0], off_p, no_ign)
                ok &= ok0 & ok2
                roles = [(p, int_p, None), (s0, new_s, hi_s)]
            elif kind == MoveType.FAILOVER_AND_REPLACE:
                ok &= mig(p, s0)
                new_s, ok1 = add_pri(int_s, ss, ib, off_p, zeros, zeros)
                ok &= ok1
                roles = [(p, int_p, None), (s0, new_s, None)]
            else:  # pragma: no cover - all move types handled above
                raise ValueError(kind)
        dslo, dshi, dqmin, doff, ds0, dq0, doff0 = self._roles_sums(roles, k)
        pp.ok[sel] = ok
        pp.dslo[:, sel] = dslo
        pp.dshi[:, sel] = dshi
        pp.dqmin[:, sel] = dqmin
        pp.ds0[:, sel] = ds0
        pp.dq0[:, sel] = dq0
        if pp.doff is not None and doff is not None:
            pp.doff[:, sel] = doff
        if pp.doff0 is not None and doff0 is not None:
            pp.doff0[:, sel] = doff0
        for arr in (dslo, dshi, dqmin):
            self._p_active |= (arr != 0).any(axis=1)
        if self._twins:
            self._check_twins(sel, None)

    # ------------------------------------------------------------ T part
    def _t_fill(self, cols: IArray) -> None:
        c = self.c
        ncls = len(self.rep)
        m = len(cols)
        if ncls == 0 or m == 0:
            return
        tg = self.tg[cols]
        idx = np.repeat(self.rep, m)
        t = np.tile(tg, ncls)
        k = len(t)
        ib = InstBlock.gather(c, idx)
        blk = c.dyn[:, t]
        st = c.stat[:, t]
        zeros = np.zeros(k)
        no_ign = np.zeros(k, bool)
        for role, force in self.variants:
            key = (role, force)
            if key not in self.t_parts:
                nt = self.nt
                self.t_parts[key] = TPart(
                    np.zeros((ncls, nt), bool),
                    np.zeros((NV, ncls, nt)),
                    np.zeros((NV, ncls, nt)),
                    np.zeros((NV, ncls, nt)),
                    np.zeros((NV, ncls, nt)),
                    np.zeros((NV, ncls, nt)),
                )
            tp = self.t_parts[key]
            fvec = np.full(k, force)
            alt: FArray | None = None
            if role == _PRI:
                new, ok = add_pri(blk, st, ib, fvec, zeros, zeros)
            else:
                new, ok = add_sec(blk, st, ib, zeros, fvec, no_ign)
                alt, _ = add_sec(blk, st, ib, self.peer_max[t], fvec, no_ign)
            dslo, dshi, dqmin, _, ds0, dq0, _ = self._roles_sums([(t, new, alt)], k)
            tp.ok[:, cols] = ok.reshape(ncls, m)
            for dst, src in (
                (tp.dslo, dslo),
                (tp.dshi, dshi),
                (tp.dqmin, dqmin),
                (tp.ds0, ds0),
                (tp.dq0, dq0),
            ):
                dst[:, :, cols] = src.reshape(NV, ncls, m)
            for arr in (dslo, dshi, dqmin):
                self._t_active |= (arr != 0).any(axis=1)
        if self._twins:
            self._check_twins(None, cols)

    def _t_stats(
        self, key: tuple[int, bool], rows: IArray
    ) -> tuple[BArray, FArray, FArray, FArray]:
        """Over feasible targets: (any (classes), min ds lo, max ds hi, min dq),
        the last three for `rows` (rows x classes); NaN entries are skipped
        (such candidates are never allowed)."""
        tp = self.t_parts[key]
        ok = tp.ok[None, :, :]
        dslo, dshi, dqmin = tp.dslo[rows], tp.dshi[rows], tp.dqmin[rows]
        lo = np.where(ok & ~np.isnan(dslo), dslo, np.inf).min(axis=2)
        hi = np.where(ok & ~np.isnan(dshi), dshi, -np.inf).max(axis=2)
        qm = np.where(ok & ~np.isnan(dqmin), dqmin, np.inf).min(axis=2)
        return np.asarray(tp.ok.any(axis=1)), lo, hi, qm

    # ------------------------------------------------------------ scoring
    def _base_sums(self) -> tuple[float, FArray, FArray, float]:
        bal = self.bal
        on = self.vals[:, bal.on_cols]
        n = float(on.shape[1])
        cent = on - self.center[:, None]
        s_b = cent.sum(axis=1)
        q_b = (cent * cent).sum(axis=1)
        sum_on = on.sum(axis=1)
        sum_off = self.vals[:, bal.off_cols].sum(axis=1)
        w = sc.WEIGHTS
        lin = float(sc.map_value(bal.gmap))
        lin += float((w[:NV][_SUM] * sum_on[_SUM]).sum())
        lin += float((w[:NV][_OFF] * sum_off[_OFF]).sum())
        lin += float(w[19] * sum_on[sc.RTOTAL_ROW])
        return n, s_b, q_b, lin

    @staticmethod
    def _approx(
        base: tuple[float, FArray, FArray, float],
        ds: FArray,
        dq: FArray,
        doff: FArray | None,
        packed: bool = False,
    ) -> FArray:
        """Approximate scores from partial sums (same formula as the lazy table).

        ``packed``: ds holds only the rows `_DS_ROWS` and dq only `_SD_IDX`
        (same arithmetic, same bits).
        """
        n, s_b, q_b, lin = base
        k = ds.shape[1]
        if n == 0:
            return np.full(k, np.inf)
        w = sc.WEIGHTS
        if packed:
            ds_sd, ds_sum, ds_rt = ds[_PK_SD], ds[_PK_SUM], ds[_PK_RT]
            dq_sd = dq
        else:
            ds_sd, ds_sum, ds_rt = ds[_SD_IDX], ds[_SUM], ds[sc.RTOTAL_ROW]
            dq_sd = dq[_SD_IDX]
        s_new = s_b[_SD_IDX, None] + ds_sd
        q_new = q_b[_SD_IDX, None] + dq_sd
        var = q_new / n - (s_new / n) ** 2
        sd = np.sqrt(np.maximum(var, 0.0))
        # explicit left-to-right row sums: numpy's axis-0 sum of a single
        # column is pairwise, so results would depend on the batch size
        score = np.full(k, lin)
        for j, r in enumerate(_SD_IDX.tolist()):
            score += w[r] * sd[j]
        for j, r in enumerate(_SUM_IDX.tolist()):
            score += w[r] * ds_sum[j]
        score += w[19] * ds_rt
        if doff is not None:
            for r in _OFF_IDX.tolist():
                score += w[r] * doff[r]
        return score

    def _force(self, kind: MoveType) -> BArray:
        """Per victim: are the soft checks on the target skipped (cached per sync)?"""
        if kind not in self._force_cache:
            self._force_cache[kind] = self._force_now(kind)
        return self._force_cache[kind]

    def _force_now(self, kind: MoveType) -> BArray:
        c = self.c
        ign = self.bal.opts.moves.ignore_soft_errors
        if kind == MoveType.REPLACE_AND_FAILOVER:
            return np.full(len(self.vic), ign)
        if kind == MoveType.REPLACE_SECONDARY:
            s = c.snode[self.vic]
            return np.asarray(c.offline[np.maximum(s, 0)] | ign)
        return np.asarray(c.offline[c.pnode[self.vic]] | ign)

    def _lb_rows(self) -> tuple[IArray, FArray, IArray, FArray, IArray]:
        """Rows of the bound: (SD rows, their weights with twins merged,
        linear rows, their weights, SD rows no move changes)."""
        act = self._p_active | self._t_active
        if self._twins is None:
            self._twins = self._find_twins(act)
        on = self.vals[:, self.bal.on_cols]
        for r, r0 in list(self._twins.items()):
            if not np.array_equal(on[r], on[r0]):
                del self._twins[r]
        w = sc.WEIGHTS
        sd_rows: list[int] = []
        sd_w: list[float] = []
        for r in _SD_IDX.tolist():
            if not act[r] or r in self._twins:
                continue
            sd_rows.append(r)
            sd_w.append(float(w[r]) + sum(float(w[t]) for t, t0 in self._twins.items() if t0 == r))
        lin_rows = [r for r in _SUM_IDX.tolist() if act[r]]
        lin_w = [float(w[r]) for r in lin_rows]
        if act[sc.RTOTAL_ROW]:
            lin_rows.append(sc.RTOTAL_ROW)
            lin_w.append(float(w[19]))
        fixed = [r for r in _SD_IDX.tolist() if not act[r]]
        return (
            np.array(sd_rows, np.int64),
            np.array(sd_w),
            np.array(lin_rows, np.int64),
            np.array(lin_w),
            np.array(fixed, np.int64),
        )

    def _find_twins(self, act: BArray) -> dict[int, int]:
        """SD rows whose values and P/T parts equal an earlier SD row's."""
        on = self.vals[:, self.bal.on_cols]
        out: dict[int, int] = {}
        rows = [r for r in _SD_IDX.tolist() if act[r]]
        for j, r in enumerate(rows):
            for r0 in rows[:j]:
                if r0 in out or not np.array_equal(on[r], on[r0]):
                    continue
                if self._rows_equal(r, r0, None, None):
                    out[r] = r0
                    break
        return out

    def _rows_equal(self, r: int, r0: int, sel: IArray | None, cols: IArray | None) -> bool:
        """Rows r and r0 of the P parts (victims `sel`) and T parts (targets `cols`) agree."""
        if cols is None or sel is not None:
            for pp in self.p_parts.values():
                for arr in (pp.dslo, pp.dshi, pp.dqmin, pp.ds0, pp.dq0):
                    a, b = (arr[r], arr[r0]) if sel is None else (arr[r, sel], arr[r0, sel])
                    if not np.array_equal(a, b):
                        return False
        if sel is None or cols is not None:
            for tp in self.t_parts.values():
                for arr in (tp.dslo, tp.dshi, tp.dqmin, tp.ds0, tp.dq0):
                    a, b = (
                        (arr[r], arr[r0]) if cols is None else (arr[r][:, cols], arr[r0][:, cols])
                    )
                    if not np.array_equal(a, b):
                        return False
        return True

    def _check_twins(self, sel: IArray | None, cols: IArray | None) -> None:
        """Drop twin pairs the P parts of victims `sel` / T parts of targets `cols` break."""
        if not self._twins:
            return
        pairs = list(self._twins.items())
        r = np.array([a for a, _ in pairs])
        r0 = np.array([b for _, b in pairs])
        same = np.ones(len(pairs), bool)
        if sel is not None:
            for pp in self.p_parts.values():
                for arr in (pp.dslo, pp.dshi, pp.dqmin, pp.ds0, pp.dq0):
                    sub = arr[:, sel]
                    same &= (sub[r] == sub[r0]).all(axis=1)
        if cols is not None:
            for tp in self.t_parts.values():
                for arr in (tp.dslo, tp.dshi, tp.dqmin, tp.ds0, tp.dq0):
                    sub = arr[:, :, cols]
                    same &= (sub[r] == sub[r0]).all(axis=(1, 2))
        for (a, _), keep in zip(pairs, same.tolist()):
            if not keep:
                del self._twins[a]

    def _row_info(
        self, base: tuple[float, FArray, FArray, float]
    ) -> tuple[IArray, FArray, IArray, FArray, float]:
        """(SD rows, weights, linear rows, weights, constant part) of the bounds."""
        n, s_b, q_b, lin = base
        sd_rows, sd_w, lin_rows, lin_w, fixed = self._lb_rows()
        const = lin
        if n > 0 and len(fixed):
            var0 = q_b[fixed] / n - (s_b[fixed] / n) ** 2
            const += float((sc.WEIGHTS[fixed] * np.sqrt(np.maximum(var0, 0.0))).sum())
        return sd_rows, sd_w, lin_rows, lin_w, const

    def _stats(
        self, key: tuple[int, bool], rows: IArray
    ) -> tuple[BArray, FArray, FArray, FArray, FArray]:
        """`_t_stats` plus the largest dq, cached until the next sync."""
        ck = (key, rows.tobytes())
        if ck not in self._stats_cache:
            anyok, lo, hi, qm = self._t_stats(key, rows)
            tp = self.t_parts[key]
            dq = tp.dqmin[rows]
            qx = np.where(tp.ok[None, :, :] & ~np.isnan(dq), dq, -np.inf).max(axis=2)
            self._stats_cache[ck] = (anyok, lo, hi, qm, qx)
        return self._stats_cache[ck]

    def _features(
        self, key: tuple[int, bool], sd_rows: IArray, lin_rows: IArray, cls: int
    ) -> tuple[FArray, FArray | None]:
        """Per-target values of a class for `cell_lower_bounds` (cached until
        the next sync): (features with non-finite entries as 0, overrides:
        inf for infeasible targets, -inf for non-finite ones, else NaN)."""
        ck = (key, sd_rows.tobytes() + b"|" + lin_rows.tobytes(), cls)
        if ck not in self._feat_cache:
            tp = self.t_parts[key]
            feat = np.concatenate([tp.dqmin[sd_rows, cls, :], tp.dslo[lin_rows, cls, :]])
            fin = np.isfinite(feat)
            bad = ~fin.all(axis=0)
            ok = tp.ok[cls]
            fix: FArray | None = None
            if bad.any() or not ok.all():
                fix = np.where(ok, np.where(bad, -np.inf, np.nan), np.inf)
            self._feat_cache[ck] = (np.ascontiguousarray(np.where(fin, feat, 0.0)), fix)
        return self._feat_cache[ck]

    def lower_bounds(
        self,
        base: tuple[float, FArray, FArray, float] | None = None,
        rowinfo: tuple[IArray, FArray, IArray, FArray, float] | None = None,
    ) -> dict[MoveType, FArray]:
        """Per move type with a target: a lower bound of the approximate score
        of every candidate of each victim (inf: no allowed candidate).

        Per row the smallest change over the targets of the victim's class;
        cheap, and the first filter before `cell_lower_bounds`."""
        if base is None:
            self.sync()
            base = self._base_sums()
        if rowinfo is None:
            rowinfo = self._row_info(base)
        n, s_b, q_b, _ = base
        sd_rows, sd_w, lin_rows, lin_w, const = rowinfo
        vic_ok = self._victim_mask()
        out: dict[MoveType, FArray] = {}
        rows = np.concatenate([sd_rows, lin_rows])
        nsd = len(sd_rows)
        cls = self.cls
        gathered: dict[tuple[int, bool], tuple[BArray, FArray, FArray, FArray]] = {}
        for key in self.t_parts:
            anyok, lo, hi, qm, _ = self._stats(key, rows)
            gathered[key] = (anyok[cls], lo[:, cls], hi[:, cls], qm[:nsd][:, cls])
        for kind, pp in self.p_parts.items():
            if kind == MoveType.FAILOVER:
                continue
            role = TARGET_ROLE[kind]
            force = self._force(kind)
            mask = pp.ok & (self.rank[kind] >= 0)
            if vic_ok is not None:
                mask &= vic_ok
            if len(force) == 0 or n == 0:
                out[kind] = np.full(len(mask), np.inf)
                continue
            if (force == force[0]).all():
                anyok, tlo, thi, tq = gathered[(role, bool(force[0]))]
            else:
                a0, lo0, hi0, q0 = gathered[(role, False)]
                a1, lo1, hi1, q1 = gathered[(role, True)]
                anyok = np.where(force, a1, a0)
                tlo = np.where(force, lo1, lo0)
                thi = np.where(force, hi1, hi0)
                tq = np.where(force, q1, q0)
            mask &= anyok
            with np.errstate(invalid="ignore", over="ignore"):
                ds_lo = pp.dslo[rows] + tlo
                sl = s_b[sd_rows, None] + ds_lo[:nsd]
                sh = s_b[sd_rows, None] + pp.dshi[sd_rows] + thi[:nsd]
                m2 = np.maximum(sl * sl, sh * sh) / (n * n)
                qn = (q_b[sd_rows, None] + pp.dqmin[sd_rows] + tq) / n
                var = qn - m2
                var -= VAR_SLACK * (1.0 + np.abs(qn) + m2)
                sd = np.sqrt(np.maximum(var, 0.0))
                lb = const + _wsum(sd_w, sd)
                if len(lin_rows):
                    lb = lb + _wsum(lin_w, ds_lo[nsd:])
                if pp.doff is not None:
                    lb = lb + (sc.WEIGHTS[:NV][_OFF, None] * pp.doff[_OFF]).sum(axis=0)
                lb = lb - (MARGIN + 1e-12 * np.abs(lb))
            lb = np.where(np.isnan(lb), -np.inf, lb)
            out[kind] = np.where(mask, lb, np.inf)
        return out

    def _score_cells(
        self, kind: MoveType, cells: IArray, base: tuple[float, FArray, FArray, float]
    ) -> tuple[IArray, FArray]:
        """Simulate and score cells (allowed ones only; inf if infeasible)."""
        vi, inst, tgt, valid = self._valid(kind, cells)
        sel = np.flatnonzero(valid)
        if len(sel) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        cells = cells[sel]
        ok, ds, dq, doff = self._partial_sums(kind, vi[sel], inst[sel], tgt[sel])
        score = self._approx(base, ds, dq, doff)
        return cells, np.where(ok & np.isfinite(score), score, np.inf)

    def _valid_pairs(self, kind: MoveType, vi: IArray, col: IArray) -> BArray:
        c = self.c
        inst = self.vic[vi]
        tgt = self.tg[col]
        valid = (self.rank[kind][vi] >= 0) & (tgt != c.pnode[inst])
        if kind != MoveType.FAILOVER_TO_ANY:
            valid &= tgt != c.snode[inst]
        return np.asarray(valid)

    def _score_pairs(
        self, kind: MoveType, vi: IArray, col: IArray, base: tuple[float, FArray, FArray, float]
    ) -> FArray:
        """Scores of valid (victim, target column) pairs from P + T.

        Pairs whose peer memory is not 0 (the P or T part then differs from
        the peer-0 parts) are simulated; the others add the cached exact
        peer-0 partial sums in the order `_partial_sums` uses, so the scores
        are the same as `_score_cells` bit for bit.
        """
        c = self.c
        k = len(vi)
        if k == 0:
            return np.zeros(0)
        pp = self.p_parts[kind]
        role = TARGET_ROLE[kind]
        force = self._force(kind)[vi]
        cls = self.cls[vi]
        tp0 = self.t_parts.get((role, False))
        tp1 = self.t_parts.get((role, True))
        rows = _DS_ROWS
        if tp1 is None or (tp0 is not None and not force.any()):
            assert tp0 is not None
            t_ok = tp0.ok[cls, col]
            t_ds = tp0.ds0[rows][:, cls, col]
            t_dq = tp0.dq0[_SD_IDX][:, cls, col]
        elif tp0 is None or force.all():
            t_ok = tp1.ok[cls, col]
            t_ds = tp1.ds0[rows][:, cls, col]
            t_dq = tp1.dq0[_SD_IDX][:, cls, col]
        else:
            t_ok = np.where(force, tp1.ok[cls, col], tp0.ok[cls, col])
            t_ds = np.where(force, tp1.ds0[rows][:, cls, col], tp0.ds0[rows][:, cls, col])
            t_dq = np.where(force, tp1.dq0[_SD_IDX][:, cls, col], tp0.dq0[_SD_IDX][:, cls, col])
        # C order: the row sums in `_approx` must add rows in sequence
        ds = np.ascontiguousarray(pp.ds0[rows][:, vi] + t_ds)
        dq = np.ascontiguousarray(pp.dq0[_SD_IDX][:, vi] + t_dq)
        inst = self.vic[vi]
        p = c.pnode[inst]
        s0 = np.maximum(c.snode[inst], 0)
        tgt = self.tg[col]
        ok = pp.ok[vi] & t_ok
        if c.has_migration and kind in (
            MoveType.REPLACE_AND_FAILOVER,
            MoveType.REPLACE_PRIMARY,
            MoveType.FAILOVER_TO_ANY,
        ):
            src = s0 if kind == MoveType.REPLACE_PRIMARY else p
            ok &= c.mig_ok[src, tgt]
        # pairs whose peer memory is not 0
        if kind == MoveType.REPLACE_SECONDARY:
            exc = c.peers[tgt, p] != 0
        elif kind == MoveType.FAILOVER_AND_REPLACE:
            exc = c.peers[tgt, s0] != 0
        elif kind == MoveType.REPLACE_AND_FAILOVER:
            exc = c.peers[p, tgt] != 0
        elif kind == MoveType.REPLACE_PRIMARY:
            exc = c.peers[s0, tgt] != 0
        else:
            exc = np.zeros(k, bool)
        doff = pp.doff0[:, vi] if pp.doff0 is not None else None
        score = self._approx(base, ds, dq, doff, packed=True)
        score = np.where(ok & np.isfinite(score), score, np.inf)
        flat_exc = np.flatnonzero(exc)
        if len(flat_exc):
            _, s_exc = self._score_cells(kind, vi[flat_exc] * self.nt + col[flat_exc], base)
            score[flat_exc] = s_exc
        return np.asarray(score)

    def _score_groups(
        self, kind: MoveType, vis: IArray, base: tuple[float, FArray, FArray, float]
    ) -> tuple[IArray, FArray]:
        """(cells, scores) of every valid target of the victims `vis` (P + T)."""
        nt = self.nt
        vi = np.repeat(vis, nt)
        col = np.tile(np.arange(nt), len(vis))
        keep = np.flatnonzero(self._valid_pairs(kind, vi, col))
        vi, col = vi[keep], col[keep]
        return vi * nt + col, self._score_pairs(kind, vi, col, base)

    def cell_lower_bounds(
        self,
        kind: MoveType,
        vis: IArray,
        base: tuple[float, FArray, FArray, float],
        rowinfo: tuple[IArray, FArray, IArray, FArray, float] | None = None,
    ) -> FArray:
        """(len(vis), targets): a lower bound of each candidate's approximate score.

        Per SD row the variance of a candidate is at least a(victim) +
        B(class, target), B = the T part's smallest centred square change / n;
        sqrt is concave, so on [B min, B max] over the class's targets it lies
        above its chord: a bound linear in the per-target values, evaluated
        for all targets with one matrix product per class.  Infeasible
        targets (peer 0) get inf; victims without the move type too.
        """
        n, s_b, q_b, _ = base
        if rowinfo is None:
            rowinfo = self._row_info(base)
        sd_rows, sd_w, lin_rows, lin_w, const = rowinfo
        nsd = len(sd_rows)
        nt = self.nt
        pp = self.p_parts[kind]
        role = TARGET_ROLE[kind]
        force = self._force(kind)[vis]
        cls = self.cls[vis]
        out = np.full((len(vis), nt), np.inf)
        if n == 0 or len(vis) == 0:
            return out
        rows = np.concatenate([sd_rows, lin_rows])
        for f in np.unique(force).tolist():
            key = (role, bool(f))
            _, lo, hi, qm, qx = self._stats(key, rows)
            sub = np.flatnonzero(force == f)
            v = vis[sub]
            cl = cls[sub]
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                sl = s_b[sd_rows, None] + pp.dslo[sd_rows][:, v] + lo[:nsd][:, cl]
                sh = s_b[sd_rows, None] + pp.dshi[sd_rows][:, v] + hi[:nsd][:, cl]
                m2 = np.maximum(sl * sl, sh * sh) / (n * n)
                qn = (q_b[sd_rows, None] + pp.dqmin[sd_rows][:, v]) / n
                a = qn - m2 - VAR_SLACK * (1.0 + np.abs(qn) + m2)
                b0 = qm[:nsd][:, cl] / n
                b1 = qx[:nsd][:, cl] / n
                # chord of g(B) = sqrt(max(a + B, 0)) from max(b0, -a) to b1
                start = np.maximum(b0, -a)
                g0 = np.sqrt(np.maximum(a + start, 0.0))
                g1 = np.sqrt(np.maximum(a + b1, 0.0))
                width = b1 - start
                slope = np.where(width > 0, (g1 - g0) / np.where(width > 0, width, 1.0), 0.0)
                cst = const + _wsum(sd_w, g0 - slope * start)
                if len(lin_rows):
                    cst = cst + _wsum(lin_w, pp.dslo[lin_rows][:, v])
                if pp.doff is not None:
                    cst = cst + (sc.WEIGHTS[:NV][_OFF, None] * pp.doff[_OFF][:, v]).sum(axis=0)
                coef = np.concatenate(
                    [sd_w[:, None] * slope / n, np.repeat(lin_w[:, None], len(v), axis=1)]
                )
            for c_ in np.unique(cl).tolist():
                gi = np.flatnonzero(cl == c_)
                feat, fix = self._features(key, sd_rows, lin_rows, c_)
                with np.errstate(invalid="ignore", over="ignore"):
                    lb = cst[gi, None] + np.einsum("rg,rt->gt", coef[:, gi], feat)
                    lb = lb - (MARGIN + 1e-12 * np.abs(lb))
                lb = np.where(np.isnan(lb), -np.inf, lb)
                if fix is not None:
                    lb = np.where(np.isnan(fix)[None, :], lb, fix[None, :])
                out[sub[gi]] = lb
        ok = pp.ok[vis] & (self.rank[kind][vis] >= 0)
        out[~ok] = np.inf
        return out

    # ------------------------------------------------------------ search
    def best_step(self, cur: float) -> tuple[Move, float] | None:
        """Same contract and result as `Balancer.best_step_full`."""
        from ganeti.htools.balance import TIE_TOLERANCE

        def limit_of(best: float) -> float:
            return best + TIE_TOLERANCE + 1e-12 * abs(best)

        self.sync()
        self.steps += 1
        base = self._base_sums()
        rowinfo = self._row_info(base)
        vic_ok = self._victim_mask()
        scored: dict[MoveType, list[tuple[IArray, FArray]]] = {}
        best = np.inf
        fo = self.p_parts.get(MoveType.FAILOVER)
        if fo is not None:
            mask = fo.ok & self.use_fo
            if vic_ok is not None:
                mask &= vic_ok
            rows = np.flatnonzero(mask)
            if len(rows):
                doff = fo.doff[:, rows] if fo.doff is not None else None
                s_fo = self._approx(base, fo.dslo[:, rows], fo.dqmin[:, rows], doff)
                s_fo = np.where(np.isfinite(s_fo), s_fo, np.inf)
                scored[MoveType.FAILOVER] = [(rows, s_fo)]
                best = min(best, float(s_fo.min()))
        lbs = self.lower_bounds(base, rowinfo)
        kinds = list(lbs)
        if not kinds:
            return self._choose(cur, best, scored)
        nv = len(self.vic)
        lb_all = np.concatenate([lbs[k] for k in kinds])
        fin = np.flatnonzero(lb_all < np.inf)
        order = fin[np.argsort(lb_all[fin], kind="stable")]
        expanded = np.zeros(len(lb_all), bool)

        def expand(groups: IArray) -> None:
            nonlocal best
            expanded[groups] = True
            for j, kind in enumerate(kinds):
                vis = groups[(groups >= j * nv) & (groups < (j + 1) * nv)] - j * nv
                if len(vis) == 0:
                    continue
                self.expanded_groups += len(vis)
                if self.split:
                    cl, s_k = self._score_groups(kind, vis, base)
                else:
                    cells = (vis[:, None] * self.nt + np.arange(self.nt)[None, :]).ravel()
                    cl, s_k = self._score_cells(kind, cells, base)
                self.expanded_cells += len(cl)
                if len(s_k):
                    scored.setdefault(kind, []).append((cl, s_k))
                    best = min(best, float(s_k.min()))

        # 1. an upper bound: whole groups in the order of their bounds
        pos = 0
        while pos < len(order) and not np.isfinite(best):
            expand(order[pos : pos + EXPAND_FIRST])
            pos += EXPAND_FIRST
        if not self.cell_bounds:
            # whole groups only (reference for tests)
            while True:
                rest = order[~expanded[order]]
                if not len(rest) or lb_all[rest[0]] > limit_of(best):
                    break
                expand(rest[:EXPAND_CHUNK])
            return self._choose(cur, best, scored)
        # 2. groups in the order of their bounds, in growing chunks: per-cell
        # bounds, then the cells below the limit by increasing bound (the
        # limit falls as better candidates are found)
        rest = order[~expanded[order]]
        pos = 0
        size = GROUP_FIRST
        while pos < len(rest) and lb_all[rest[pos]] <= limit_of(best):
            chunk = rest[pos : pos + size]
            pos += len(chunk)
            size = min(2 * size, CELL_CHUNK)
            chunk = chunk[lb_all[chunk] <= limit_of(best)]
            p_kind: list[IArray] = []
            p_vi: list[IArray] = []
            p_col: list[IArray] = []
            p_lb: list[FArray] = []
            for j, kind in enumerate(kinds):
                vis = chunk[(chunk >= j * nv) & (chunk < (j + 1) * nv)] - j * nv
                if len(vis) == 0:
                    continue
                lim = limit_of(best)
                cb = self.cell_lower_bounds(kind, vis, base, rowinfo)
                gi, col = np.nonzero(cb <= lim)
                vi = vis[gi]
                keep = self._valid_pairs(kind, vi, col)
                p_kind.append(np.full(int(keep.sum()), j))
                p_vi.append(vi[keep])
                p_col.append(col[keep])
                p_lb.append(cb[gi[keep], col[keep]])
            if not p_lb:
                continue
            a_kind = np.concatenate(p_kind)
            a_vi = np.concatenate(p_vi)
            a_col = np.concatenate(p_col)
            a_lb = np.concatenate(p_lb)
            srt = np.argsort(a_lb, kind="stable")
            a_kind, a_vi, a_col, a_lb = a_kind[srt], a_vi[srt], a_col[srt], a_lb[srt]
            at = 0
            batch = PAIR_FIRST
            while at < len(a_lb):
                end = min(int(np.searchsorted(a_lb, limit_of(best), side="right")), at + batch)
                if end <= at:
                    break
                batch = min(2 * batch, PAIR_CHUNK)
                for j, kind in enumerate(kinds):
                    m = np.flatnonzero(a_kind[at:end] == j) + at
                    if len(m) == 0:
                        continue
                    s_k = self._score_pairs(kind, a_vi[m], a_col[m], base)
                    self.expanded_cells += len(m)
                    scored.setdefault(kind, []).append((a_vi[m] * self.nt + a_col[m], s_k))
                    if len(s_k):
                        best = min(best, float(s_k.min()))
                at = end
        return self._choose(cur, best, scored)

    def _choose(
        self, cur: float, best: float, scored: dict[MoveType, list[tuple[IArray, FArray]]]
    ) -> tuple[Move, float] | None:
        """Exact choice among the scored candidates near the best."""
        from ganeti.htools.balance import TIE_TOLERANCE

        if not np.isfinite(best) or best > cur + TIE_TOLERANCE:
            return None
        tol = TIE_TOLERANCE + 1e-12 * abs(best)
        c = self.c
        bal = self.bal
        base: dict[str, FArray | float] = {"vals": self.vals, "map": sc.map_value(bal.gmap)}
        best_key: tuple[float, int] | None = None
        best_move: Move | None = None
        for kind, parts in scored.items():
            cells = np.concatenate([p[0] for p in parts])
            s_k = np.concatenate([p[1] for p in parts])
            sel = cells[s_k <= best + tol]
            if len(sel) == 0:
                continue
            _, inst, tgt, _ = self._valid(kind, sel)
            order = self.cell_order(kind, sel)
            rmem_s = self.rmem[sel // self._ncol(kind)]
            res = simulate(c, kind, inst, np.maximum(tgt, 0), bal.opts.moves, rmem_s)
            new_vals = [
                sc.node_values(blk, c.stat[:, nodes]) for nodes, blk in zip(res.nodes, res.blocks)
            ]
            mdelta = bal._map_delta(inst, c.pnode[inst], res.new_pri)
            ex = bal._exact(base, list(res.nodes), new_vals, mdelta)
            for j in range(len(sel)):
                if not res.ok[j]:
                    continue
                key = (float(ex[j]), int(order[j]))
                if best_key is None or key < best_key:
                    best_key = key
                    best_move = Move(int(inst[j]), kind, int(tgt[j]))
        if best_key is None or best_move is None or not best_key[0] < cur:
            return None
        return best_move, best_key[0]
