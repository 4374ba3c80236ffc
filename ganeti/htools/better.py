"""``hbal --better``: look two moves ahead when the greedy search is stuck.

Beyond Ganeti (never the default).  The greedy search stops when no single
move improves the score.  From such a local minimum this search tries the
`width` least-bad first moves (lowest approximate score after the move,
taken from the incremental candidate table); after each it asks the greedy
search for the best second move on the resulting state.  The pair whose
combination gives the lowest final score wins if it improves on the current
score (and passes the same min-gain rule as a greedy step); both moves are
applied and the greedy search continues from there.  This repeats until no
pair improves, the step limit is reached or the time budget is spent.

Every move goes through the same `simulate` checks as greedy moves (hard
capacity checks, N+1 and exclusion-tag soft checks unless
``--ignore-soft-errors``), and a pair is only accepted when it lowers the
score, so the result is never worse than the greedy one and never violates
a constraint the greedy search respects.

Public API: `BetterResult`, `better_run`.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import attrs
import numpy as np

from ganeti.htools.balance import Balancer, Step
from ganeti.htools.model import Cluster, FArray
from ganeti.htools.moves import Move, apply_move

DEFAULT_WIDTH = 64
# A pair costs two moves: it must gain at least this much (on top of the
# greedy min-gain rule), so float noise never buys moves.
PAIR_MIN_GAIN = 1e-6


@attrs.frozen
class BetterResult:
    greedy_steps: int
    greedy_score: float
    steps: list[Step]  # all steps (greedy first, then the extra ones)
    score: float
    pairs: int  # accepted two-move combinations
    rounds: int  # look-ahead searches run
    timed_out: bool


class _Saved:
    """Everything `apply_move` changes, to undo a trial move exactly."""

    def __init__(self, c: Cluster) -> None:
        self.dyn = c.dyn.copy()
        self.peers = c.peers.copy()
        self.pnode = c.pnode.copy()
        self.snode = c.snode.copy()
        self.excl = c.excl_count.copy()
        self.gmap = c.global_map.copy()
        self.p_tags = [collections.Counter(t) for t in c.p_tags]

    def restore(self, c: Cluster) -> None:
        c.dyn[...] = self.dyn
        c.peers[...] = self.peers
        c.pnode[...] = self.pnode
        c.snode[...] = self.snode
        c.excl_count[...] = self.excl
        c.global_map[...] = self.gmap
        c.p_tags[:] = [collections.Counter(t) for t in self.p_tags]


def _first_moves(bal: Balancer, width: int) -> list[Move]:
    """The `width` first moves with the lowest approximate resulting score."""
    table = bal.table()
    table.sync()
    scores = table.approx_scores()
    rows: list[tuple[float, int, Move]] = []
    for kind, tab in table.tables.items():
        sc_k = scores[kind]
        fin = np.flatnonzero(np.isfinite(sc_k))
        if len(fin) > width:
            fin = fin[np.argpartition(sc_k[fin], width - 1)[:width]]
        inst, tgt = table._cell_moves(tab, fin)
        for j, cell in enumerate(fin):
            rows.append(
                (float(sc_k[cell]), int(tab.order[cell]), Move(int(inst[j]), kind, int(tgt[j])))
            )
    rows.sort(key=lambda r: (r[0], r[1]))
    return [mv for _, _, mv in rows[:width]]


def _gain_ok(bal: Balancer, cur: float, new: float) -> bool:
    o = bal.opts
    gain = cur - new
    return gain >= PAIR_MIN_GAIN and (cur > o.min_gain_limit or gain >= o.min_gain)


def _best_pair(
    bal: Balancer, cur: float, width: int, deadline: float
) -> tuple[Move, Move, float] | None:
    c = bal.c
    saved = _Saved(c)
    gmap = bal.gmap.copy()
    best: tuple[Move, Move, float] | None = None
    for m1 in _first_moves(bal, width):
        if time.monotonic() > deadline:
            break
        if not apply_move(c, m1, bal.opts.moves):
            saved.restore(c)
            continue
        if gmap.size:
            bal.gmap = _group_map(bal)
        found = bal.best_step(cur if best is None else best[2])
        saved.restore(c)
        bal.gmap = gmap.copy()
        if found is None:
            continue
        m2, new = found
        if best is None or new < best[2]:
            best = (m1, m2, new)
    bal.table().sync()
    return best


def _group_map(bal: Balancer) -> FArray:
    from ganeti.htools import score as sc

    return sc.location_map(bal.c, bal.nodes)


def _apply(bal: Balancer, mv: Move, score: float) -> Step:
    c = bal.c
    i = mv.inst
    old_p, old_s = int(c.pnode[i]), int(c.snode[i])
    if not apply_move(c, mv, bal.opts.moves):
        raise RuntimeError("internal error: chosen move is infeasible")
    if bal.gmap.size:
        bal.gmap = _group_map(bal)
    return Step(mv, score, old_p, old_s, int(c.pnode[i]), int(c.snode[i]))


def better_run(
    bal: Balancer,
    initial: float,
    on_step: Callable[[int, Step], None] | None = None,
    on_greedy_done: Callable[[int, float], None] | None = None,
    width: int = DEFAULT_WIDTH,
    time_limit: float = 600.0,
) -> BetterResult:
    """Greedy balancing, then two-move look-ahead from each local minimum."""
    from ganeti.htools import score as sc

    opts = bal.opts
    limit = opts.max_length
    deadline = time.monotonic() + time_limit
    steps: list[Step] = list(bal.run(on_step, initial=initial))
    cur = steps[-1].score if steps else initial
    greedy_n, greedy_score = len(steps), cur
    if on_greedy_done is not None:
        on_greedy_done(greedy_n, greedy_score)
    target = sc.optimal_score(bal.c, bal.nodes) + opts.min_score
    pairs = rounds = 0
    timed_out = False
    # The look-ahead ranks first moves with the candidate table; without it
    # (a cluster too big for the memory budget) only the greedy result is
    # returned.
    while bal.use_table() and cur > target and (limit < 0 or len(steps) + 2 <= limit):
        if time.monotonic() > deadline:
            timed_out = True
            break
        rounds += 1
        pair = _best_pair(bal, cur, width, deadline)
        if pair is None or not _gain_ok(bal, cur, pair[2]):
            timed_out = time.monotonic() > deadline
            break
        m1, m2, new = pair
        st1 = _apply(bal, m1, float("nan"))
        st1 = attrs.evolve(st1, score=sc.cluster_score(bal.c, bal.nodes))
        st2 = _apply(bal, m2, new)
        for st in (st1, st2):
            steps.append(st)
            if on_step is not None:
                on_step(len(steps), st)
        pairs += 1
        cur = new
        # greedy again from the new state
        if limit < 0 or len(steps) < limit:
            sub_opts = attrs.evolve(opts, max_length=-1 if limit < 0 else limit - len(steps))
            bal.opts = sub_opts
            more = bal.run(
                None if on_step is None else (lambda n, st: on_step(len(steps) + n, st)),
                initial=cur,
            )
            bal.opts = opts
            steps.extend(more)
            if more:
                cur = more[-1].score
    return BetterResult(greedy_n, greedy_score, steps, cur, pairs, rounds, timed_out)
