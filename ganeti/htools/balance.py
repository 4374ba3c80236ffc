"""hbal's greedy search, with incremental, vectorised candidate scoring.

Each step considers every move of every victim instance (see
`moves.possible_move_types`) and keeps the one with the lowest score; ties
go to the first candidate in Ganeti's enumeration order (victims in index
order; per victim Failover first, then targets in node order and the move
types in their listed order).

Scoring is two-tier so that plans are identical to the reference:

1. every candidate gets an *approximate* score from per-metric running sums
   (centred sum and sum of squares for each standard deviation) updated by
   the 2-3 nodes the move touches: O(1) per candidate, vectorised;
2. the candidates within a small tolerance of the best approximate score
   are re-scored *exactly* (two-pass, left-fold sums, like the reference)
   and the minimum, first in order on ties, wins.

Public API: `BalanceOptions`, `Step`, `Balancer` (`best_step`, `run`),
`victims`, `target_nodes`.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from ganeti.htools import score as sc
from ganeti.htools.boundtable import BoundSearch
from ganeti.htools.candtable import CandidateTable
from ganeti.htools.lazytable import LazyCandidateTable
from ganeti.htools.model import BArray, Cluster, FArray, IArray
from ganeti.htools.moves import (
    Move,
    MoveOptions,
    MoveType,
    apply_move,
    possible_move_types,
    rmem_after_sec_removal,
    simulate,
)

# Approximate scores closer than this to the best are re-scored exactly.
# Centred sums keep the error of the approximation far below this.
TIE_TOLERANCE = 1e-7
EXACT_CHUNK = 2_000_000  # elements per exact-scoring batch
# Exact rows of fewer (candidates x nodes) elements use the dense left fold.
DENSE_ELEMENTS = 100_000
CANDIDATE_CHUNK = 100_000  # candidates simulated at once
# The incremental candidate table is used when it needs at most this much.
TABLE_BUDGET_BYTES = 1_500_000_000


@attrs.frozen
class BalanceOptions:
    max_length: int = -1
    min_score: float = 1e-9
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    evac_mode: bool = False
    moves: MoveOptions = attrs.field(factory=MoveOptions)


@attrs.frozen
class Step:
    move: Move
    score: float
    old_pri: int
    old_sec: int
    new_pri: int
    new_sec: int


@attrs.define
class _Cands:
    kind: MoveType
    inst: IArray
    target: IArray
    order: IArray


def _order_free(values: FArray, terms: int) -> bool:
    """True if summing any `terms` of these values in any order is exact."""
    v = values[values != 0]
    if len(v) == 0:
        return True
    if not np.isfinite(v).all():
        return False
    mant, exp = np.frexp(v)
    mi = np.abs(mant * 2.0**53).astype(np.int64)
    low = mi & -mi
    tz = np.frexp(low.astype(float))[1] - 1
    lowest = int((exp - 53 + tz).min())
    bound = float(np.abs(v).max()) * terms
    return bound < 2.0 ** (lowest + 52)


def victims(c: Cluster, group_insts: IArray, evac_mode: bool) -> IArray:
    sel = group_insts[c.movable[group_insts] & c.i_auto_balance[group_insts]]
    if evac_mode and len(sel):
        off = c.offline
        p = c.pnode[sel]
        s = c.snode[sel]
        sec_off = np.where(s >= 0, off[np.where(s >= 0, s, 0)], False)
        sel = sel[off[p] | sec_off]
    return sel


def target_nodes(c: Cluster, group_nodes: IArray) -> IArray:
    return group_nodes[c.online_mask[group_nodes]]


class Balancer:
    """Greedy balancing of one node group of a cluster (mutated in place)."""

    def __init__(
        self,
        cluster: Cluster,
        group_nodes: IArray,
        group_insts: IArray,
        opts: BalanceOptions,
        incremental: bool | None = None,
        mode: str | None = None,
    ) -> None:
        """Search mode (plans are the same in every mode):

        * ``"table"`` — incremental `CandidateTable` (partial sums cached);
        * ``"lazy"`` — `LazyCandidateTable` (one cached score per candidate
          with bounds; for clusters whose full table does not fit);
        * ``"full"`` — re-evaluate every candidate each step.

        None picks the first that fits in `TABLE_BUDGET_BYTES` (lazy only
        without location/exclusion maps).  `incremental` (older API): True
        means ``"table"``, False ``"full"``.
        """
        self.c = cluster
        self.nodes = np.asarray(group_nodes, dtype=np.int64)
        self.insts = np.asarray(group_insts, dtype=np.int64)
        self.opts = opts
        self.pos = np.full(cluster.n_nodes, -1, np.int64)
        self.pos[self.nodes] = np.arange(len(self.nodes))
        off = cluster.offline[self.nodes]
        self.on_cols = np.flatnonzero(~off)
        self.off_cols = np.flatnonzero(off)
        self.in_group = np.zeros(cluster.n_nodes, bool)
        self.in_group[self.nodes] = True
        self.gmap = sc.location_map(cluster, self.nodes)
        if mode is None and incremental is not None:
            mode = "table" if incremental else "full"
        if mode not in (None, "table", "bound", "lazy", "full"):
            raise ValueError(f"unknown search mode {mode!r}")
        self._mode = mode
        self._table: CandidateTable | None = None

    # ------------------------------------------------------------ scoring
    def score(self) -> float:
        return sc.cluster_score(self.c, self.nodes)

    def _candidates(self) -> list[_Cands]:
        c = self.c
        vic = victims(c, self.insts, self.opts.evac_mode)
        tg = target_nodes(c, self.nodes)
        nt = len(tg)
        stride = 1 + nt * 8
        by_kind: dict[MoveType, tuple[list[int], list[int], list[int]]] = {}
        fo: list[int] = []
        fo_order: list[int] = []
        for vpos, i in enumerate(vic):
            use_fo, kinds = possible_move_types(c, int(i), self.opts.moves)
            if use_fo:
                fo.append(int(i))
                fo_order.append(vpos * stride)
            for rank, k in enumerate(kinds):
                lst = by_kind.setdefault(k, ([], [], []))
                lst[0].append(int(i))
                lst[1].append(vpos)
                lst[2].append(rank)
        out: list[_Cands] = []
        if fo:
            arr = np.array(fo, np.int64)
            out.append(_Cands(MoveType.FAILOVER, arr, np.full(len(arr), -1), np.array(fo_order)))
        tpos = np.arange(nt)
        for kind, (ilist, vlist, rlist) in by_kind.items():
            ia = np.repeat(np.array(ilist, np.int64), nt)
            ta = np.tile(tg, len(ilist))
            order = (
                np.repeat(np.array(vlist, np.int64) * stride, nt)
                + 1
                + np.tile(tpos, len(ilist)) * 8
                + np.repeat(np.array(rlist, np.int64), nt)
            )
            p = c.pnode[ia]
            s = c.snode[ia]
            keep = ta != p
            if kind != MoveType.FAILOVER_TO_ANY:
                keep &= ta != s
            out.append(_Cands(kind, ia[keep], ta[keep], order[keep]))
        return out

    @staticmethod
    def _chunked(cands: list[_Cands]) -> list[_Cands]:
        """Split candidate sets so memory stays bounded on big clusters."""
        out = []
        for cand in cands:
            for lo in range(0, max(1, len(cand.inst)), CANDIDATE_CHUNK):
                hi = lo + CANDIDATE_CHUNK
                out.append(
                    _Cands(cand.kind, cand.inst[lo:hi], cand.target[lo:hi], cand.order[lo:hi])
                )
        return out

    def _base(self) -> dict[str, FArray | float]:
        c = self.c
        vals = sc.node_values(c.dyn[:, self.nodes], c.stat[:, self.nodes])
        on = vals[:, self.on_cols]
        n = on.shape[1]
        center = on.mean(axis=1) if n else np.zeros(vals.shape[0])
        cent = on - center[:, None]
        return {
            "vals": vals,
            "n": float(n),
            "center": center,
            "S": cent.sum(axis=1),
            "Q": (cent * cent).sum(axis=1),
            "sum_on": on.sum(axis=1),
            "sum_off": vals[:, self.off_cols].sum(axis=1),
            "map": sc.map_value(self.gmap),
        }

    def _map_delta(self, inst: IArray, old_p: IArray, new_p: IArray) -> FArray:
        c = self.c
        k = len(inst)
        if not self.gmap.size or k == 0:
            return np.zeros(k)
        onl = c.online_mask & self.in_group
        x = c.i_excl_mat[inst] * (~c.i_forth[inst])[:, None]  # (K, ne)
        r = c.node_loc_mat[old_p] * onl[old_p][:, None]  # (K, nl)
        a = c.node_loc_mat[new_p] * onl[new_p][:, None]
        g = self.gmap[None, :, :]
        new = g + (a - r)[:, :, None] * x[:, None, :]
        tot = ((a - r).sum(axis=1)) * x.sum(axis=1)
        distinct = (new > 0).sum(axis=(1, 2)) - (g > 0).sum(axis=(1, 2))
        return np.asarray(tot - distinct, dtype=float)

    def _approx(
        self,
        base: dict[str, FArray | float],
        res_nodes: list[IArray],
        res_vals: list[FArray],
        map_delta: FArray,
    ) -> FArray:
        vals = base["vals"]
        assert isinstance(vals, np.ndarray)
        center = base["center"]
        assert isinstance(center, np.ndarray)
        n = float(base["n"])
        onl = self.c.online_mask
        k = len(map_delta)
        d_s = np.zeros((sc.NUM_NODE_VALUES, k))
        d_q = np.zeros((sc.NUM_NODE_VALUES, k))
        d_off = np.zeros((sc.NUM_NODE_VALUES, k))
        two_c = 2.0 * center[:, None]
        for nodes, new in zip(res_nodes, res_vals):
            old = vals[:, self.pos[nodes]]
            on = onl[nodes]
            diff = new - old
            if on.all():
                d_s += diff
                d_q += diff * (new + old - two_c)
            else:
                d_s += np.where(on, diff, 0.0)
                d_q += np.where(on, diff * (new + old - two_c), 0.0)
                d_off += np.where(on, 0.0, diff)
        met = np.zeros((len(sc.METRICS), k))
        if n > 0:
            s_new = base["S"][:, None] + d_s  # type: ignore[index]
            q_new = base["Q"][:, None] + d_q  # type: ignore[index]
            var = q_new / n - (s_new / n) ** 2
            sd = np.sqrt(np.maximum(var, 0.0))
        else:
            sd = np.full((sc.NUM_NODE_VALUES, k), np.nan)
        met[sc.SD_ROWS] = sd[sc.SD_ROWS]
        sum_on = base["sum_on"][:, None] + d_s  # type: ignore[index]
        met[sc.SUM_ROWS] = sum_on[sc.SUM_ROWS]
        met[sc.OFF_ROWS] = (base["sum_off"][:, None] + d_off)[sc.OFF_ROWS]  # type: ignore[index]
        met[sc.MAP_METRIC] = float(base["map"]) + map_delta
        met[19] = sum_on[sc.RTOTAL_ROW]
        return np.asarray((sc.WEIGHTS[:, None] * met).sum(axis=0))

    def _exact(
        self,
        base: dict[str, FArray | float],
        res_nodes: list[IArray],
        res_vals: list[FArray],
        map_delta: FArray,
    ) -> FArray:
        """Exact scores; a fast path covers rows whose sums are order-free."""
        fast, ok = self._exact_dyadic(base, res_nodes, res_vals, map_delta)
        if ok.all():
            return fast
        slow = np.flatnonzero(~ok)
        fast[slow] = self._exact_general(
            base, [n[slow] for n in res_nodes], [v[:, slow] for v in res_vals], map_delta[slow]
        )
        return fast

    def _exact_dyadic(
        self,
        base: dict[str, FArray | float],
        res_nodes: list[IArray],
        res_vals: list[FArray],
        map_delta: FArray,
    ) -> tuple[FArray, BArray]:
        """Exact scores when every fold of a row is free of rounding.

        If all values of a row are multiples of one power of two and small
        enough, any summation order gives the same exact result, so sums can
        be updated from the changed nodes alone and still agree bit for bit
        with the reference's left folds.  Returns (scores, candidates for
        which this held).
        """
        vals = base["vals"]
        assert isinstance(vals, np.ndarray)
        k = len(map_delta)
        ok = np.ones(k, bool)
        onl = self.c.online_mask
        n = len(self.on_cols)
        met = np.zeros((k, len(sc.METRICS)))
        olds = [vals[:, self.pos[nodes]] for nodes in res_nodes]
        ons = [onl[nodes] for nodes in res_nodes]
        offcols = vals[:, self.off_cols]

        def row_sum(
            b: FArray, news: list[FArray], olds_r: list[FArray], masks: list[BArray]
        ) -> FArray | None:
            allv = np.concatenate([b, *news, *olds_r])
            if not _order_free(allv, len(b) + 2 * len(news)):
                return None
            tot = np.full(len(news[0]) if news else 0, b.sum())
            for nv, ov, mk in zip(news, olds_r, masks):
                tot = tot + np.where(mk, nv - ov, 0.0)
            return tot

        done: list[int] = []
        for r in range(sc.NUM_NODE_VALUES):
            kind = sc.METRICS[r][2]
            twin = self._twin_row(r, done, vals, res_vals)
            done.append(r)
            if twin is not None:
                # Same kind and identical inputs (e.g. the "forth" rows when
                # nothing is forthcoming): the exact result is identical.
                met[:, r] = met[:, twin]
                continue
            if kind == "off":
                b = offcols[r]
                masks = [~o for o in ons]
            else:
                b = vals[r, self.on_cols]
                masks = list(ons)
            news = [v[r] for v in res_vals]
            olds_r = [o[r] for o in olds]
            s_new = row_sum(b, news, olds_r, masks)
            if s_new is None:
                self._exact_row_any(r, vals, res_nodes, res_vals, met)
                continue
            if r == sc.RTOTAL_ROW:
                met[:, 19] = s_new
            if kind != "sd":
                met[:, r] = s_new
                continue
            if n == 0:
                met[:, r] = 0.0
                continue
            mean = s_new / float(n)
            means = np.unique(mean)
            if len(means) > 8:
                # Many distinct means: one column fold for all is cheaper.
                self._exact_row_any(r, vals, res_nodes, res_vals, met)
                continue
            res = np.empty(k)
            for u in means:
                grp = np.flatnonzero(mean == u)
                sq_b = (b - u) * (b - u)
                sq_new = [(nv[grp] - u) * (nv[grp] - u) for nv in news]
                sq_old = [(ov[grp] - u) * (ov[grp] - u) for ov in olds_r]
                q = row_sum(sq_b, sq_new, sq_old, [mk[grp] for mk in masks])
                if q is None:
                    sub = np.zeros((len(grp), len(sc.METRICS)))
                    self._exact_row_any(
                        r, vals, [nd[grp] for nd in res_nodes], [v[:, grp] for v in res_vals], sub
                    )
                    res[grp] = sub[:, r]
                    continue
                res[grp] = np.sqrt(q / float(n))
            met[:, r] = res
        if self.c.n_nodes and len(self.off_cols) == 0:
            met[:, sc.OFF_ROWS] = 0.0
        met[:, sc.MAP_METRIC] = float(base["map"]) + map_delta
        return np.asarray(sc.total_score(met)), ok

    @staticmethod
    def _twin_row(r: int, done: list[int], vals: FArray, res_vals: list[FArray]) -> int | None:
        if r == sc.RTOTAL_ROW:
            return None
        kind = sc.METRICS[r][2]
        for r2 in done:
            if r2 == sc.RTOTAL_ROW or sc.METRICS[r2][2] != kind:
                continue
            if not np.array_equal(vals[r], vals[r2], equal_nan=True):
                continue
            if all(np.array_equal(v[r], v[r2], equal_nan=True) for v in res_vals):
                return r2
        return None

    def _exact_row_any(
        self,
        r: int,
        vals: FArray,
        res_nodes: list[IArray],
        res_vals: list[FArray],
        met: FArray,
    ) -> None:
        """`_exact_row_dense` for few candidates, else `_exact_row` (same bits)."""
        if met.shape[0] * vals.shape[1] <= DENSE_ELEMENTS:
            self._exact_row_dense(r, vals, res_nodes, res_vals, met)
        else:
            self._exact_row(r, vals, res_nodes, res_vals, met)

    def _exact_row(
        self,
        r: int,
        vals: FArray,
        res_nodes: list[IArray],
        res_vals: list[FArray],
        met: FArray,
    ) -> None:
        """Exact two-pass value of node-value row r for every candidate.

        The left folds run column by column, vectorised over candidates:
        unchanged columns add the base value to every running sum, the 2-3
        columns a candidate changes are patched for that candidate only.  The
        additions happen in exactly the order of a per-candidate left fold,
        so results are bit-identical to `_exact_row_dense` (and the
        reference) without materialising a (candidates x nodes) matrix.
        """
        k = met.shape[0]
        if k == 0:
            return
        kind = sc.METRICS[r][2]
        cols = self.off_cols if kind == "off" else self.on_cols
        m = len(cols)
        ng = vals.shape[1]
        if m == 0:
            met[:, r] = 0.0
            if r == sc.RTOTAL_ROW:
                met[:, 19] = 0.0
            return
        inv = np.full(ng, -1, np.int64)
        inv[cols] = np.arange(m)
        base = vals[r, cols]
        # (column within cols, candidate, value); a later role overrides an
        # earlier one on the same column, like sequential assignment.
        n_roles = len(res_nodes)
        ci = np.empty((n_roles, k), np.int64)
        cv = np.empty((n_roles, k))
        for q, (nodes, new) in enumerate(zip(res_nodes, res_vals)):
            full = self.pos[nodes]
            ci[q] = inv[np.where(full < 0, ng + full, full)]
            cv[q] = new[r]
        live = ci >= 0
        for q in range(n_roles - 1):
            for q2 in range(q + 1, n_roles):
                live[q] &= ci[q] != ci[q2]
        cand = np.broadcast_to(np.arange(k), (n_roles, k))[live]
        col = ci[live]
        val = cv[live]
        srt = np.argsort(col, kind="stable")
        cand, col, val = cand[srt], col[srt], val[srt]
        bounds = np.searchsorted(col, np.arange(m + 1))

        acc = np.full(k, base[0])
        lo, hi = bounds[0], bounds[1]
        acc[cand[lo:hi]] = val[lo:hi]
        for j in range(1, m):
            lo, hi = bounds[j], bounds[j + 1]
            if lo == hi:
                acc += base[j]
                continue
            idx = cand[lo:hi]
            prev = acc[idx]
            acc += base[j]
            acc[idx] = prev + val[lo:hi]
        if r == sc.RTOTAL_ROW:
            met[:, 19] = acc
        if kind != "sd":
            met[:, r] = acc
            return
        mean = acc / float(m)
        d = base[0] - mean
        acc2 = d * d
        lo, hi = bounds[0], bounds[1]
        if hi > lo:
            idx = cand[lo:hi]
            dd = val[lo:hi] - mean[idx]
            acc2[idx] = dd * dd
        for j in range(1, m):
            d = base[j] - mean
            d *= d
            lo, hi = bounds[j], bounds[j + 1]
            if lo == hi:
                acc2 += d
                continue
            idx = cand[lo:hi]
            prev = acc2[idx]
            acc2 += d
            dd = val[lo:hi] - mean[idx]
            acc2[idx] = prev + dd * dd
        met[:, r] = np.sqrt(acc2 / float(m))

    def _exact_row_dense(
        self,
        r: int,
        vals: FArray,
        res_nodes: list[IArray],
        res_vals: list[FArray],
        met: FArray,
    ) -> None:
        """`_exact_row` on a dense (candidates x nodes) matrix (same bits).

        Faster than the column fold when there are few candidates.
        """
        k = met.shape[0]
        cols = self.off_cols if sc.METRICS[r][2] == "off" else self.on_cols
        chunk = max(1, EXACT_CHUNK // max(1, vals.shape[1]))
        for lo in range(0, k, chunk):
            hi = min(k, lo + chunk)
            x = np.broadcast_to(vals[r], (hi - lo, vals.shape[1])).copy()
            rows = np.arange(hi - lo)
            for nodes, new in zip(res_nodes, res_vals):
                x[rows, self.pos[nodes[lo:hi]]] = new[r, lo:hi]
            xs = x[:, cols]
            if sc.METRICS[r][2] == "sd":
                met[lo:hi, r] = sc.exact_sd_rows(xs)
            else:
                met[lo:hi, r] = sc.exact_sum_rows(xs)
            if r == sc.RTOTAL_ROW:
                met[lo:hi, 19] = sc.exact_sum_rows(x[:, self.on_cols])

    def _exact_general(
        self,
        base: dict[str, FArray | float],
        res_nodes: list[IArray],
        res_vals: list[FArray],
        map_delta: FArray,
    ) -> FArray:
        vals = base["vals"]
        assert isinstance(vals, np.ndarray)
        k = len(map_delta)
        ng = vals.shape[1]
        out = np.empty(k)
        chunk = max(1, EXACT_CHUNK // max(1, vals.size))
        for lo in range(0, k, chunk):
            hi = min(k, lo + chunk)
            x = np.broadcast_to(vals, (hi - lo, *vals.shape)).copy()
            rows = np.arange(hi - lo)
            for nodes, new in zip(res_nodes, res_vals):
                cols = self.pos[nodes[lo:hi]]
                x[rows, :, cols] = new[:, lo:hi].T
            met = sc.metrics_from_values(
                x[:, :, self.on_cols],
                x[:, :, self.off_cols],
                float(base["map"]) + map_delta[lo:hi],
            )
            out[lo:hi] = sc.total_score(met)
        del ng
        return out

    def mode(self) -> str:
        """The search mode in use (see `__init__`)."""
        if self._mode is None:
            if CandidateTable.estimate_bytes(self) <= TABLE_BUDGET_BYTES:
                self._mode = "table"
            elif BoundSearch.supports(self):
                self._mode = "bound"
            elif (
                not self.gmap.size and LazyCandidateTable.estimate_bytes(self) <= TABLE_BUDGET_BYTES
            ):
                self._mode = "lazy"
            else:
                self._mode = "full"
        return self._mode

    def use_table(self) -> bool:
        """True if the full incremental `CandidateTable` is used."""
        return self.mode() == "table"

    def table(self) -> CandidateTable:
        """The candidate table of this mode (built on first use, then synced)."""
        if self._table is None:
            if self.mode() == "lazy":
                self._table = LazyCandidateTable(self)
            elif self.mode() == "bound":
                self._table = BoundSearch(self)
            else:
                self._table = CandidateTable(self)
        return self._table

    def best_step(self, cur: float) -> tuple[Move, float] | None:
        """The best strictly improving move on the current state, if any."""
        if self.mode() == "full":
            return self.best_step_full(cur)
        return self.table().best_step(cur)

    def best_step_full(self, cur: float) -> tuple[Move, float] | None:
        """`best_step` re-evaluating every candidate (no cache)."""
        c = self.c
        base = self._base()
        vic = victims(c, self.insts, self.opts.evac_mode)
        rmem_by_inst = np.zeros(c.n_instances)
        rmem_by_inst[vic] = rmem_after_sec_removal(c, vic)
        # Per chunk keep only candidates near the running best approximate
        # score, so memory does not grow with the number of candidates.
        results: list[tuple[_Cands, list[IArray], list[FArray], FArray, FArray]] = []
        running = np.inf
        for cand in self._chunked(self._candidates()):
            if len(cand.inst) == 0:
                continue
            rmem_s = None
            if cand.kind != MoveType.FAILOVER_TO_ANY:
                rmem_s = rmem_by_inst[cand.inst]
            res = simulate(
                c, cand.kind, cand.inst, np.maximum(cand.target, 0), self.opts.moves, rmem_s
            )
            new_vals = [
                sc.node_values(blk, c.stat[:, nodes]) for nodes, blk in zip(res.nodes, res.blocks)
            ]
            old_p = c.pnode[cand.inst]
            mdelta = self._map_delta(cand.inst, old_p, res.new_pri)
            approx = self._approx(base, res.nodes, new_vals, mdelta)
            approx = np.where(res.ok & np.isfinite(approx), approx, np.inf)
            if len(approx):
                running = min(running, float(approx.min()))
            keep = np.flatnonzero(approx <= running + TIE_TOLERANCE + 1e-12 * abs(running))
            if len(keep) == 0:
                continue
            sub = _Cands(cand.kind, cand.inst[keep], cand.target[keep], cand.order[keep])
            results.append(
                (
                    sub,
                    [n[keep] for n in res.nodes],
                    [v[:, keep] for v in new_vals],
                    mdelta[keep],
                    approx[keep],
                )
            )
        if not results:
            return None
        best = min(float(r[4].min()) for r in results)
        if not np.isfinite(best) or best > cur + TIE_TOLERANCE:
            return None
        tol = TIE_TOLERANCE + 1e-12 * abs(best)
        best_key: tuple[float, int] | None = None
        best_move: Move | None = None
        for cand, rnodes, new_vals, mdelta, approx in results:
            sel = np.flatnonzero(approx <= best + tol)
            if len(sel) == 0:
                continue
            ex = self._exact(
                base,
                [nodes[sel] for nodes in rnodes],
                [v[:, sel] for v in new_vals],
                mdelta[sel],
            )
            for j, e in zip(sel, ex):
                key2 = (float(e), int(cand.order[j]))
                if best_key is None or key2 < best_key:
                    best_key = key2
                    best_move = Move(int(cand.inst[j]), cand.kind, int(cand.target[j]))
        if best_key is None or best_move is None or not best_key[0] < cur:
            return None
        return best_move, best_key[0]

    # ------------------------------------------------------------ loop
    def run(
        self, on_step: Callable[[int, Step], None] | None = None, initial: float | None = None
    ) -> list[Step]:
        opts = self.opts
        c = self.c
        cur = self.score() if initial is None else initial
        target = sc.optimal_score(c, self.nodes) + opts.min_score
        steps: list[Step] = []
        while (opts.max_length < 0 or len(steps) < opts.max_length) and cur > target:
            found = self.best_step(cur)
            if found is None:
                break
            mv, new = found
            if not (cur > opts.min_gain_limit or cur - new >= opts.min_gain):
                break
            i = mv.inst
            old_p, old_s = int(c.pnode[i]), int(c.snode[i])
            if not apply_move(c, mv, opts.moves):
                raise RuntimeError("internal error: chosen move is infeasible")
            if self.gmap.size:
                self.gmap = sc.location_map(c, self.nodes)
            step = Step(mv, new, old_p, old_s, int(c.pnode[i]), int(c.snode[i]))
            steps.append(step)
            if on_step is not None:
                on_step(len(steps), step)
            cur = new
        return steps
