"""The branch-and-bound search ("bound" mode) equals the exhaustive search.

Clusters here have no location, desired-location or exclusion tags (the
bound search does not support them) but have offline nodes, externally
mirrored instances, migration tags, shared instance classes and DRBD peers,
so the P/T split, the peer ranges and the simulated peer exceptions are all
exercised.  The exhaustive search (`Balancer.best_step_full`) is the
oracle.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools import boundtable as bt
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.boundtable import BoundSearch
from ganeti.htools.model import Cluster, Group, InstanceSpec, NodeSpec
from ganeti.htools.moves import MoveType
from ganeti.htools.types import IPolicy
from tests.unit.htools.test_incremental import BAL_OPTS, MOVES, _apply_random

BOUND = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@st.composite
def plain_clusters(draw: st.DrawFn) -> Cluster:
    """Clusters without location/exclusion tags (what the bound search handles)."""
    n_nodes = draw(st.integers(2, 7))
    migration = draw(st.booleans())
    nodes = []
    for k in range(n_nodes):
        mem = draw(st.sampled_from([4096, 8192, 16384, 10000]))
        tags = draw(st.sampled_from([[], ["mig:a"], ["mig:b"]])) if migration else []
        nodes.append(
            NodeSpec(
                name=f"node{k}",
                t_mem=float(mem),
                n_mem=draw(st.sampled_from([0, 512])),
                f_mem=mem,
                t_dsk=float(draw(st.sampled_from([100000, 204800, 300000]))),
                f_dsk=100000,
                t_cpu=float(draw(st.sampled_from([4, 8, 16]))),
                offline=draw(st.booleans()) if k >= 2 else False,
                group=0,
                tags=tags,
            )
        )
    insts = []
    for k in range(draw(st.integers(1, 16))):
        p = draw(st.integers(0, n_nodes - 1))
        template = draw(st.sampled_from(["drbd", "drbd", "drbd", "sharedfile", "plain"]))
        s = -1
        if template == "drbd":
            s = draw(st.integers(0, n_nodes - 2))
            s = s + 1 if s >= p else s
        insts.append(
            InstanceSpec(
                name=f"inst{k}",
                mem=draw(st.sampled_from([128, 512, 3000])),
                dsk=draw(st.sampled_from([1024, 10240])),
                vcpus=draw(st.integers(1, 2)),
                status=draw(st.sampled_from(["running", "running", "ADMIN_down"])),
                auto_balance=draw(st.booleans()),
                pnode=p,
                snode=s,
                template=template,
            )
        )
    tags = []
    if migration:
        tags.append("htools:migration:mig")
        if draw(st.booleans()):
            tags.append("htools:allowmigration:mig:a::mig:b")
    return Cluster.build([Group("g", "uuid-g")], nodes, insts, tags, IPolicy(), n1_rule="head")


def _bound(c: Cluster, opts: BalanceOptions) -> tuple[Balancer, BoundSearch]:
    bal = Balancer(c, np.arange(c.n_nodes), np.arange(c.n_instances), opts, mode="bound")
    assume(BoundSearch.supports(bal))
    table = bal.table()
    assert isinstance(table, BoundSearch)
    return bal, table


def _fresh_scores(table: BoundSearch) -> dict[MoveType, tuple[np.ndarray, np.ndarray]]:
    """Every allowed candidate scored through `simulate` (no P/T split)."""
    base = table._base_sums()
    out: dict[MoveType, tuple[np.ndarray, np.ndarray]] = {}
    for kind in table.p_parts:
        if kind == MoveType.FAILOVER:
            continue
        cells = np.arange(len(table.vic) * table.nt)
        out[kind] = table._score_cells(kind, cells, base)
    return out


_BATCHES = ("EXPAND_FIRST", "GROUP_FIRST", "PAIR_FIRST", "CELL_CHUNK", "PAIR_CHUNK")


class BoundSearchProperties(SynchronousTestCase):
    """With one group / one candidate per batch, so that every loop of the
    search runs and pruning decides as much as possible."""

    def setUp(self) -> None:
        self._saved = {name: getattr(bt, name) for name in _BATCHES}
        for name in _BATCHES:
            setattr(bt, name, 1)

    def tearDown(self) -> None:
        for name, value in self._saved.items():
            setattr(bt, name, value)

    @BOUND
    @given(plain_clusters(), BAL_OPTS, MOVES)
    def test_best_step_equals_full_search(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        bal, _ = _bound(c, opts)
        cur = bal.score()
        self.assertEqual(bal.best_step(cur), bal.best_step_full(cur))
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            cur = bal.score()
            self.assertEqual(bal.best_step(cur), bal.best_step_full(cur))

    @BOUND
    @given(plain_clusters(), BAL_OPTS)
    def test_plan_equals_full_plan(self, c: Cluster, opts: BalanceOptions) -> None:
        c2 = c.copy()
        bal, _ = _bound(c, opts)
        plan = bal.run()
        full = Balancer(c2, np.arange(c2.n_nodes), np.arange(c2.n_instances), opts, mode="full")
        self.assertEqual(plan, full.run())

    @BOUND
    @given(plain_clusters(), BAL_OPTS)
    def test_plan_with_default_batches(self, c: Cluster, opts: BalanceOptions) -> None:
        c2 = c.copy()
        for name, value in self._saved.items():
            setattr(bt, name, value)
        bal, _ = _bound(c, opts)
        plan = bal.run()
        full = Balancer(c2, np.arange(c2.n_nodes), np.arange(c2.n_instances), opts, mode="full")
        self.assertEqual(plan, full.run())

    @BOUND
    @given(plain_clusters(), BAL_OPTS, MOVES)
    def test_whole_group_search_equals_cell_search(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        c2 = c.copy()
        bal, _ = _bound(c, opts)
        bal2, table2 = _bound(c2, opts)
        table2.cell_bounds = False
        table2.split = False
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            _apply_random(c2, i, kind, t)
            cur = bal.score()
            self.assertEqual(bal.best_step(cur), bal2.best_step(cur))

    @BOUND
    @given(plain_clusters(), BAL_OPTS, MOVES)
    def test_split_scores_equal_simulation(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        """P + T scores (with simulated peer exceptions) equal `simulate`, bit for bit."""
        _, table = _bound(c, opts)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
        table.sync()
        base = table._base_sums()
        for kind, (cells, scores) in _fresh_scores(table).items():
            vis = np.arange(len(table.vic))
            cl, sc2 = table._score_groups(kind, vis, base)
            np.testing.assert_array_equal(cl, cells)
            np.testing.assert_array_equal(sc2, scores)

    @BOUND
    @given(plain_clusters(), BAL_OPTS, MOVES)
    def test_bounds_below_every_score(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        _, table = _bound(c, opts)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            table.sync()
            base = table._base_sums()
            rowinfo = table._row_info(base)
            lbs = table.lower_bounds(base, rowinfo)
            vic_ok = table._victim_mask()
            for k, (cells, scores) in _fresh_scores(table).items():
                fin = np.isfinite(scores)
                v = cells // table.nt
                if vic_ok is not None:
                    fin &= vic_ok[v]
                lb = lbs[k][v]
                self.assertTrue((lb[fin] <= scores[fin]).all(), (k, lb[fin], scores[fin]))
                vis = np.arange(len(table.vic))
                cb = table.cell_lower_bounds(k, vis, base, rowinfo)
                cbv = cb[v, cells % table.nt]
                self.assertTrue((cbv[fin] <= scores[fin]).all(), (k, cbv[fin], scores[fin]))

    @BOUND
    @given(plain_clusters(), BAL_OPTS, MOVES)
    def test_synced_parts_equal_fresh_parts(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        _, table = _bound(c, opts)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            table.sync()
            fresh_bal = Balancer(c, np.arange(c.n_nodes), np.arange(c.n_instances), opts)
            fresh = BoundSearch(fresh_bal, center=table.center)
            np.testing.assert_array_equal(table.vals, fresh.vals)
            self.assertEqual(set(table.p_parts) >= set(fresh.p_parts), True)
            for k, fp in fresh.p_parts.items():
                tp = table.p_parts[k]
                np.testing.assert_array_equal(tp.ok, fp.ok, str(k))
                ok = fp.ok
                for name in ("dslo", "dshi", "dqmin", "ds0", "dq0"):
                    a, b = getattr(tp, name)[:, ok], getattr(fp, name)[:, ok]
                    np.testing.assert_array_equal(a, b, f"{k} {name}")
            self.assertEqual(set(table.t_parts), set(fresh.t_parts))
            for key, ft in fresh.t_parts.items():
                tt = table.t_parts[key]
                np.testing.assert_array_equal(tt.ok, ft.ok, str(key))
                for name in ("dslo", "dshi", "dqmin", "ds0", "dq0"):
                    np.testing.assert_array_equal(getattr(tt, name), getattr(ft, name))
            # twin rows found on the synced table are twins of the fresh one too
            act = fresh._p_active | fresh._t_active
            for r, r0 in (table._twins or {}).items():
                if act[r] or act[r0]:
                    self.assertTrue(fresh._rows_equal(r, r0, None, None), (r, r0))


class PeerExceptions(SynchronousTestCase):
    def test_peer_dependent_candidates_are_simulated(self) -> None:
        """Candidates whose secondary peer memory is not 0 (a and b share
        primary node0) differ from the peer-0 parts and must be simulated."""
        nodes = [
            NodeSpec(f"node{k}", 16384.0, 0, 16384, 300000.0, 100000, 8.0, False, 0)
            for k in range(4)
        ]
        insts = [
            InstanceSpec("a", 3000, 1024, 1, "running", True, 0, 1, "drbd"),
            InstanceSpec("b", 512, 1024, 1, "running", True, 0, 2, "drbd"),
            InstanceSpec("c", 128, 1024, 1, "running", True, 3, 2, "drbd"),
        ]
        c = Cluster.build([Group("g", "u")], nodes, insts, [], IPolicy(), n1_rule="head")
        bal, table = _bound(c, BalanceOptions())
        table.sync()
        base = table._base_sums()
        seen_exception = False
        for kind, (cells, scores) in _fresh_scores(table).items():
            vis = np.arange(len(table.vic))
            cl, split = table._score_groups(kind, vis, base)
            np.testing.assert_array_equal(cl, cells)
            np.testing.assert_array_equal(split, scores)
            # the same sums with the peer-0 parts only
            vi, col = cl // table.nt, cl % table.nt
            saved = c.peers.copy()
            c.peers[:] = 0.0
            try:
                peer0 = table._score_pairs(kind, vi, col, base)
            finally:
                c.peers[:] = saved
            seen_exception |= bool((peer0 != scores).any())
        self.assertTrue(seen_exception)
        self.assertEqual(bal.best_step(bal.score()), bal.best_step_full(bal.score()))


class ExactRowForms(SynchronousTestCase):
    @settings(max_examples=40, deadline=None)
    @given(plain_clusters(), st.lists(st.integers(0, 10_000), min_size=1, max_size=30))
    def test_dense_fold_equals_column_fold(self, c: Cluster, picks: list[int]) -> None:
        """`_exact_row_dense` and `_exact_row` agree bit for bit."""
        from ganeti.htools import score as sc
        from ganeti.htools.moves import simulate

        bal = Balancer(c, np.arange(c.n_nodes), np.arange(c.n_instances), BalanceOptions())
        drbd = np.flatnonzero(c.snode >= 0)
        assume(len(drbd) > 0)
        inst = drbd[np.array(picks) % len(drbd)]
        tgt = np.array(picks) % c.n_nodes
        keep = (tgt != c.pnode[inst]) & (tgt != c.snode[inst])
        assume(keep.any())
        inst, tgt = inst[keep], tgt[keep]
        res = simulate(c, MoveType.REPLACE_PRIMARY, inst, tgt, bal.opts.moves)
        vals = sc.node_values(c.dyn, c.stat)
        new = [sc.node_values(b, c.stat[:, n]) for n, b in zip(res.nodes, res.blocks)]
        for r in range(sc.NUM_NODE_VALUES):
            a = np.zeros((len(inst), len(sc.METRICS)))
            b = np.zeros((len(inst), len(sc.METRICS)))
            bal._exact_row(r, vals, list(res.nodes), new, a)
            bal._exact_row_dense(r, vals, list(res.nodes), new, b)
            np.testing.assert_array_equal(a, b, str(r))
