"""The lazy table's indexed step equals its table scan and the full search.

The per-stamp indexes are made tiny (one entry) so that the threshold,
rebuild and stale-entry paths are exercised on small clusters.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.lazytable import LazyCandidateTable
from ganeti.htools.model import Cluster
from ganeti.htools.moves import MoveType
from tests.unit.htools.test_incremental import BAL_OPTS, MOVES, _apply_random
from tests.unit.htools.test_model_properties import clusters

LAZY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def _lazy(c: Cluster, opts: BalanceOptions, size: int) -> tuple[Balancer, LazyCandidateTable]:
    bal = Balancer(c, np.arange(c.n_nodes), np.arange(c.n_instances), opts, mode="lazy")
    assume(not bal.gmap.size)
    table = bal.table()
    assert isinstance(table, LazyCandidateTable)
    table.INDEX_SIZE = size
    return bal, table


class LazyIndexProperties(SynchronousTestCase):
    @LAZY
    @given(clusters(), BAL_OPTS, MOVES)
    def test_indexed_step_equals_scan(
        self, c: Cluster, opts: BalanceOptions, moves: list[tuple[int, MoveType, int]]
    ) -> None:
        c2 = c.copy()
        bal, table = _lazy(c, opts, 1)
        _bal2, table2 = _lazy(c2, opts, 1)
        for i, kind, t in moves:
            _apply_random(c, i, kind, t)
            _apply_random(c2, i, kind, t)
            cur = bal.score()
            self.assertEqual(table.best_step(cur), table2.best_step_scan(cur))

    @LAZY
    @given(clusters(), BAL_OPTS)
    def test_indexed_plan_equals_full_plan(self, c: Cluster, opts: BalanceOptions) -> None:
        c2 = c.copy()
        bal, _ = _lazy(c, opts, 1)
        lazy = bal.run()
        nodes = np.arange(c2.n_nodes)
        full = Balancer(c2, nodes, np.arange(c2.n_instances), opts, mode="full").run()
        self.assertEqual(lazy, full)
