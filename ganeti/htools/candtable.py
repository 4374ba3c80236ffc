"""Incremental candidate table for hbal's greedy search.

Every candidate move (victim instance, move type, target node) touches at
most three nodes: the instance's primary and secondary and the target.  Its
feasibility and the new metric inputs of those nodes depend only on the
state of those nodes (their ``dyn`` columns, their ``peers`` rows and their
exclusion-tag counts) and on static data.  So between greedy steps only the
candidates touching a node the last move changed need to be simulated again;
all others keep their cached per-row partial sums:

* ``ds[r]`` — change of the sum of node-value row r over online nodes,
* ``dq[r]`` — change of the sum of squares, centred on a fixed per-row
  centre chosen when the table is built (so it does not depend on the
  current mean and stays valid while the touched nodes are unchanged),
* ``doff[r]`` — change of the sum over offline nodes (only with offline
  nodes in the group).

Each step the approximate score of every cached candidate is evaluated from
these partial sums and the current base sums (vectorised, only over the rows
any move can change), and the candidates within the tie tolerance of the
best are re-simulated and scored exactly by the balancer's exact scorer —
the same second tier as the non-incremental search, so plans and
tie-breaking are unchanged.

Changes are found by comparing the cluster with a snapshot taken after the
last synchronisation, so the table stays correct whatever mutated the
cluster in between (a greedy step, `apply_move` called by a caller, ...).

Public API: `CandidateTable` (`sync`, `best_step`, `approx_scores`,
`estimate_bytes`); used by `balance.Balancer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import numpy as np

from ganeti.htools import score as sc
from ganeti.htools.model import BArray, Cluster, FArray, IArray
from ganeti.htools.moves import (
    Move,
    MoveType,
    possible_move_types,
    rmem_after_sec_removal,
    simulate,
)

if TYPE_CHECKING:
    from ganeti.htools.balance import Balancer

FILL_CHUNK = 50_000  # candidates simulated at once while filling the table
NV = sc.NUM_NODE_VALUES
_SD = np.array([kind == "sd" for _, _, kind in sc.METRICS[:NV]])
_SUM = np.array([kind == "sum" for _, _, kind in sc.METRICS[:NV]])
_OFF = np.array([kind == "off" for _, _, kind in sc.METRICS[:NV]])


def new_primary(kind: MoveType, p: IArray, s: IArray, t: IArray) -> IArray:
    """Primary node after a move of `kind` (s: current secondary, t: target)."""
    if kind == MoveType.FAILOVER or kind == MoveType.FAILOVER_AND_REPLACE:
        return s
    if kind == MoveType.REPLACE_SECONDARY:
        return p
    return t


@attrs.define
class KindTable:
    """Cached candidates of one move type: cell = victim * ncol + target column."""

    kind: MoveType
    ncol: int
    ok: BArray
    ds: FArray  # (NV, cells)
    dq: FArray  # (NV, cells)
    doff: FArray | None  # (NV, cells) when the group has offline nodes
    order: IArray  # Ganeti's enumeration order (ties go to the smallest)

    @classmethod
    def empty(cls, kind: MoveType, nv: int, ncol: int, with_off: bool) -> KindTable:
        cells = nv * ncol
        return cls(
            kind=kind,
            ncol=ncol,
            ok=np.zeros(cells, bool),
            ds=np.zeros((NV, cells)),
            dq=np.zeros((NV, cells)),
            doff=np.zeros((NV, cells)) if with_off else None,
            order=np.zeros(cells, np.int64),
        )


def _same(a: FArray, b: FArray) -> BArray:
    return np.asarray((a == b) | (np.isnan(a) & np.isnan(b)))


class CandidateTable:
    """Per-candidate partial score sums of one `Balancer`, kept up to date."""

    def __init__(self, bal: Balancer, center: FArray | None = None) -> None:
        c = bal.c
        self.bal = bal
        self.c: Cluster = c
        ins = bal.insts
        self.vic = ins[c.movable[ins] & c.i_auto_balance[ins]]
        self.tg = bal.nodes[c.online_mask[bal.nodes]]
        self.nt = len(self.tg)
        self.stride = 1 + self.nt * 8
        self.with_off = len(bal.off_cols) > 0
        nv = len(self.vic)
        self.use_fo = np.zeros(nv, bool)
        self.rank: dict[MoveType, IArray] = {}
        self.tables: dict[MoveType, KindTable] = {}
        self.rmem = np.zeros(nv)
        self.out_group = ~bal.in_group
        self.vals = self._node_vals()
        on = self.vals[:, bal.on_cols]
        if center is None:
            center = on.mean(axis=1) if on.shape[1] else np.zeros(NV)
        self.center = np.asarray(center, dtype=float)
        self.active = np.zeros(NV, bool)
        self._snapshot()
        self._recompute(np.arange(nv), np.zeros(0, np.int64))

    # ------------------------------------------------------------ sizing
    @staticmethod
    def estimate_bytes(bal: Balancer) -> int:
        """Memory the table of `bal` would need (for the auto mode)."""
        c = bal.c
        ins = bal.insts
        nv = int((c.movable[ins] & c.i_auto_balance[ins]).sum())
        nt = int(c.online_mask[bal.nodes].sum())
        kinds = 4 if nv else 0
        rows = 2 * NV + (NV if len(bal.off_cols) else 0) + 4
        # table plus evaluation temporaries
        return nv * (nt * kinds + 1) * 8 * (rows + 6)

    # ------------------------------------------------------------ state
    def _node_vals(self) -> FArray:
        c, nodes = self.c, self.bal.nodes
        return sc.node_values(c.dyn[:, nodes], c.stat[:, nodes])

    def _snapshot(self) -> None:
        c = self.c
        self._dyn = c.dyn.copy()
        self._peers = c.peers.copy()
        self._excl = c.excl_count.copy()
        self._pnode = c.pnode.copy()
        self._snode = c.snode.copy()

    def changed_nodes(self) -> tuple[BArray, BArray]:
        """(nodes whose candidates must be recomputed, instances that moved)."""
        c = self.c
        chg: BArray = np.asarray(~_same(c.dyn, self._dyn).all(axis=0))
        chg |= ~_same(c.peers, self._peers).all(axis=1)
        if c.excl_count.shape[1]:
            chg |= (c.excl_count != self._excl).any(axis=1)
        moved: BArray = np.asarray((c.pnode != self._pnode) | (c.snode != self._snode))
        for arr in (self._pnode, self._snode, c.pnode, c.snode):
            sel = arr[moved]
            chg[sel[sel >= 0]] = True
        return chg, moved

    def sync(self) -> None:
        """Bring the cached candidates up to date with the cluster."""
        chg, moved = self.changed_nodes()
        if not chg.any() and not moved.any():
            return
        c = self.c
        self.vals = self._node_vals()
        nodes = self.bal.nodes
        p = c.pnode[self.vic]
        s = c.snode[self.vic]
        s_chg = np.where(s >= 0, chg[np.maximum(s, 0)], False)
        redo = chg[p] | s_chg | moved[self.vic]
        if len(nodes) and chg[nodes[-1]]:
            # Candidates touching nodes outside the group read the last group
            # column as their "old" value (same as the non-incremental path).
            s_out = np.where(s >= 0, self.out_group[np.maximum(s, 0)], False)
            redo |= self.out_group[p] | s_out
        cols = np.flatnonzero(chg[self.tg])
        self._recompute(np.flatnonzero(redo), cols)
        self._snapshot()

    # ------------------------------------------------------------ filling
    def _ncol(self, kind: MoveType) -> int:
        return 1 if kind == MoveType.FAILOVER else self.nt

    def _ensure(self, kind: MoveType) -> None:
        """Create the storage of a move type on first use."""
        if kind not in self.rank:
            self.rank[kind] = np.full(len(self.vic), -1, np.int64)
            self._new_storage(kind)

    def _new_storage(self, kind: MoveType) -> None:
        self.tables[kind] = KindTable.empty(kind, len(self.vic), self._ncol(kind), self.with_off)

    def _recompute(self, rows: IArray, cols: IArray) -> None:
        c = self.c
        opts = self.bal.opts.moves
        for v in rows:
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
        nv, nt = len(self.vic), self.nt
        others = np.ones(nv, bool)
        others[rows] = False
        other_rows = np.flatnonzero(others)
        for kind in list(self.rank):
            if kind == MoveType.FAILOVER:
                cells = np.asarray(rows, np.int64)
            else:
                c1 = (rows[:, None] * nt + np.arange(nt)[None, :]).ravel()
                c2 = (other_rows[:, None] * nt + cols[None, :]).ravel()
                cells = np.concatenate([c1, c2]).astype(np.int64)
            self._fill_cells(kind, cells)

    def _fill_cells(self, kind: MoveType, cells: IArray) -> None:
        for lo in range(0, len(cells), FILL_CHUNK):
            self._fill(kind, cells[lo : lo + FILL_CHUNK])

    def cell_order(self, kind: MoveType, cells: IArray) -> IArray:
        """Ganeti's enumeration order of cells (ties go to the smallest)."""
        ncol = self._ncol(kind)
        vi = cells // ncol
        if kind == MoveType.FAILOVER:
            return np.asarray(vi * self.stride, np.int64)
        rank = np.maximum(self.rank[kind][vi], 0)
        return np.asarray(vi * self.stride + 1 + (cells % ncol) * 8 + rank, np.int64)

    def _valid(self, kind: MoveType, cells: IArray) -> tuple[IArray, IArray, IArray, BArray]:
        """(victim position, instance, target (-1 for Failover), allowed) of cells."""
        c = self.c
        ncol = self._ncol(kind)
        vi = cells // ncol
        inst = self.vic[vi]
        if kind == MoveType.FAILOVER:
            return vi, inst, np.full(len(cells), -1, np.int64), self.use_fo[vi]
        tgt = self.tg[cells % ncol]
        valid = (self.rank[kind][vi] >= 0) & (tgt != c.pnode[inst])
        if kind != MoveType.FAILOVER_TO_ANY:
            valid &= tgt != c.snode[inst]
        return vi, inst, tgt, valid

    def _partial_sums(
        self, kind: MoveType, vi: IArray, inst: IArray, tgt: IArray
    ) -> tuple[BArray, FArray, FArray, FArray | None]:
        """Simulate cells: (feasible, ds, dq, doff) with the fixed centre."""
        c = self.c
        bal = self.bal
        res = simulate(c, kind, inst, np.maximum(tgt, 0), bal.opts.moves, self.rmem[vi])
        k = len(inst)
        ds = np.zeros((NV, k))
        dq = np.zeros((NV, k))
        doff = np.zeros((NV, k)) if self.with_off else None
        onl = c.online_mask
        two_c = 2.0 * self.center[:, None]
        for nodes, blk in zip(res.nodes, res.blocks):
            new = sc.node_values(blk, c.stat[:, nodes])
            old = self.vals[:, bal.pos[nodes]]
            on = onl[nodes]
            diff = new - old
            if on.all():
                ds += diff
                dq += diff * (new + old - two_c)
            else:
                ds += np.where(on, diff, 0.0)
                dq += np.where(on, diff * (new + old - two_c), 0.0)
                if doff is not None:
                    doff += np.where(on, 0.0, diff)
        return res.ok, ds, dq, doff

    def _fill(self, kind: MoveType, cells: IArray) -> None:
        tab = self.tables[kind]
        vi, inst, tgt, valid = self._valid(kind, cells)
        tab.order[cells] = self.cell_order(kind, cells)
        tab.ok[cells] = False
        tab.ds[:, cells] = 0.0
        tab.dq[:, cells] = 0.0
        if tab.doff is not None:
            tab.doff[:, cells] = 0.0
        sel = np.flatnonzero(valid)
        if len(sel) == 0:
            return
        cells = cells[sel]
        ok, ds, dq, doff = self._partial_sums(kind, vi[sel], inst[sel], tgt[sel])
        tab.ok[cells] = ok
        tab.ds[:, cells] = ds
        tab.dq[:, cells] = dq
        self.active |= (ds != 0).any(axis=1) | (dq != 0).any(axis=1)
        if doff is not None and tab.doff is not None:
            tab.doff[:, cells] = doff
            self.active |= (doff != 0).any(axis=1)

    # ------------------------------------------------------------ scoring
    def approx_scores(self) -> dict[MoveType, FArray]:
        """Approximate score of every cached candidate (inf if not allowed)."""
        bal = self.bal
        vals = self.vals
        on = vals[:, bal.on_cols]
        n = float(on.shape[1])
        out: dict[MoveType, FArray] = {}
        if n == 0:
            return {k: np.full(len(t.ok), np.inf) for k, t in self.tables.items()}
        cent = on - self.center[:, None]
        s_base = cent.sum(axis=1)
        q_base = (cent * cent).sum(axis=1)
        sum_on = on.sum(axis=1)
        sum_off = vals[:, bal.off_cols].sum(axis=1)
        var0 = q_base / n - (s_base / n) ** 2
        sd0 = np.sqrt(np.maximum(var0, 0.0))
        w = sc.WEIGHTS
        const = float(sc.map_value(bal.gmap))
        for r in range(NV):
            if self.active[r]:
                continue
            if _SD[r]:
                const += w[r] * sd0[r]
            elif _SUM[r]:
                const += w[r] * sum_on[r]
            elif _OFF[r]:
                const += w[r] * sum_off[r]
        if not self.active[sc.RTOTAL_ROW]:
            const += w[19] * sum_on[sc.RTOTAL_ROW]
        const_act = 0.0
        for r in np.flatnonzero(self.active).tolist():
            if _SUM[r]:
                const_act += w[r] * sum_on[r]
            elif _OFF[r]:
                const_act += w[r] * sum_off[r]
        if self.active[sc.RTOTAL_ROW]:
            const_act += w[19] * sum_on[sc.RTOTAL_ROW]
        inv_n = 1.0 / n
        vic_ok = self._victim_mask()
        for kind, tab in self.tables.items():
            cells = len(tab.ok)
            acc = np.full(cells, const + const_act)
            t1 = np.empty(cells)
            t2 = np.empty(cells)
            for r in np.flatnonzero(self.active).tolist():
                if _SD[r]:
                    np.add(tab.dq[r], q_base[r], out=t1)
                    t1 *= inv_n
                    np.add(tab.ds[r], s_base[r], out=t2)
                    t2 *= inv_n
                    t2 *= t2
                    t1 -= t2
                    np.maximum(t1, 0.0, out=t1)
                    np.sqrt(t1, out=t1)
                    t1 *= w[r]
                    acc += t1
                    if r == sc.RTOTAL_ROW:
                        acc += w[19] * tab.ds[r]
                elif _SUM[r]:
                    acc += w[r] * tab.ds[r]
                elif _OFF[r] and tab.doff is not None:
                    acc += w[r] * tab.doff[r]
            if bal.gmap.size:
                acc += self._map_deltas(tab)
            ok = tab.ok & np.isfinite(acc)
            if vic_ok is not None:
                ok &= np.repeat(vic_ok, tab.ncol)
            out[kind] = np.where(ok, acc, np.inf)
        return out

    def _victim_mask(self) -> BArray | None:
        if not self.bal.opts.evac_mode:
            return None
        c = self.c
        off = c.offline
        p = c.pnode[self.vic]
        s = c.snode[self.vic]
        return np.asarray(off[p] | np.where(s >= 0, off[np.maximum(s, 0)], False))

    def _cell_moves(self, tab: KindTable, cells: IArray) -> tuple[IArray, IArray]:
        inst = self.vic[cells // tab.ncol]
        if tab.kind == MoveType.FAILOVER:
            return inst, np.full(len(cells), -1, np.int64)
        return inst, self.tg[cells % tab.ncol]

    def _map_deltas(self, tab: KindTable) -> FArray:
        c = self.c
        cells = np.arange(len(tab.ok))
        out = np.zeros(len(cells))
        sel = np.flatnonzero(tab.ok)
        if len(sel) == 0:
            return out
        inst, tgt = self._cell_moves(tab, sel)
        p = c.pnode[inst]
        s = np.maximum(c.snode[inst], 0)
        out[sel] = self.bal._map_delta(inst, p, new_primary(tab.kind, p, s, tgt))
        return out

    def best_step(self, cur: float) -> tuple[Move, float] | None:
        """Same contract and result as `Balancer.best_step_full`."""
        from ganeti.htools.balance import TIE_TOLERANCE

        self.sync()
        scores = self.approx_scores()
        best = min((float(a.min()) for a in scores.values() if len(a)), default=np.inf)
        if not np.isfinite(best) or best > cur + TIE_TOLERANCE:
            return None
        tol = TIE_TOLERANCE + 1e-12 * abs(best)
        c = self.c
        bal = self.bal
        base: dict[str, FArray | float] = {"vals": self.vals, "map": sc.map_value(bal.gmap)}
        best_key: tuple[float, int] | None = None
        best_move: Move | None = None
        for kind, tab in self.tables.items():
            sel = np.flatnonzero(scores[kind] <= best + tol)
            if len(sel) == 0:
                continue
            inst, tgt = self._cell_moves(tab, sel)
            rmem_s = self.rmem[sel // tab.ncol]  # cached: same values as a recomputation
            res = simulate(c, kind, inst, np.maximum(tgt, 0), bal.opts.moves, rmem_s)
            new_vals = [
                sc.node_values(blk, c.stat[:, nodes]) for nodes, blk in zip(res.nodes, res.blocks)
            ]
            mdelta = bal._map_delta(inst, c.pnode[inst], res.new_pri)
            ex = bal._exact(base, list(res.nodes), new_vals, mdelta)
            for j in range(len(sel)):
                if not res.ok[j]:
                    continue
                key = (float(ex[j]), int(tab.order[sel[j]]))
                if best_key is None or key < best_key:
                    best_key = key
                    best_move = Move(int(inst[j]), kind, int(tgt[j]))
        if best_key is None or best_move is None or not best_key[0] < cur:
            return None
        return best_move, best_key[0]
