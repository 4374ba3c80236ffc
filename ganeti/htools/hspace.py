"""hspace: how many more instances fit (standard and tiered allocation).

Pure logic, no I/O: `run_hspace(cluster, HspaceOptions())` returns an
`HspaceResult` with the initial, tiered and standard states; the
`ganeti.htools.cli.hspace` front end formats it (``HTS_*`` keys or the
human-readable report).

Like the reference (Program/Hspace.hs):

* every allocation considers all online nodes of the allocable groups at
  once (pairs only inside one group) and scores the whole cluster
  (`alloc.try_alloc`);
* with capacity checks a guessed batch is first allocated without the
  global N+1 check and kept if the result is redundant, otherwise the
  allocation restarts one by one with the check (pairs are never checked
  per allocation);
* tiered allocation shrinks the resource that failed most (memory 64 MiB,
  disk 256 MiB, 1 vcpu, 1 spindle) and walks through every ipolicy max spec;
* groups that are not evacuable initially ("bad groups") stop everything
  (reason FailN1) unless ``--independent-groups`` (then they are left out)
  or ``--accept-existing-errors``.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from ganeti.htools import alloc as al
from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.model import Cluster, IArray
from ganeti.htools.types import AllocPolicy, HToolsError

UNIT_MEM = 64
UNIT_DSK = 256
UNIT_CPU = 1
UNIT_SPN = 1


@attrs.frozen
class RSpec:
    """A resource spec: memory, disk, vcpus, spindles."""

    mem: int
    dsk: int
    cpu: int
    spn: int

    def short(self, excl: bool) -> str:
        text = f"MEM {self.mem}, DSK {self.dsk}, CPU {self.cpu}"
        return text + (f", SPN {self.spn}" if excl else "")


@attrs.frozen
class HspaceOptions:
    disk_template: str | None = None
    tiered_spec: RSpec | None = None
    std_spec: RSpec | None = None
    limit: int | None = None
    capacity_checks: bool = True
    independent_groups: bool = False
    accept_existing: bool = False
    spindle_use: int | None = None
    ignore_soft_errors: bool = False


@attrs.frozen
class CStats:
    """Cluster totals (the reference's CStats)."""

    f_mem: int
    f_dsk: int
    f_spn: int
    a_mem: int
    a_dsk: int
    m_mem: int
    m_dsk: int
    i_mem: int
    i_dsk: int
    i_spn: int
    i_cpu: int
    t_mem: float
    t_dsk: float
    t_spn: float
    t_cpu: float
    vcpu: int
    n_cpu: float
    x_mem: int
    n_mem: int
    score: float
    n_inst: int


@attrs.define
class AllocRun:
    """Result of one allocation mode."""

    cluster: Cluster
    specs: list[RSpec]  # spec of each new instance, in allocation order
    reasons: list[tuple[int, int]]  # (Fail, count) sorted like the reference
    touched: frozenset[int] = frozenset()  # nodes that received a new instance

    def spec_map(self) -> list[tuple[RSpec, int]]:
        out: list[tuple[RSpec, int]] = []
        for s in self.specs:
            if out and out[-1][0] == s:
                out[-1] = (s, out[-1][1] + 1)
            else:
                out.append((s, 1))
        return out


@attrs.define
class HspaceResult:
    initial: Cluster
    disk_template: str
    req_nodes: int
    tiered_spec: RSpec
    std_spec: RSpec
    tiered: AllocRun
    standard: AllocRun
    bad_groups: list[int]
    alloc_nodes: list[int]


def required_nodes(template: str) -> int:
    return 2 if template == "drbd" else 1


def total_resources(c: Cluster, touched: frozenset[int] = frozenset()) -> CStats:
    """Totals over every node of the cluster (offline ones included).

    `touched`: nodes that received new instances; like the reference their
    free spindles drop to 0 unless they use exclusive storage.
    """
    st, dy = c.stat, c.dyn
    t_mem = st[m.S_T_MEM]
    u_mem = dy[m.D_U_MEM]
    r_mem = dy[m.D_R_MEM]
    a_mem = np.maximum(0.0, u_mem - r_mem)
    a_dsk = np.maximum(0.0, dy[m.D_F_DSK] - st[m.S_LO_DSK])
    hi_cpu = np.floor(st[m.S_VCPU_RATIO] * st[m.S_T_CPU])
    x_mem = c.node_x_mem.astype(float)
    i_mem = np.trunc(t_mem) - st[m.S_N_MEM] - x_mem - u_mem
    f_spn = dy[m.D_F_SP].copy()
    for k in touched:
        if not st[m.S_EXCL, k]:
            f_spn[k] = 0.0
    n = c.n_nodes

    def fsum(x: np.ndarray) -> float:
        acc = 0.0
        for v in x:
            acc += float(v)
        return acc

    n_cpu = 0.0
    for k in range(n):
        n_cpu += float(dy[m.D_U_CPU, k]) / float(st[m.S_VCPU_RATIO, k])
    return CStats(
        f_mem=int(u_mem.sum()),
        f_dsk=int(dy[m.D_F_DSK].sum()),
        f_spn=int(f_spn.sum()),
        a_mem=int(a_mem.sum()),
        a_dsk=int(a_dsk.sum()),
        m_mem=int(a_mem.max()) if n else 0,
        m_dsk=int(a_dsk.max()) if n else 0,
        i_mem=int(i_mem.sum()),
        i_dsk=int((np.trunc(st[m.S_T_DSK]) - dy[m.D_F_DSK]).sum()),
        i_spn=int((st[m.S_T_SP] - f_spn).sum()),
        i_cpu=int(dy[m.D_U_CPU].sum()),
        t_mem=fsum(t_mem),
        t_dsk=fsum(st[m.S_T_DSK]),
        t_spn=fsum(st[m.S_T_SP]),
        t_cpu=fsum(st[m.S_T_CPU]),
        vcpu=int(hi_cpu.sum()),
        n_cpu=n_cpu,
        x_mem=int(x_mem.sum()),
        n_mem=int(st[m.S_N_MEM].sum()),
        score=sc.cluster_score(c, np.arange(n)),
        n_inst=int(dy[m.D_N_PRI].sum()) + int(np.count_nonzero(c.i_forth)),
    )


def have_excl_storage(c: Cluster) -> bool:
    return bool((c.stat[m.S_EXCL] > 0).any())


def all_excl_storage(c: Cluster) -> bool:
    return c.n_nodes > 0 and bool((c.stat[m.S_EXCL] > 0).all())


def shrink(spec: RSpec, fail: int) -> RSpec | None:
    """The reference's shrinkByType (None: cannot shrink for this reason)."""
    if fail == al.Fail.MEM:
        v = spec.mem - UNIT_MEM
        return None if v < UNIT_MEM else attrs.evolve(spec, mem=v)
    if fail == al.Fail.DISK:
        v = spec.dsk - UNIT_DSK
        return None if v < UNIT_DSK else attrs.evolve(spec, dsk=v)
    if fail == al.Fail.CPU:
        v = spec.cpu - UNIT_CPU
        return None if v < UNIT_CPU else attrs.evolve(spec, cpu=v)
    if fail == al.Fail.SPINDLES:
        v = spec.spn - UNIT_SPN
        return None if v < UNIT_SPN else attrs.evolve(spec, spn=v)
    return None


def sort_reasons(fails: Sequence[int]) -> list[tuple[int, int]]:
    """(mode, count), most frequent first, ties in FailMode order."""
    pairs = list(enumerate(fails))
    return sorted(pairs, key=lambda p: -p[1])


class _Allocator:
    """Allocation of copies of one spec on a fixed set of candidate nodes."""

    def __init__(
        self,
        template: str,
        su: int,
        cand: IArray,
        groups: IArray,
        cap_nodes: IArray | None,
        opts: HspaceOptions,
    ) -> None:
        self.template = template
        self.su = su
        self.cand = cand
        self.groups = groups
        self.cap_nodes = cap_nodes
        self.opts = opts
        self.req = required_nodes(template)
        self._memo: dict[tuple[int, RSpec], tuple[Cluster, al.AllocSolution]] = {}

    def spec_for(self, rs: RSpec, name: str) -> al.AllocSpec:
        return al.AllocSpec(
            name=name,
            mem=rs.mem,
            dsk=rs.dsk,
            vcpus=rs.cpu,
            template=self.template,
            disks=[rs.dsk],
            spindle_use=self.su,
            disk_spindles=rs.spn,
            required_nodes=self.req,
        )

    def try_one(self, c: Cluster, rs: RSpec, name: str, check: bool) -> al.AllocSolution:
        if len(self.cand) == 0:
            raise HToolsError("failure during allocation: No online nodes")
        spec = self.spec_for(rs, name)
        cap = self.cap_nodes if (check and self.req == 1) else None
        return al.try_alloc(
            c,
            spec,
            self.cand,
            np.arange(c.n_nodes),
            al.AllocOptions(ignore_soft_errors=self.opts.ignore_soft_errors),
            cap_nodes=cap,
            pairs_within=self.groups[self.cand] if self.req == 2 else None,
            cap_include_offline=not self.opts.accept_existing,
        )

    def small_steps(
        self,
        c: Cluster,
        rs: RSpec,
        limit: int | None,
        done: list[RSpec],
        check: bool,
    ) -> tuple[list[int], Cluster, list[RSpec]]:
        """iterateAllocSmallStep: one instance at a time until failure/limit."""
        new = list(done)
        while True:
            sol = self.try_one(c, rs, f"new-{len(new)}", check)
            if sol.nodes is None or limit == 0:
                return sol.fails, c, new
            p = sol.nodes[0]
            s = sol.nodes[1] if len(sol.nodes) > 1 else -1
            c = al.place(c, self.spec_for(rs, f"new-{len(new)}"), p, s)
            new.append(rs)
            if limit is not None:
                limit -= 1

    def try_cached(self, c: Cluster, rs: RSpec) -> al.AllocSolution:
        key = (id(c), rs)
        got = self._memo.get(key)
        if got is None or got[0] is not c:
            sol = self.try_one(c, rs, "new", self.opts.capacity_checks)
            self._memo[key] = (c, sol)
            return sol
        return got[1]

    def redundant(self, c: Cluster) -> bool:
        if self.cap_nodes is None:
            return True
        return al.globally_redundant(
            c, self.cap_nodes, include_offline=not self.opts.accept_existing
        )

    def iterate(
        self, c: Cluster, rs: RSpec, limit: int | None, done: list[RSpec]
    ) -> tuple[list[int], Cluster, list[RSpec]]:
        """iterateAlloc: batches without the global check, verified after."""
        if not self.opts.capacity_checks or self.cap_nodes is None:
            return self.small_steps(c, rs, limit, done, False)
        while True:
            step = guess_bigstep(c, rs)
            if limit is None:
                lim1, newlimit = step, None
            else:
                lim1, newlimit = min(step, limit), max(0, limit - step)
            fails, c2, new = self.small_steps(c, rs, lim1, done, False)
            if self.redundant(c2):
                if newlimit == 0 or len(new) == len(done):
                    return fails, c2, new
                c, limit, done = c2, newlimit, new
                continue
            return self.small_steps(c, rs, limit, done, True)


def guess_bigstep(c: Cluster, rs: RSpec) -> int:
    avail = np.maximum(0.0, c.dyn[m.D_U_MEM] - c.dyn[m.D_R_MEM])
    total = int(avail.sum())
    cap = total // rs.mem if rs.mem > 0 else total
    guess = cap - c.n_nodes
    return max(20, guess)


def _suffices_shrinking(a: _Allocator, c: Cluster, rs: RSpec, fail: int) -> RSpec | None:
    """First shrunk spec (by `fail`) that fits, while `fail` keeps failing."""
    cur: RSpec | None = rs
    while cur is not None:
        sol = a.try_cached(c, cur)
        if sol.nodes is not None:
            return cur
        if sol.fails[fail] == 0:
            return None
        cur = shrink(cur, fail)
    return None


Outcome = tuple[list[int], Cluster, list[RSpec]]


def _ascending(errs: Sequence[int]) -> list[int]:
    return [k for k, _ in sorted(enumerate(errs), key=lambda p: p[1])]


def tiered_alloc(a: _Allocator, c: Cluster, specs: list[RSpec], limit: int | None) -> Outcome:
    """The reference's tieredAlloc."""
    return _tiered(a, c, specs, limit, [])


def _tiered(
    a: _Allocator, c: Cluster, specs: list[RSpec], limit: int | None, done: list[RSpec]
) -> Outcome:
    if not specs:
        return [0] * len(al.FAIL_NAMES), c, done
    errs, c2, new = a.iterate(c, specs[0], limit, done)
    return _level(a, c2, specs[0], errs, specs[1:], limit, new)


def _level(
    a: _Allocator,
    c2: Cluster,
    rs: RSpec,
    errs: list[int],
    rest: list[RSpec],
    limit: int | None,
    new: list[RSpec],
) -> Outcome:
    """One tieredAlloc level after its iterateAlloc, with the chain of
    "shrink and retry" levels that allocate nothing unrolled into a loop
    (the cluster state is the same along that chain)."""
    levels: list[tuple[RSpec, list[int], int | None]] = []
    cur_rs, cur_errs, cur_limit = rs, errs, limit
    total = len(new)
    while True:
        if cur_limit is not None and cur_limit <= total:
            if not levels:
                return cur_errs, c2, new
            break
        nl = None if cur_limit is None else cur_limit - total
        levels.append((cur_rs, cur_errs, nl))
        shrunk = shrink(cur_rs, _ascending(cur_errs)[-1])
        if shrunk is None:
            break
        e2, c3, n3 = a.iterate(c2, shrunk, nl, new)
        if len(n3) > total:
            return _level(a, c3, shrunk, e2, rest, nl, n3)
        cur_rs, cur_errs, cur_limit = shrunk, e2, nl
    rest_memo: dict[int | None, Outcome] = {}
    for idx in reversed(range(len(levels))):
        lrs, lerrs, nl = levels[idx]
        res: Outcome | None = None
        for fail in reversed(_ascending(lerrs)):
            got = _suffices_shrinking(a, c2, lrs, fail)
            if got is not None:
                res = _tiered(a, c2, [got, *rest], nl, new)
                break
        if res is None:
            if rest:
                if nl not in rest_memo:
                    rest_memo[nl] = _tiered(a, c2, rest, nl, new)
                res = rest_memo[nl]
            else:
                res = (lerrs, c2, new)
        if len(res[2]) > total or idx == 0:
            return res
    raise AssertionError("unreachable")


def _touched(c: Cluster, first: int) -> frozenset[int]:
    nodes = {int(x) for x in c.pnode[first:]} | {int(x) for x in c.snode[first:] if x >= 0}
    return frozenset(nodes)


def group_evacuable(c: Cluster, g: int, accept_existing: bool) -> bool:
    nodes = c.group_nodes(g)
    return al.globally_redundant(c, nodes, include_offline=not accept_existing)


def run_hspace(c: Cluster, opts: HspaceOptions) -> HspaceResult:
    """Both allocation modes from the same initial state `c` (not modified)."""
    pol = c.ipolicy
    if not pol.disk_templates:
        raise HToolsError("null list of disk templates received from cluster")
    template = opts.disk_template or pol.disk_templates[0]
    req = required_nodes(template)
    su = opts.spindle_use if opts.spindle_use is not None else pol.std.spindle_use
    if opts.tiered_spec is not None:
        tspecs = [opts.tiered_spec]
    else:
        if not pol.minmax:
            raise HToolsError("Empty list of specs received from the cluster")
        tspecs = [
            RSpec(mm.max.mem, mm.max.disk_size, mm.max.cpu, mm.max.spindle_use) for mm in pol.minmax
        ]
    std = opts.std_spec or RSpec(pol.std.mem, pol.std.disk_size, pol.std.cpu, pol.std.spindle_use)

    online = c.online_mask
    fail_n1 = (c.dyn[m.D_FAIL_N1] > 0) & online
    bad = [
        g
        for g in range(len(c.groups))
        if len(c.group_nodes(g))
        and (
            bool(fail_n1[c.group_nodes(g)].any()) or not group_evacuable(c, g, opts.accept_existing)
        )
    ]
    excluded = set(bad) if opts.independent_groups else set()
    kept = np.array([int(c.node_group[n]) not in excluded for n in range(c.n_nodes)], bool)
    alloc_nodes = [
        n
        for n in range(c.n_nodes)
        if online[n]
        and c.groups[int(c.node_group[n])].alloc_policy != AllocPolicy.UNALLOCABLE
        and kept[n]
    ]
    stop = not opts.accept_existing and (
        bool((fail_n1 & kept).any()) or (opts.independent_groups and not alloc_nodes)
    )
    cap_nodes: IArray | None = None
    if opts.capacity_checks:
        cap_nodes = np.flatnonzero(kept)
    cand = np.array(alloc_nodes, np.int64)
    if req == 2:
        ok = [
            n
            for n in alloc_nodes
            if any(x != n and c.node_group[x] == c.node_group[n] for x in alloc_nodes)
        ]
        cand = np.array(ok, np.int64)
    a = _Allocator(template, su, cand, c.node_group, cap_nodes, opts)

    if stop:
        tiered = AllocRun(c, [], [(int(al.Fail.N1), 1)])
        standard = AllocRun(c, [], [(int(al.Fail.N1), 1)])
    else:
        if len(alloc_nodes) == 0:
            raise HToolsError("failure during allocation: No online nodes")
        terrs, tc, tnew = tiered_alloc(a, c, tspecs, opts.limit)
        tiered = AllocRun(tc, tnew, sort_reasons(terrs), _touched(tc, c.n_instances))
        serrs, sc_, snew = a.iterate(c, std, opts.limit, [])
        standard = AllocRun(sc_, snew, sort_reasons(serrs), _touched(sc_, c.n_instances))
    return HspaceResult(
        initial=c,
        disk_template=template,
        req_nodes=req,
        tiered_spec=tspecs[0],
        std_spec=std,
        tiered=tiered,
        standard=standard,
        bad_groups=bad,
        alloc_nodes=alloc_nodes,
    )
