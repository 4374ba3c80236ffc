"""hroller: groups of nodes that can be rebooted at the same time.

Pure logic: `reboot_groups(cluster, HrollerOptions())` returns the ordered
reboot groups (node indices) and, per group, the instance moves needed
(``--print-moves``).  Following the reference (Program/Hroller.hs):

1. nodes = online nodes, filtered by ``--skip-non-redundant``,
   ``--node-tags`` and ``-G``;
2. conflict graph: an edge primary-secondary per DRBD instance; unless
   ``--offline-maintenance`` also an edge between any two primaries of
   instances sharing a secondary node;
3. three greedy colourings (LF, DSATUR, DCOLOR), the one with the fewest
   colours wins (ties: LF, then DSATUR);
4. unless ``--ignore-non-redundant`` every colour class is split so that
   the non-redundant instances of its nodes fit on the other online nodes
   of their group; ``--full-evacuation`` also moves DRBD primaries and
   secondaries away;
5. groups sorted by size (largest first), the master's group last with
   the master last in it.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import numpy as np

from ganeti.htools import model as m
from ganeti.htools.model import Cluster
from ganeti.htools.types import HToolsError, Mirror


@attrs.frozen
class HrollerOptions:
    node_tags: tuple[str, ...] | None = None
    offline_maintenance: bool = False
    ignore_non_redundant: bool = False
    skip_non_redundant: bool = False
    full_evacuation: bool = False
    force: bool = False
    group: str | None = None


@attrs.define
class RebootPlan:
    groups: list[list[int]]
    moves: list[list[tuple[int, int, int]]]  # per group: (instance, new pri, new sec)
    warnings: list[str]


Graph = dict[int, set[int]]


def _non_redundant(c: Cluster, i: int) -> bool:
    return c.i_mirror[i] != Mirror.INTERNAL


def build_graph(c: Cluster, nodes: list[int], offline_maintenance: bool) -> Graph:
    sel = set(nodes)
    lo, hi = min(nodes), max(nodes)
    g: Graph = {v: set() for v in range(lo, hi + 1)}

    def edge(a: int, b: int) -> None:
        if a in sel and b in sel:
            g[a].add(b)
            g[b].add(a)

    for i in range(c.n_instances):
        if c.i_mirror[i] == Mirror.INTERNAL and c.snode[i] >= 0 and c.snode[i] != c.pnode[i]:
            edge(int(c.pnode[i]), int(c.snode[i]))
    if not offline_maintenance:
        by_sec: dict[int, list[int]] = {}
        for i in range(c.n_instances):
            s = int(c.snode[i])
            if s >= 0:
                by_sec.setdefault(s, []).append(int(c.pnode[i]))
        for prims in by_sec.values():
            for a in prims:
                for b in prims:
                    edge(a, b)
    return g


def _greedy(g: Graph, order: list[int]) -> dict[int, int]:
    col: dict[int, int] = {}
    for v in order:
        used = {col[u] for u in g[v] if u in col}
        k = 0
        while k in used:
            k += 1
        col[v] = k
    return col


def colour_lf(g: Graph) -> dict[int, int]:
    order = sorted(g, key=lambda v: (-len(g[v]), -v))
    return _greedy(g, order)


def _dynamic(g: Graph, key: Callable[[int, dict[int, int]], tuple[int, int]]) -> dict[int, int]:
    col: dict[int, int] = {}
    left = set(g)
    while left:
        v = max(left, key=lambda x: (*key(x, col), x))
        used = {col[u] for u in g[v] if u in col}
        k = 0
        while k in used:
            k += 1
        col[v] = k
        left.remove(v)
    return col


def colour_dsatur(g: Graph) -> dict[int, int]:
    return _dynamic(g, lambda v, col: (len({col[u] for u in g[v] if u in col}), len(g[v])))


def colour_dcolor(g: Graph) -> dict[int, int]:
    return _dynamic(g, lambda v, col: (len([u for u in g[v] if u in col]), len(g[v])))


def best_colouring(g: Graph) -> dict[int, int]:
    best: dict[int, int] | None = None
    for fn in (colour_lf, colour_dsatur, colour_dcolor):
        col = fn(g)
        n = len(set(col.values()))
        if best is None or n < len(set(best.values())):
            best = col
    assert best is not None
    return best


class _Capacity:
    """Free memory/disk of nodes while instances are moved (forced adds)."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.mem = c.dyn[m.D_U_MEM].copy()
        self.dsk = c.dyn[m.D_F_DSK].copy()

    def fits(self, t: int, i: int, as_sec: bool) -> bool:
        c = self.c
        need = 0.0 if as_sec else (float(c.i_mem[i]) if c.i_uses_mem[i] else 0.0)
        dsk = float(c.i_dsk[i]) if c.i_local[i] else 0.0
        return self.mem[t] - need > 0 and (dsk == 0 or self.dsk[t] - dsk > 0)

    def take(self, t: int, i: int, as_sec: bool) -> None:
        c = self.c
        if not as_sec and c.i_uses_mem[i]:
            self.mem[t] -= float(c.i_mem[i])
        if c.i_local[i]:
            self.dsk[t] -= float(c.i_dsk[i])


