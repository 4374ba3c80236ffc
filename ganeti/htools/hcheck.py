"""hcheck: cluster health statistics, before and after a simulated hbal.

Pure logic: `check(cluster, HcheckOptions())` returns per-group and
cluster statistics (`GroupStats`) initially and, if the cluster needs
rebalancing and simulation is on, after hbal's greedy loop per group.
"""

from __future__ import annotations

import attrs
import numpy as np

from ganeti.htools import alloc as al
from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.model import Cluster

KEYS = ("N1_FAIL", "CONFLICT_TAGS", "OFFLINE_PRI", "OFFLINE_SEC", "GN1_FAIL")
LABELS = (
    "Nodes not N+1 happy",
    "Nodes with conflicting instances",
    "Instances having the primary node offline",
    "Instances having a secondary node offline",
    "Nodes not directly evacuateable",
)


@attrs.frozen
class HcheckOptions:
    simulate: bool = True
    capacity_checks: bool = True
    balance: BalanceOptions = attrs.field(factory=BalanceOptions)


@attrs.define
class GroupStats:
    values: tuple[int, ...]
    score: float


@attrs.define
class CheckResult:
    groups: list[int]  # group indices with nodes
    initial: list[GroupStats]
    final: list[GroupStats] | None
    need_rebalance: bool


def group_stats(c: Cluster, g: int, capacity: bool) -> GroupStats:
    nodes = c.group_nodes(g)
    off = c.offline
    online = nodes[~off[nodes]]
    n1 = int(np.count_nonzero(c.dyn[m.D_FAIL_N1, online] > 0))
    conflicts = int(np.count_nonzero(c.dyn[m.D_CONFLICTS, online] > 0))
    insts = c.group_instances(g)
    off_pri = int(np.count_nonzero(off[c.pnode[insts]])) if len(insts) else 0
    off_sec = int(np.count_nonzero(off[nodes]))
    gn1 = 0
    if capacity:
        for n in online:
            if not al.globally_redundant(c, nodes, only=np.array([n], np.int64)):
                gn1 += 1
    return GroupStats((n1, conflicts, off_pri, off_sec, gn1), sc.cluster_score(c, nodes))


def check(c: Cluster, opts: HcheckOptions) -> CheckResult:
    """Statistics; `c` is rebalanced in place when simulating."""
    groups = [g for g in range(len(c.groups)) if len(c.group_nodes(g))]
    ini = [group_stats(c, g, opts.capacity_checks) for g in groups]
    need = any(v > 0 for st in ini for v in st.values)
    final: list[GroupStats] | None = None
    if need and opts.simulate:
        for g in groups:
            Balancer(c, c.group_nodes(g), c.group_instances(g), opts.balance).run()
        final = [group_stats(c, g, opts.capacity_checks) for g in groups]
    return CheckResult(groups, ini, final, need)


def totals(stats: list[GroupStats]) -> tuple[int, ...]:
    return tuple(sum(st.values[k] for st in stats) for k in range(len(KEYS)))
