"""The incremental candidate table equals a from-scratch evaluation."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.candtable import CandidateTable
from ganeti.htools.lazytable import LazyCandidateTable
from ganeti.htools.model import Cluster
from ganeti.htools.moves import Move, MoveOptions, MoveType, apply_move
from tests.unit.htools.test_model_properties import MOVE_KINDS, clusters

MOVES = st.lists(
    st.tuples(st.integers(0, 7), st.sampled_from(MOVE_KINDS), st.integers(0, 5)),
    max_size=10,
)
BAL_OPTS = st.builds(
    BalanceOptions,
    evac_mode=st.booleans(),
    moves=st.builds(
        MoveOptions,
        ignore_soft_errors=st.booleans(),
        no_disk_moves=st.booleans(),
        no_instance_moves=st.booleans(),
        restricted_migration=st.booleans(),
    ),
)


def _apply_random(c: Cluster, i: int, kind: MoveType, t: int) -> bool:
    i %= c.n_instances
    t %= c.n_nodes
    if kind != MoveType.FAILOVER and (t in (c.pnode[i], c.snode[i]) or c.offline[t]):
        return False
    mv = Move(i, kind, t if kind != MoveType.FAILOVER else -1)
    return apply_move(c, mv, MoveOptions(ignore_soft_errors=True))


def assert_tables_equal(tc: SynchronousTestCase, a: CandidateTable, b: CandidateTable) -> None:
    # A kind table may exist in one only if no victim has that move type.
    for kind in set(a.tables) | set(b.tables):
        ta, tb = a.tables.get(kind), b.tables.get(kind)
        if ta is None or tb is None:
            only = ta if ta is not None else tb
            assert only is not None
            tc.assertFalse(only.ok.any(), kind)
            continue
        np.testing.assert_array_equal(ta.ok, tb.ok, str(kind))
        ok = ta.ok
        np.testing.assert_array_equal(ta.ds[:, ok], tb.ds[:, ok], str(kind))
        np.testing.assert_array_equal(ta.dq[:, ok], tb.dq[:, ok], str(kind))
        if ta.doff is not None and tb.doff is not None:
            np.testing.assert_array_equal(ta.doff[:, ok], tb.doff[:, ok], str(kind))
        np.testing.assert_array_equal(ta.order[ok], tb.order[ok], str(kind))
    np.testing.assert_array_equal(a.use_fo, b.use_fo)
    np.testing.assert_array_equal(a.vals, b.vals)
    # Rows ever changed by a move are evaluated per candidate, the others as
    # constants; use the same split so approximate scores match bit for bit.
    tc.assertTrue((a.active | ~b.active).all())
    b.active = a.active.copy()
    sa, sb = a.approx_scores(), b.approx_scores()
    for kind in set(sa) & set(sb):
        np.testing.assert_array_equal(sa[kind], sb[kind], str(kind))


class CandidateTableProperties(SynchronousTestCase):
    @settings(max_examples=80, deadline=None)
    @given(clusters(), BAL_OPTS, MOVES)
    def test_synced_table_equals_fresh_table(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        bal = Balancer(c, nodes, insts, opts, incremental=True)
        table = bal.table()
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            table.sync()
            fresh_bal = Balancer(c, nodes, insts, opts, incremental=True)
            fresh_bal.gmap = bal.gmap
            fresh = CandidateTable(fresh_bal, center=table.center)
            assert_tables_equal(self, table, fresh)

    @settings(max_examples=80, deadline=None)
    @given(clusters(), BAL_OPTS, MOVES)
    def test_table_best_step_equals_full_search(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        bal = Balancer(c, nodes, insts, opts, incremental=True)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            bal.gmap = bal.gmap if not bal.gmap.size else type(bal)(c, nodes, insts, opts).gmap
            cur = bal.score()
            self.assertEqual(bal.best_step(cur), bal.best_step_full(cur))

    @settings(max_examples=60, deadline=None)
    @given(clusters(), BAL_OPTS)
    def test_incremental_plan_equals_full_plan(self, c: Cluster, opts: BalanceOptions) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        c2 = c.copy()
        inc = Balancer(c, nodes, insts, opts, incremental=True).run()
        full = Balancer(c2, nodes, insts, opts, incremental=False).run()
        self.assertEqual(inc, full)


# Clusters with a location/exclusion map are filtered out (the lazy table is
# not used for them), which is a large share of the generated clusters.
LAZY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


class LazyTableProperties(SynchronousTestCase):
    @LAZY
    @given(clusters(), BAL_OPTS, MOVES)
    def test_bounds_contain_fresh_scores(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        bal = Balancer(c, nodes, insts, opts, mode="lazy")
        assume(not bal.gmap.size)
        table = bal.table()
        assert isinstance(table, LazyCandidateTable)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            bounds = table.bounds()
            fresh = LazyCandidateTable(Balancer(c, nodes, insts, opts), center=table.center)
            for k, (lo, hi) in bounds.items():
                ft = fresh.ltables.get(k)
                if ft is None:
                    continue
                now = ft.score
                fin = np.isfinite(now)
                self.assertTrue((lo[fin] <= now[fin]).all(), (k, lo[fin], now[fin]))
                self.assertTrue((now[fin] <= hi[fin]).all(), (k, now[fin], hi[fin]))
                # cached candidates that are not allowed now are not allowed in the cache
                stale_ok = np.isfinite(table.ltables[k].score) & ~fin
                fresh_stamp = table.ltables[k].stamp == table.stamp_now
                self.assertFalse((stale_ok & fresh_stamp).any())

    @LAZY
    @given(clusters(), BAL_OPTS, MOVES)
    def test_lazy_best_step_equals_full_search(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        bal = Balancer(c, nodes, insts, opts, mode="lazy")
        assume(not bal.gmap.size)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            cur = bal.score()
            self.assertEqual(bal.best_step(cur), bal.best_step_full(cur))

    @LAZY
    @given(clusters(), BAL_OPTS)
    def test_lazy_plan_equals_full_plan(self, c: Cluster, opts: BalanceOptions) -> None:
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        c2 = c.copy()
        bal = Balancer(c, nodes, insts, opts, mode="lazy")
        assume(not bal.gmap.size)
        lazy = bal.run()
        full = Balancer(c2, nodes, insts, opts, mode="full").run()
        self.assertEqual(lazy, full)