def _clear_node(
    c: Cluster, cap: _Capacity, n: int, targets: list[int]
) -> list[tuple[int, int, int]] | None:
    """Moves that take the non-redundant instances off node n (None: not possible)."""
    moves: list[tuple[int, int, int]] = []
    prim = [int(i) for i in np.flatnonzero(c.pnode == n)]
    for i in prim:
        if _non_redundant(c, i):
            t = next((t for t in targets if cap.fits(t, i, False)), None)
            if t is None:
                return None
            cap.take(t, i, False)
            moves.append((i, t, -1))
    return moves


def _full_clear(c: Cluster, chunk: list[int]) -> list[tuple[int, int, int]] | None:
    """Evacuate every node of `chunk` from the original placement (None: impossible).

    Per node (in chunk order), with the online nodes of its group outside
    the chunk as targets (first fitting by index, forced adds): move the
    non-redundant primaries away, migrate the DRBD primaries to their
    secondaries, then replace the node as secondary (most recently added
    secondary first, like the reference's node secondary lists).  Returns
    the changed placements ``(instance, primary, secondary)`` by index.
    """
    cap = _Capacity(c)
    pnode = c.pnode.copy()
    snode = c.snode.copy()
    online = c.online_mask
    in_chunk = set(chunk)
    for n in chunk:
        g = int(c.node_group[n])
        targets = [
            t
            for t in range(c.n_nodes)
            if online[t] and int(c.node_group[t]) == g and t not in in_chunk
        ]
        prim = [int(i) for i in np.flatnonzero(pnode == n)]
        for i in prim:
            if not _non_redundant(c, i):
                continue
            t = next((t for t in targets if cap.fits(t, i, False)), None)
            if t is None:
                return None
            cap.take(t, i, False)
            pnode[i] = t
        secs = [int(i) for i in np.flatnonzero(snode == n)][::-1]
        for i in reversed(prim):
            if _non_redundant(c, i) or snode[i] < 0:
                continue
            sec = int(snode[i])
            need = float(c.i_mem[i]) if c.i_uses_mem[i] else 0.0
            if cap.mem[sec] - need <= 0:
                return None
            cap.mem[sec] -= need
            cap.mem[n] += need
            pnode[i], snode[i] = sec, n
            secs.insert(0, i)
        for i in secs:
            p = int(pnode[i])
            t = next((t for t in targets if t != p and cap.fits(t, i, True)), None)
            if t is None:
                return None
            cap.take(t, i, True)
            if c.i_local[i]:
                cap.dsk[n] += float(c.i_dsk[i])
            snode[i] = t
    changed = np.flatnonzero((pnode != c.pnode) | (snode != c.snode))
    return [(int(i), int(pnode[i]), int(snode[i])) for i in changed]


