"""``hbal --better``: never worse than greedy, never breaks N+1 / exclusion."""

from __future__ import annotations

import io
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.better import _Saved, better_run
from ganeti.htools.cli import hbal
from ganeti.htools.model import Cluster
from tests.unit.htools import helpers as h
from tests.unit.htools.test_model_properties import clusters


def _online_only(c: Cluster) -> None:
    # Moves off offline nodes are forced (evacuation), so the N+1 guarantee
    # only holds for clusters without offline nodes (as for greedy plans).
    c.stat[m.S_OFFLINE] = 0.0
    c._recompute_global_map()


class BetterProperties(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(clusters(), st.integers(1, 40), st.sampled_from([-1, 3, 10]))
    def test_never_worse_and_constraints_hold(self, c: Cluster, width: int, limit: int) -> None:
        _online_only(c)
        nodes = np.arange(c.n_nodes)
        insts = np.arange(c.n_instances)
        online = c.online_mask
        before_fail = set(np.flatnonzero((c.dyn[m.D_FAIL_N1] > 0) & online))
        before_conf = c.dyn[m.D_CONFLICTS].copy()
        opts = BalanceOptions(max_length=limit)
        greedy_c = c.copy()
        greedy = Balancer(greedy_c, nodes, insts, opts).run()
        greedy_score = greedy[-1].score if greedy else sc.cluster_score(c, nodes)

        ini = sc.cluster_score(c, nodes)
        res = better_run(Balancer(c, nodes, insts, opts), ini, width=width)
        self.assertEqual(res.greedy_steps, len(greedy))
        self.assertEqual(res.greedy_score, greedy_score)
        self.assertLessEqual(res.score, greedy_score)
        self.assertEqual(res.score, sc.cluster_score(c, nodes))
        if limit >= 0:
            self.assertLessEqual(len(res.steps), limit)
        after_fail = set(np.flatnonzero((c.dyn[m.D_FAIL_N1] > 0) & online))
        self.assertTrue(after_fail <= before_fail, (before_fail, after_fail))
        on = np.flatnonzero(online)
        self.assertTrue((c.dyn[m.D_CONFLICTS, on] <= before_conf[on]).all())
        full = c.rebuilt()
        np.testing.assert_array_equal(
            np.delete(c.dyn, m.D_FAIL_N1, axis=0), np.delete(full.dyn, m.D_FAIL_N1, axis=0)
        )
        np.testing.assert_array_equal(c.peers, full.peers)

    @settings(max_examples=40, deadline=None)
    @given(clusters())
    def test_saved_state_restores_exactly(self, c: Cluster) -> None:
        from ganeti.htools.moves import Move, MoveOptions, MoveType, apply_move

        before = c.copy()
        saved = _Saved(c)
        for i in range(c.n_instances):
            apply_move(c, Move(i, MoveType.FAILOVER), MoveOptions(ignore_soft_errors=True))
        saved.restore(c)
        for name in ("dyn", "peers", "pnode", "snode", "excl_count", "global_map"):
            np.testing.assert_array_equal(getattr(c, name), getattr(before, name), name)
        self.assertEqual(c.p_tags, before.p_tags)


class BetterCli(SynchronousTestCase):
    def _hbal(self, args: list[str]) -> str:
        out, err = io.StringIO(), io.StringIO()
        self.assertEqual(hbal.run(args, out, err), 0, err.getvalue())
        return out.getvalue()

    def test_default_output_unchanged_and_summary(self) -> None:
        for name in ("hbal-soft-errors.data", "hbal-excl-tags.data", "n1-failure.data"):
            path = h.data_path(name)
            plain = self._hbal(["-t", path])
            better = self._hbal(["-t", path, "--better"])
            self.assertNotIn("better", plain)
            summary = re.search(
                r"greedy: (\d+) moves, score (\S+); better: (\d+) moves, score (\S+)", better
            )
            assert summary is not None, better
            self.assertLessEqual(float(summary[4]), float(summary[2]))
            # the greedy part of the plan is the default plan
            plan = [x for x in plain.splitlines() if re.match(r"^\s+\d+\. ", x)]
            plan_b = [x for x in better.splitlines() if re.match(r"^\s+\d+\. ", x)]
            self.assertEqual(plan_b[: len(plan)], plan)
            self.assertEqual(int(summary[1]), len(plan))
            self.assertEqual(int(summary[3]), len(plan_b))
