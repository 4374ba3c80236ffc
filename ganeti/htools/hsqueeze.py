"""hsqueeze: dynamic power management planning (pure logic).

Offline candidates are online, non-master nodes without secondaries whose
primaries are all externally mirrored, ordered by primary count
(descending).  If every online node can host an instance of
``minimal_resources`` times the cluster's standard spec, nodes are put
offline greedily: the candidates are processed from the end of that list
(the least loaded), each one kept if, starting from the original cluster,
marking it and the nodes kept so far offline and running hbal's greedy
loop (minimum gain 0, no score threshold) leaves every instance on an
online node and every online node able to host a ``target_resources``
instance.  Otherwise the shortest prefix of the offline nodes tagged
``htools:standby:*`` is chosen whose onlining (and rebalancing) gives that
target capacity, or all of them if none does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np

from ganeti.htools import alloc as al
from ganeti.htools.balance import BalanceOptions, Balancer, Step
from ganeti.htools.model import S_OFFLINE, Cluster
from ganeti.htools.types import Mirror

STANDBY_PREFIX = "htools:standby:"
STANDBY_AUTO_TAG = "htools:standby:auto"


@attrs.frozen
class SqueezeOptions:
    minimal_resources: float = 2.0
    target_resources: float = 2.0


@attrs.define
class SqueezePlan:
    action: str  # "offline", "online" or "none"
    offline_candidates: list[int]
    online_candidates: list[int]
    nodes: list[int]  # nodes to put offline / online, in output order
    steps: list[Step]  # the balancing moves that go with `nodes`
    cluster: Cluster  # the cluster after the plan
    enough_capacity: bool = True  # False: onlining everything is not enough


def spec_instance(c: Cluster, factor: float, name: str) -> al.AllocSpec:
    """An externally mirrored instance of `factor` times the standard spec."""
    std = c.ipolicy.std
    return al.AllocSpec(
        name=name,
        mem=math.floor(factor * std.mem),
        dsk=0,
        vcpus=math.floor(factor * std.cpu),
        template="ext",
        spindle_use=math.floor(factor * std.spindle_use),
    )


def all_nodes_can_host(c: Cluster, spec: al.AllocSpec) -> bool:
    """Every online node can take `spec` as a new primary (no policy checks)."""
    nodes = np.flatnonzero(c.online_mask)
    if not len(nodes):
        return True
    ib = al.inst_block(c, spec, 1)
    reasons = al.pri_reasons(c.dyn[:, nodes], c.stat[:, nodes], ib, np.zeros(len(nodes), bool))
    return bool(np.all(reasons == al.OK))


def all_instances_online(c: Cluster) -> bool:
    return not bool(np.any(c.offline[c.pnode])) if c.n_instances else True


def offline_candidates(c: Cluster) -> list[int]:
    cands = []
    for n in range(c.n_nodes):
        if c.offline[n] or c.node_master[n] or c.secondaries(n):
            continue
        if all(c.i_mirror[i] == Mirror.EXTERNAL for i in c.primaries(n)):
            cands.append(n)
    return sorted(cands, key=lambda n: -len(c.primaries(n)))


def online_candidates(c: Cluster) -> list[int]:
    return [
        n
        for n in range(c.n_nodes)
        if c.offline[n] and any(t.startswith(STANDBY_PREFIX) for t in c.node_tags[n])
    ]


def balance_options() -> BalanceOptions:
    return BalanceOptions(min_score=-math.inf, min_gain=0.0, min_gain_limit=0.0)


def with_status(
    c: Cluster, offline: Sequence[int] = (), online: Sequence[int] = ()
) -> tuple[Cluster, list[Step]]:
    """A copy of `c` with the given nodes set offline/online, then balanced."""
    new = c.copy()
    for n in offline:
        new.stat[S_OFFLINE, n] = 1.0
    for n in online:
        new.stat[S_OFFLINE, n] = 0.0
    new.set_offline([])  # refresh the derived (location) state
    nodes = np.arange(new.n_nodes, dtype=np.int64)
    insts = np.arange(new.n_instances, dtype=np.int64)
    steps = Balancer(new, nodes, insts, balance_options()).run()
    return new, steps


def greedy_offline(c: Cluster, cands: list[int], target: al.AllocSpec) -> list[int]:
    """Nodes of `cands` that can go offline together, least loaded (last) first."""
    chosen: list[int] = []
    for n in reversed(cands):
        trial = [n, *chosen]
        new, _steps = with_status(c, offline=trial)
        if all_instances_online(new) and all_nodes_can_host(new, target):
            chosen = trial
    return chosen


def plan(c: Cluster, opts: SqueezeOptions) -> SqueezePlan:
    off_c = offline_candidates(c)
    on_c = online_candidates(c)
    minimal = spec_instance(c, opts.minimal_resources, "minimalInstance")
    target = spec_instance(c, opts.target_resources, "targetInstance")
    if not all_nodes_can_host(c, minimal):
        for k in range(1, len(on_c) + 1):
            new, steps = with_status(c, online=on_c[:k])
            if all_nodes_can_host(new, target):
                return SqueezePlan("online", off_c, on_c, on_c[:k], steps, new)
        new, steps = with_status(c, online=on_c)
        return SqueezePlan("online", off_c, on_c, list(on_c), steps, new, enough_capacity=False)
    chosen = greedy_offline(c, off_c, target)
    if not chosen:
        return SqueezePlan("none", off_c, on_c, [], [], c)
    new, steps = with_status(c, offline=chosen)
    return SqueezePlan("offline", off_c, on_c, chosen, steps, new)