def _split_full(
    c: Cluster, cls: list[int]
) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
    """Chunks of `cls` that can be fully evacuated together (greedy, in order)."""
    chunks: list[list[int]] = []
    chunk_moves: list[list[tuple[int, int, int]]] = []
    todo = list(cls)
    while todo:
        got: list[int] = []
        moves: list[tuple[int, int, int]] = []
        for n in todo:
            mv = _full_clear(c, [*got, n])
            if mv is not None:
                got.append(n)
                moves = mv
        if not got:
            raise HToolsError("Not enough capacity to move secondaries")
        chunks.append(got)
        chunk_moves.append(moves)
        todo = [n for n in todo if n not in got]
    return chunks, chunk_moves


def _split(c: Cluster, cls: list[int]) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
    chunks: list[list[int]] = []
    chunk_moves: list[list[tuple[int, int, int]]] = []
    todo = list(cls)
    online = c.online_mask
    while todo:
        cap = _Capacity(c)
        got: list[int] = []
        moves: list[tuple[int, int, int]] = []
        for n in todo:
            g = int(c.node_group[n])
            targets = [
                t
                for t in range(c.n_nodes)
                if online[t] and int(c.node_group[t]) == g and t != n and t not in got
            ]
            saved = (cap.mem.copy(), cap.dsk.copy())
            mv = _clear_node(c, cap, n, targets)
            if mv is None:
                cap.mem, cap.dsk = saved
                continue
            got.append(n)
            moves += mv
        if not got:
            raise HToolsError("Not enough capacity to move non-redundant instances")
        chunks.append(got)
        chunk_moves.append(moves)
        todo = [n for n in todo if n not in got]
    return chunks, chunk_moves


def reboot_groups(c: Cluster, opts: HrollerOptions) -> RebootPlan:
    warnings: list[str] = []
    masters = [n for n in range(c.n_nodes) if c.node_master[n]]
    if len(masters) > 1:
        names = ",".join(f'"{c.node_names[n]}"' for n in masters)
        raise HToolsError(f"Found more than one master node: [{names}]")
    if not masters:
        msg = "No master node found (maybe not supported by backend)."
        if not opts.force:
            raise HToolsError(msg)
        warnings.append("Warning: " + msg)
    master = masters[0] if masters else -1
    online = c.online_mask
    nodes = [n for n in range(c.n_nodes) if online[n]]
    if opts.skip_non_redundant:
        nodes = [
            n
            for n in nodes
            if not any(_non_redundant(c, int(i)) for i in np.flatnonzero(c.pnode == n))
        ]
    if opts.node_tags is not None:
        want = set(opts.node_tags)
        nodes = [n for n in nodes if want & set(c.node_tags[n])]
    if opts.group is not None:
        try:
            g = c.group_index(opts.group)
        except KeyError:
            raise HToolsError(f"Unknown group: {opts.group}") from None
        nodes = [n for n in nodes if int(c.node_group[n]) == g]
    if not nodes:
        raise HToolsError("Cannot create node graph")
    graph = build_graph(c, nodes, opts.offline_maintenance)
    col = best_colouring(graph)
    sel = set(nodes)
    classes: dict[int, list[int]] = {}
    for v in sorted(col):
        if v in sel:
            classes.setdefault(col[v], []).append(v)
    ordered = [classes[k] for k in sorted(classes)]
    groups: list[list[int]] = []
    moves: list[list[tuple[int, int, int]]] = []
    for cls in ordered:
        if opts.ignore_non_redundant and not opts.full_evacuation:
            groups.append(cls)
            moves.append([])
            continue
        if opts.full_evacuation:
            ch, mv = _split_full(c, cls)
        else:
            ch, mv = _split(c, cls)
        groups += ch
        moves += mv
    order = sorted(range(len(groups)), key=lambda k: -len(groups[k]))
    groups = [groups[k] for k in order]
    moves = [moves[k] for k in order]
    for k, grp in enumerate(groups):
        if master in grp:
            grp = [n for n in grp if n != master] + [master]
            mvs = moves[k]
            del groups[k], moves[k]
            groups.append(grp)
            moves.append(mvs)
            break
    return RebootPlan(groups, moves, warnings)
