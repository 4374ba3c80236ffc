"""hinfo: cluster, group, node and instance summaries (pure logic).

`summarize(cluster)` returns the per-group N+1 statistics and scores and
the cluster-wide metric values; `report_lines` renders hinfo's stdout.
"""

from __future__ import annotations

import attrs
import numpy as np

from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.model import Cluster
from ganeti.htools.output import format_table


@attrs.frozen
class GroupInfo:
    name: str
    nodes: int
    instances: int
    bad_nodes: int
    bad_instances: int
    score: float

    @property
    def n1_ok(self) -> bool:
        return self.bad_nodes == 0


@attrs.frozen
class ClusterInfo:
    groups: list[GroupInfo]
    metrics: list[float]
    score: float

    @property
    def n1_ok(self) -> bool:
        return all(g.n1_ok for g in self.groups)


def bad_items(c: Cluster, nodes: np.ndarray) -> tuple[int, int]:
    """Online nodes failing N+1 and the (non-forthcoming) instances on them."""
    online = nodes[c.online_mask[nodes]]
    bad = online[c.dyn[m.D_FAIL_N1, online] > 0]
    if not len(bad):
        return 0, 0
    on_bad = (np.isin(c.pnode, bad) | np.isin(c.snode, bad)) & ~c.i_forth
    return len(bad), int(np.count_nonzero(on_bad))


def group_info(c: Cluster, g: int) -> GroupInfo:
    nodes = c.group_nodes(g)
    bn, bi = bad_items(c, nodes)
    return GroupInfo(
        c.groups[g].name,
        len(nodes),
        len(c.group_instances(g)),
        bn,
        bi,
        sc.cluster_score(c, nodes),
    )


def summarize(c: Cluster) -> ClusterInfo:
    groups = [group_info(c, g) for g in range(len(c.groups)) if len(c.group_nodes(g))]
    all_nodes = np.arange(c.n_nodes, dtype=np.int64)
    metrics = sc.detailed_score(c, all_nodes)
    return ClusterInfo(groups, metrics, float(sc.total_score(np.array(metrics))))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def group_table(groups: list[GroupInfo]) -> list[str]:
    header = ["Group", "Nodes", "Instances", "Bad_Nodes", "Bad_Instances", "N+1", "Score"]
    rows = [
        [
            g.name,
            str(g.nodes),
            str(g.instances),
            str(g.bad_nodes),
            str(g.bad_instances),
            str(g.n1_ok),
            f"{g.score:.8f}",
        ]
        for g in groups
    ]
    numeric = [False, True, True, True, True, False, True]
    return ["  " + line for line in format_table(header, rows, numeric)]


def report_lines(c: Cluster, info: ClusterInfo, verbose: int) -> tuple[list[str], list[str]]:
    """(stdout lines before the node/instance tables, stdout lines after them)."""
    head = ["Loaded cluster tags: " + ",".join(c.cluster_tags)]
    if verbose > 1:
        head.append("Loaded cluster ipolicy: " + c.ipolicy.haskell_show())
    head.append(
        "Loaded "
        + ", ".join(
            (
                _plural(c.n_nodes, "node", "nodes"),
                _plural(c.n_instances, "instance", "instances"),
                _plural(len(c.groups), "node group", "node groups"),
            )
        )
    )
    if c.suffix and verbose > 1:
        head.append(f"Note: Stripping common suffix of '{c.suffix}' from names")
    if c.split_instances:
        head.append("Found instances belonging to multiple node groups:")
    elif verbose > 1:
        head.append("No split instances found")
    if verbose > 1 and info.groups:
        head.append("Node group information:")
        head += group_table(info.groups)
    if info.n1_ok:
        head.append("Cluster is N+1 happy")
    else:
        head.append("Cluster is not N+1 happy")
    tail = ["Cluster coefficients:", *sc.format_metrics(info.metrics)]
    tail.append(f"Cluster score: {info.score:.8f}")
    return head, tail
