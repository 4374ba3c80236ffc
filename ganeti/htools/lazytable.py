"""Bounded ("lazy") candidate table for clusters too big for the full table.

The full `CandidateTable` keeps two partial sums per metric row for every
candidate; on a 1,000-node / 15,000-instance cluster that is 60 million
candidates and ~20 GB.  This table keeps one approximate score per
candidate plus the step ("stamp") at which it was computed, and per stamp
the base sums and the ranges, over the candidates computed then, of each
row's resulting variance and of each row's sum change.

A candidate whose nodes did not change since its stamp j has the same
partial sums (ds, dq) as then; only the base moved.  For a standard-
deviation row the new variance differs from the one at j by

    delta(ds) = (Q_k - Q_j) / n - ((S_k + ds)^2 - (S_j + ds)^2) / n^2

(linear in the candidate's ds), and the linear metrics shift by the same
amount for every candidate.  With the stamp's ranges of ds and of the
variance this bounds ``sqrt(var + delta) - sqrt(var)`` from below and above,
so every cached score gives an interval for the candidate's current
approximate score.  Each step:

1. candidates touching a changed node are simulated again (current stamp);
2. ``best_ub`` = the smallest upper bound; every candidate whose lower
   bound is within the tie tolerance of ``best_ub`` is simulated again;
3. the freshly scored candidates now contain every candidate within the
   tolerance of the true best approximate score, and the exact second tier
   (`Balancer._exact`) picks the move exactly as the other paths do.

So plans are the same as with the full table or the exhaustive search; the
saving is that step 2 usually re-simulates a small band of candidates.  The
bounds carry a safety margin far above floating-point rounding.

Not used for groups with location/exclusion maps (their score term depends
on a global map); those fall back to the exhaustive search.

Public API: `LazyCandidateTable` (`best_step`, `estimate_bytes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np
import numpy.typing as npt

from ganeti.htools import score as sc
from ganeti.htools.candtable import _OFF, _SD, _SUM, NV, CandidateTable
from ganeti.htools.model import FArray, IArray
from ganeti.htools.moves import Move, MoveType, simulate

if TYPE_CHECKING:
    from ganeti.htools.balance import Balancer

MARGIN = 1e-8  # absolute safety margin added to every bound (>> rounding)
_SD_IDX = np.flatnonzero(_SD)


@attrs.define
class LazyKind:
    kind: MoveType
    ncol: int
    score: FArray  # approximate score at the candidate's stamp (inf: not allowed)
    stamp: npt.NDArray[np.int32]  # step at which `score` was computed


@attrs.define
class StampIndex:
    """The lowest cached scores of the candidates computed at one stamp.

    ``sc`` holds the `size` smallest finite scores computed at the stamp,
    sorted, with their move type (``kd``) and cell; every other finite score
    computed then is >= ``thr`` (inf: all are listed).  Entries whose cell was
    simulated again later are stale (their cell's stamp moved on) and are
    skipped; ``head`` is the first entry not known to be stale.
    """

    sc: FArray
    kd: npt.NDArray[np.int8]
    cell: IArray
    thr: float
    size: int
    head: int = 0


@attrs.define
class StampStats:
    s: FArray  # centred sums per row
    q: FArray  # centred sums of squares per row
    lin: float  # linear part of the score (sums, offline sums, map)
    vlo: FArray  # per SD row: range of resulting variance
    vhi: FArray
    dlo: FArray  # per SD row: range of ds
    dhi: FArray


class LazyCandidateTable(CandidateTable):
    """`CandidateTable` storing one score per candidate, with bounds."""

    def __init__(self, bal: Balancer, center: FArray | None = None) -> None:
        if bal.gmap.size:
            raise ValueError("the lazy table does not support location/exclusion maps")
        self.ltables: dict[MoveType, LazyKind] = {}
        self.stamp_now = 0
        self.stats: dict[int, StampStats] = {}
        self._base_n = 0.0
        self._base_s = np.zeros(NV)
        self._base_q = np.zeros(NV)
        self._base_lin = 0.0
        self.resimulated = 0  # candidates simulated by bound checks (stats)
        self._fresh: dict[MoveType, list[IArray]] = {}  # cells scored at stamp_now
        self._index: dict[int, StampIndex] = {}  # per older stamp: its lowest scores
        self.rebuilds = 0  # index rebuilds by a table scan (stats)
        super().__init__(bal, center)

    @staticmethod
    def estimate_bytes(bal: Balancer) -> int:
        c = bal.c
        ins = bal.insts
        nv = int((c.movable[ins] & c.i_auto_balance[ins]).sum())
        nt = int(c.online_mask[bal.nodes].sum())
        cells = nv * (nt * 4 + 1)
        # score + stamp, plus lower/upper bound temporaries of one kind
        return cells * 12 + nv * nt * 8 * 3

    # ------------------------------------------------------------ storage
    def _new_storage(self, kind: MoveType) -> None:
        cells = len(self.vic) * self._ncol(kind)
        self.ltables[kind] = LazyKind(
            kind, self._ncol(kind), np.full(cells, np.inf), np.zeros(cells, np.int32)
        )

    def _set_base(self) -> None:
        bal = self.bal
        on = self.vals[:, bal.on_cols]
        self._base_n = float(on.shape[1])
        cent = on - self.center[:, None]
        self._base_s = cent.sum(axis=1)
        self._base_q = (cent * cent).sum(axis=1)
        sum_on = on.sum(axis=1)
        sum_off = self.vals[:, bal.off_cols].sum(axis=1)
        w = sc.WEIGHTS
        lin = float(sc.map_value(bal.gmap))
        lin += float((w[:NV][_SUM] * sum_on[_SUM]).sum())
        lin += float((w[:NV][_OFF] * sum_off[_OFF]).sum())
        lin += float(w[19] * sum_on[sc.RTOTAL_ROW])
        self._base_lin = lin
        nsd = len(_SD_IDX)
        self.stats[self.stamp_now] = StampStats(
            self._base_s.copy(),
            self._base_q.copy(),
            lin,
            np.full(nsd, np.inf),
            np.full(nsd, -np.inf),
            np.full(nsd, np.inf),
            np.full(nsd, -np.inf),
        )

    def _recompute(self, rows: IArray, cols: IArray) -> None:
        if self.stamp_now not in self.stats or self._stale:
            self._set_base()
            self._stale = False
        super()._recompute(rows, cols)

    _stale = True

    def sync(self) -> None:
        chg, moved = self.changed_nodes()
        if chg.any() or moved.any():
            self._seal()
            self.stamp_now += 1
            self._stale = True
            self._fresh = {}
        super().sync()
        if self._stale:  # nothing needed recomputing, but the base moved
            self._set_base()
            self._stale = False

    def _scores(self, ds: FArray, dq: FArray, doff: FArray | None) -> tuple[FArray, FArray]:
        """(scores, SD-row variances) of simulated cells at the current base."""
        n = self._base_n
        k = ds.shape[1]
        if n == 0:
            return np.full(k, np.inf), np.zeros((len(_SD_IDX), k))
        w = sc.WEIGHTS
        s_new = self._base_s[_SD_IDX, None] + ds[_SD_IDX]
        q_new = self._base_q[_SD_IDX, None] + dq[_SD_IDX]
        var = q_new / n - (s_new / n) ** 2
        sd = np.sqrt(np.maximum(var, 0.0))
        score = self._base_lin + (w[_SD_IDX, None] * sd).sum(axis=0)
        score = score + (w[:NV][_SUM, None] * ds[_SUM]).sum(axis=0)
        score = score + w[19] * ds[sc.RTOTAL_ROW]
        if doff is not None:
            score = score + (w[:NV][_OFF, None] * doff[_OFF]).sum(axis=0)
        return score, var

    def _fill(self, kind: MoveType, cells: IArray) -> None:
        tab = self.ltables[kind]
        vi, inst, tgt, valid = self._valid(kind, cells)
        tab.score[cells] = np.inf
        tab.stamp[cells] = self.stamp_now
        self._fresh.setdefault(kind, []).append(cells)
        sel = np.flatnonzero(valid)
        if len(sel) == 0:
            return
        cells = cells[sel]
        ok, ds, dq, doff = self._partial_sums(kind, vi[sel], inst[sel], tgt[sel])
        score, var = self._scores(ds, dq, doff)
        good = ok & np.isfinite(score)
        tab.score[cells] = np.where(good, score, np.inf)
        if good.any():
            st = self.stats[self.stamp_now]
            v = var[:, good]
            d = ds[_SD_IDX][:, good]
            st.vlo = np.minimum(st.vlo, v.min(axis=1))
            st.vhi = np.maximum(st.vhi, v.max(axis=1))
            st.dlo = np.minimum(st.dlo, d.min(axis=1))
            st.dhi = np.maximum(st.dhi, d.max(axis=1))

    # ------------------------------------------------------------ bounds
    @staticmethod
    def _sqrt_change(vlo: FArray, vhi: FArray, delta: FArray, lower: bool) -> FArray:
        """Bound of sqrt(max(0, v + delta)) - sqrt(max(0, v)) over v in [vlo, vhi]."""
        pts = [vlo, vhi, np.clip(np.zeros_like(vlo), vlo, vhi), np.clip(-delta, vlo, vhi)]
        vals = [np.sqrt(np.maximum(p + delta, 0.0)) - np.sqrt(np.maximum(p, 0.0)) for p in pts]
        stack = np.stack(vals)
        return np.asarray(stack.min(axis=0) if lower else stack.max(axis=0))

    @staticmethod
    def _delta(n: float, sk: FArray, qk: FArray, sj: FArray, qj: FArray, ds: FArray) -> FArray:
        """Change of an SD row's variance from base j to base k, given ds."""
        return np.asarray((qk - qj) / n - ((sk + ds) ** 2 - (sj + ds) ** 2) / (n * n))

    def _shifts(self) -> tuple[FArray, FArray]:
        """Per stamp: lower and upper bound of (current score - cached score)."""
        top = self.stamp_now + 1
        lo = np.full(top, np.inf)
        hi = np.full(top, -np.inf)
        n = self._base_n
        if n == 0:
            return lo, hi
        w = sc.WEIGHTS[_SD_IDX]
        sk = self._base_s[_SD_IDX]
        qk = self._base_q[_SD_IDX]
        for j, st in self.stats.items():
            if not np.isfinite(st.vlo).all():
                continue  # no feasible candidate carries this stamp
            sj = st.s[_SD_IDX]
            qj = st.q[_SD_IDX]

            d1 = self._delta(n, sk, qk, sj, qj, st.dlo)
            d2 = self._delta(n, sk, qk, sj, qj, st.dhi)
            dmin, dmax = np.minimum(d1, d2), np.maximum(d1, d2)
            low = self._sqrt_change(st.vlo, st.vhi, dmin, True)
            high = self._sqrt_change(st.vlo, st.vhi, dmax, False)
            lin = self._base_lin - st.lin
            margin = MARGIN + 1e-12 * (abs(self._base_lin) + abs(st.lin))
            lo[j] = lin + float((w * low).sum()) - margin
            hi[j] = lin + float((w * high).sum()) + margin
        return lo, hi

    def bounds(self) -> dict[MoveType, tuple[FArray, FArray]]:
        """Per move type: (lower, upper) bound of every candidate's current score."""
        self.sync()
        lo, hi = self._shifts()
        return {k: (t.score + lo[t.stamp], t.score + hi[t.stamp]) for k, t in self.ltables.items()}

    # ------------------------------------------------------------ search
    # ------------------------------------------------------------ index
    INDEX_SIZE = 1 << 16  # entries kept per stamp (more after a rebuild)

    def _make_index(self, j: int, cells: dict[MoveType, IArray], size: int) -> StampIndex:
        scs: list[FArray] = []
        kds: list[npt.NDArray[np.int8]] = []
        cls: list[IArray] = []
        for kind, cl in cells.items():
            tab = self.ltables[kind]
            sc_k = tab.score[cl]
            keep = np.isfinite(sc_k) & (tab.stamp[cl] == j)
            cl = cl[keep]
            scs.append(sc_k[keep])
            cls.append(cl.astype(np.int64))
            kds.append(np.full(len(cl), int(kind), np.int8))
        if not scs:
            return StampIndex(
                np.zeros(0), np.zeros(0, np.int8), np.zeros(0, np.int64), np.inf, size
            )
        sc_all = np.concatenate(scs)
        kd_all = np.concatenate(kds)
        cl_all = np.concatenate(cls)
        thr = np.inf
        if len(sc_all) > size:
            part = np.argpartition(sc_all, size)
            thr = float(sc_all[part[size]])
            sel = part[:size]
            sc_all, kd_all, cl_all = sc_all[sel], kd_all[sel], cl_all[sel]
        order = np.argsort(sc_all, kind="stable")
        return StampIndex(sc_all[order], kd_all[order], cl_all[order], thr, size)

    def _seal(self) -> None:
        """Index the candidates computed at the current stamp (it is ending)."""
        j = self.stamp_now
        cells = {k: np.unique(np.concatenate(parts)) for k, parts in self._fresh.items() if parts}
        self._index[j] = self._make_index(j, cells, self.INDEX_SIZE)

    def _rebuild(self, j: int, size: int) -> StampIndex:
        """Index stamp j again from a scan of the table, keeping `size` entries."""
        self.rebuilds += 1
        cells = {k: np.flatnonzero(t.stamp == j) for k, t in self.ltables.items()}
        ix = self._make_index(j, cells, size)
        self._index[j] = ix
        return ix

    def _live(self, ix: StampIndex, j: int, lo: int, hi: int) -> npt.NDArray[np.bool_]:
        """Which entries lo:hi of an index still carry stamp j."""
        out = np.zeros(hi - lo, bool)
        kd = ix.kd[lo:hi]
        cl = ix.cell[lo:hi]
        for kind, tab in self.ltables.items():
            m = kd == int(kind)
            if m.any():
                out[m] = tab.stamp[cl[m]] == j
        return out

    def _advance(self, ix: StampIndex, j: int) -> None:
        """Move the head of an index past stale entries."""
        step = 64
        while ix.head < len(ix.sc):
            end = min(len(ix.sc), ix.head + step)
            live = self._live(ix, j, ix.head, end)
            if live.any():
                ix.head += int(np.argmax(live))
                return
            ix.head = end
            step = min(step * 4, 1 << 16)

    def best_step(self, cur: float) -> tuple[Move, float] | None:
        """Same result as `best_step_scan`; reads only the per-stamp indexes.

        The best upper bound comes from the fresh candidates and from the
        lowest live entry of every older stamp; then, per older stamp, the
        entries whose lower bound is within the limit are a prefix of its
        sorted index (a table scan rebuilds the index if the limit passes
        its threshold).
        """
        from ganeti.htools.balance import TIE_TOLERANCE

        self.sync()
        lo, hi = self._shifts()
        vic_ok = self._victim_mask()
        now = self.stamp_now
        best_ub = np.inf
        if np.isfinite(hi[now]):
            for kind, parts in self._fresh.items():
                if not parts:
                    continue
                tab = self.ltables[kind]
                cl = np.concatenate(parts)
                sc_k = tab.score[cl]
                if vic_ok is not None:
                    sc_k = np.where(vic_ok[cl // tab.ncol], sc_k, np.inf)
                if len(sc_k):
                    best_ub = min(best_ub, float(sc_k.min()) + float(hi[now]))
        for j in list(self._index):
            ix = self._index[j]
            self._advance(ix, j)
            if ix.head >= len(ix.sc):
                if ix.thr == np.inf:  # no finite candidate carries stamp j any more
                    del self._index[j]
                    self.stats.pop(j, None)
                    continue
                ix = self._rebuild(j, ix.size)
                self._advance(ix, j)
            if not np.isfinite(hi[j]) or ix.head >= len(ix.sc):
                continue
            end = min(len(ix.sc), ix.head + 256)
            ok = self._live(ix, j, ix.head, end)
            if vic_ok is not None:
                ok &= self._vic_entries(ix, vic_ok, ix.head, end)
            if ok.any():
                first = ix.head + int(np.argmax(ok))
                best_ub = min(best_ub, float(ix.sc[first]) + float(hi[j]))
        if not np.isfinite(best_ub):
            return self.best_step_scan(cur)
        limit = best_ub + TIE_TOLERANCE + 1e-12 * abs(best_ub)
        todo: dict[MoveType, list[IArray]] = {}
        for j in list(self._index):
            if not np.isfinite(lo[j]):
                continue
            ix = self._index[j]
            bound = limit - float(lo[j])
            bound += 1e-9 * (1.0 + abs(bound))  # conservative against rounding
            if ix.thr <= bound:
                ix = self._rebuild(j, 2 * ix.size)
                while ix.thr <= bound:
                    ix = self._rebuild(j, 4 * ix.size)
                self._advance(ix, j)
            end = int(np.searchsorted(ix.sc, bound, side="right"))
            if end <= ix.head:
                continue
            ok = self._live(ix, j, ix.head, end)
            if vic_ok is not None:
                ok &= self._vic_entries(ix, vic_ok, ix.head, end)
            kd = ix.kd[ix.head : end][ok]
            cl = ix.cell[ix.head : end][ok]
            for kind in self.ltables:
                m = kd == int(kind)
                if m.any():
                    todo.setdefault(kind, []).append(cl[m])
        for kind, parts in todo.items():
            cells = np.concatenate(parts)
            self.resimulated += len(cells)
            self._fill_cells(kind, cells)
        return self._pick(cur, vic_ok)

    def _vic_entries(
        self, ix: StampIndex, vic_ok: npt.NDArray[np.bool_], lo: int, hi: int
    ) -> npt.NDArray[np.bool_]:
        out = np.zeros(hi - lo, bool)
        kd = ix.kd[lo:hi]
        cl = ix.cell[lo:hi]
        for kind, tab in self.ltables.items():
            m = kd == int(kind)
            if m.any():
                out[m] = vic_ok[cl[m] // tab.ncol]
        return out

    def best_step_scan(self, cur: float) -> tuple[Move, float] | None:
        """Reference search: bounds of every cached candidate (scans the table)."""
        from ganeti.htools.balance import TIE_TOLERANCE

        self.sync()
        lo, hi = self._shifts()
        # stamps without feasible candidates: their cells are all inf anyway
        lo = np.where(np.isfinite(lo), lo, np.inf)
        width = float(np.max(hi - lo, initial=0.0, where=np.isfinite(hi - lo)))
        hi = np.where(np.isfinite(hi), hi, np.inf)
        vic_ok = self._victim_mask()
        lbs: dict[MoveType, FArray] = {}
        min_lb = np.inf
        for kind, tab in self.ltables.items():
            lb = tab.score + lo[tab.stamp]
            if vic_ok is not None:
                lb[~np.repeat(vic_ok, tab.ncol)] = np.inf
            lbs[kind] = lb
            if len(lb):
                min_lb = min(min_lb, float(lb.min()))
        if not np.isfinite(min_lb):
            return None
        # Any candidate's upper bound bounds the best score from above; the
        # one with the lowest lower bound is among those within `width` of it.
        best_ub = np.inf
        for kind, tab in self.ltables.items():
            near = np.flatnonzero(lbs[kind] <= min_lb + width)
            if len(near):
                ub = tab.score[near] + hi[tab.stamp[near]]
                best_ub = min(best_ub, float(ub.min()))
        limit = best_ub + TIE_TOLERANCE + 1e-12 * abs(best_ub)
        for kind, tab in self.ltables.items():
            stale = np.flatnonzero((lbs[kind] <= limit) & (tab.stamp != self.stamp_now))
            if len(stale):
                self.resimulated += len(stale)
                self._fill_cells(kind, stale)
        return self._pick(cur, vic_ok)

    def _pick(self, cur: float, vic_ok: npt.NDArray[np.bool_] | None) -> tuple[Move, float] | None:
        """Exact choice among the fresh candidates (all near-best ones are fresh)."""
        from ganeti.htools.balance import TIE_TOLERANCE

        # every candidate that can be within the tolerance of the best is fresh
        fresh: dict[MoveType, tuple[IArray, FArray]] = {}
        best = np.inf
        for kind, tab in self.ltables.items():
            parts = self._fresh.get(kind, [])
            cells = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            sc_k = tab.score[cells]
            if vic_ok is not None:
                sc_k = np.where(vic_ok[cells // tab.ncol], sc_k, np.inf)
            fresh[kind] = (cells, sc_k)
            if len(sc_k):
                best = min(best, float(sc_k.min()))
        if not np.isfinite(best) or best > cur + TIE_TOLERANCE:
            return None
        tol = TIE_TOLERANCE + 1e-12 * abs(best)
        c = self.c
        bal = self.bal
        base: dict[str, FArray | float] = {"vals": self.vals, "map": sc.map_value(bal.gmap)}
        best_key: tuple[float, int] | None = None
        best_move: Move | None = None
        for kind, (cells, sc_k) in fresh.items():
            sel = cells[sc_k <= best + tol]
            if len(sel) == 0:
                continue
            _, inst, tgt, _ = self._valid(kind, sel)
            order = self.cell_order(kind, sel)
            rmem_s = self.rmem[sel // self._ncol(kind)]  # cached: same values as a recomputation
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
