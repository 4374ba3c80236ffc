"""The optimised allocation path gives the same answers as the straightforward one.

`alloc.try_alloc(..., fast=True)` (prefix-sharing exact scores, deduplicated
pair scores, lazy ordering, capacity check on a light view) against
``fast=False`` (every tied candidate scored on a full copy, K x K pair
arrays, Python sort, `place` + `globally_redundant_reference`), on random
small clusters with many identical nodes (so scores tie and tie-breaking by
position matters), plus `globally_redundant` against its reference.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools import alloc as al
from ganeti.htools import allocfast as af
from ganeti.htools import globaln1
from ganeti.htools import score as sc
from ganeti.htools.model import Cluster, Group, InstanceSpec, NodeSpec
from ganeti.htools.types import DEFAULT_MAX_SPEC, DEFAULT_MIN_SPEC, IPolicy, MinMax

NODE_TYPES = [
    (8192.0, 0, 204800.0, 8.0),
    (16384.0, 512, 409600.0, 16.0),
    (4096.0, 0, 102400.0, 4.0),
]
TEMPLATES = ["plain", "drbd", "sharedfile", "diskless", "ext", "file"]
# None: the cluster's (permissive) policy; the others make some re-creations fail
GROUP_POLICIES = [
    None,
    None,
    IPolicy(disk_templates=("plain", "drbd", "sharedfile", "ext", "diskless")),
    IPolicy(minmax=(MinMax(DEFAULT_MIN_SPEC, attrs.evolve(DEFAULT_MAX_SPEC, mem=4096)),)),
]


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    n_nodes = draw(st.integers(2, 30))
    kinds = draw(st.lists(st.integers(0, 2), min_size=1, max_size=2))
    n_groups = draw(st.integers(1, 2))
    nodes = []
    for k in range(n_nodes):
        t_mem, n_mem, t_dsk, t_cpu = NODE_TYPES[kinds[k % len(kinds)]]
        nodes.append(
            NodeSpec(
                name=f"node{k}",
                t_mem=t_mem,
                n_mem=n_mem,
                f_mem=draw(st.sampled_from([int(t_mem) - n_mem] * 3 + [1200, 2200, 3500])),
                t_dsk=t_dsk,
                f_dsk=draw(st.sampled_from([int(t_dsk)] * 3 + [0, 2000, 6000, 12000])),
                t_cpu=t_cpu,
                offline=k >= 2 and draw(st.integers(0, 9)) == 0,
                group=k % n_groups,
                tags=draw(st.sampled_from([[], [], ["loc:a"], ["loc:b"]]))
                + draw(st.sampled_from([[], [], [], ["hv:x"], ["hv:y"]])),
            )
        )
    insts = []
    for k in range(draw(st.integers(0, 16))):
        tmpl = draw(st.sampled_from(TEMPLATES))
        p = draw(st.integers(0, n_nodes - 1))
        s = -1
        if tmpl == "drbd":
            s = draw(st.integers(0, n_nodes - 2))
            s = s + 1 if s >= p else s
        insts.append(
            InstanceSpec(
                name=f"inst{k}",
                mem=draw(st.sampled_from([128, 512, 1024, 3000, 5000])),
                dsk=draw(st.sampled_from([1024, 5000, 10240])),
                vcpus=draw(st.integers(1, 4)),
                status=draw(st.sampled_from(["running", "running", "ADMIN_down"])),
                auto_balance=draw(st.booleans()),
                pnode=p,
                snode=s,
                template=tmpl,
                tags=draw(st.sampled_from([[], ["svc:web"], ["svc:db"]])),
                forthcoming=draw(st.integers(0, 9)) == 0,
            )
        )
    tags = ["htools:iextags:svc", "htools:nlocation:loc"]
    if draw(st.booleans()):
        allow = draw(st.sampled_from([[], ["htools:allowmigration:hv:x::hv:y"]]))
        tags += ["htools:migration:hv", *allow]
    groups = [
        Group(f"g{g}", f"uuid-{g}", ipolicy=draw(st.sampled_from(GROUP_POLICIES)))
        for g in range(n_groups)
    ]
    return Cluster.build(groups, nodes, insts, tags, IPolicy(), n1_rule="head")


specs = st.builds(
    lambda mem, dsk, cpu, tmpl, tags, k: al.AllocSpec(
        name=f"new{k}",
        mem=mem,
        dsk=dsk,
        vcpus=cpu,
        template=tmpl,
        disks=[dsk],
        tags=tags,
        required_nodes=2 if tmpl == "drbd" else 1,
    ),
    st.sampled_from([128, 1024, 2048, 6000]),
    st.sampled_from([1024, 10240, 150000]),
    st.integers(1, 4),
    st.sampled_from(["plain", "drbd", "sharedfile", "ext", "diskless"]),
    st.sampled_from([[], ["svc:web"]]),
    st.integers(0, 999),
)


class _Undecided(Exception):
    pass


def _undecided(node_list: list[int], n: int) -> bool:
    raise _Undecided


def _same_score(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class FastEqualsStraightforward(SynchronousTestCase):
    def setUp(self) -> None:
        # exercise the prefix-sharing scorer on small clusters too
        self._min = af.FOLD_MIN_CANDIDATES
        af.FOLD_MIN_CANDIDATES = 1

    def tearDown(self) -> None:
        af.FOLD_MIN_CANDIDATES = self._min

    @settings(max_examples=150, deadline=None)
    @given(
        clusters(),
        st.lists(specs, min_size=1, max_size=4),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    )
    def test_same_placement_and_score(
        self, c: Cluster, reqs: list[al.AllocSpec], cap: bool, soft: bool, incl_off: bool
    ) -> None:
        nodes = np.arange(c.n_nodes, dtype=np.int64)
        cand = nodes[~c.offline]
        opts = al.AllocOptions(ignore_soft_errors=soft)
        for spec in reqs:
            within = c.node_group[cand] if spec.required_nodes == 2 else None
            capn = nodes if cap else None
            a, b = (
                al.try_alloc(
                    c,
                    spec,
                    cand,
                    nodes,
                    opts,
                    cap_nodes=capn,
                    pairs_within=within,
                    cap_include_offline=incl_off,
                    fast=fast,
                )
                for fast in (True, False)
            )
            self.assertEqual(a.nodes, b.nodes)
            self.assertEqual(a.fails, b.fails)
            self.assertEqual(a.successes, b.successes)
            self.assertTrue(_same_score(a.score, b.score), (a.score, b.score))
            if a.nodes is None:
                continue
            placed = al.place(c, spec, a.nodes[0], a.nodes[1] if len(a.nodes) > 1 else -1)
            if len(a.nodes) == 1:
                # the reported score is exact, also after capacity rejections
                self.assertEqual(a.score, sc.cluster_score(placed, nodes))
            c = placed

    @settings(max_examples=150, deadline=None)
    @given(clusters(), st.booleans(), st.booleans())
    def test_capacity_check(self, c: Cluster, incl_off: bool, to_off: bool) -> None:
        for g in range(len(c.groups)):
            for nodes in (np.arange(c.n_nodes, dtype=np.int64), c.group_nodes(g)):
                self.assertEqual(
                    al.globally_redundant(c, nodes, incl_off, to_off),
                    al.globally_redundant_reference(c, nodes, incl_off, to_off),
                )

    @settings(max_examples=200, deadline=None)
    @given(clusters(), st.booleans())
    def test_capacity_check_per_node(self, c: Cluster, whole: bool) -> None:
        """Node by node: the bounds' verdict (or the exact fallback) is the reference's."""
        view = af.CapView.of(c)
        for g in range(len(c.groups)):
            nodes = np.arange(c.n_nodes, dtype=np.int64) if whole else c.group_nodes(g)
            for n in c.group_nodes(g):
                only = np.array([n], np.int64)
                want = al.globally_redundant_reference(c, nodes, True, only=only)
                try:
                    got = af.redundant(view, nodes, True, only, exact=_undecided)
                except _Undecided:
                    pass
                else:
                    self.assertEqual(got, want, (n, "bounds"))
                self.assertEqual(al.globally_redundant(c, nodes, True, only=only), want, n)

    @settings(max_examples=200, deadline=None)
    @given(clusters(), st.booleans())
    def test_exact_evacuation(self, c: Cluster, whole: bool) -> None:
        """The fast exact evaluation (batched scoring) makes the oracle's choices."""
        for g in range(len(c.groups)):
            nodes = range(c.n_nodes) if whole else c.group_nodes(g).tolist()
            node_list = [int(x) for x in nodes]
            for n in c.group_nodes(g).tolist():
                self.assertEqual(
                    globaln1.plan_exact(c, node_list, n),
                    globaln1.plan_reference(c, node_list, n),
                    n,
                )

    def test_symmetric_ties(self) -> None:
        """Thirty identical nodes: all tie, position decides, exactly as before."""
        nodes_l = [
            NodeSpec(f"n{k}", 8192.0, 0, 8192, 204800.0, 204800, 8.0, False, 0) for k in range(30)
        ]
        c = Cluster.build([Group("g", "u")], nodes_l, [], [], IPolicy())
        nodes = np.arange(c.n_nodes, dtype=np.int64)
        for k in range(12):
            tmpl = "drbd" if k % 3 == 0 else "plain"
            spec = al.AllocSpec(
                f"i{k}", 512, 2048, 1, tmpl, [2048], required_nodes=2 if tmpl == "drbd" else 1
            )
            a = al.try_alloc(c, spec, nodes, nodes, al.AllocOptions(), nodes, fast=True)
            b = al.try_alloc(c, spec, nodes, nodes, al.AllocOptions(), nodes, fast=False)
            self.assertEqual((a.nodes, a.score, a.fails), (b.nodes, b.score, b.fails))
            assert a.nodes is not None
            c = al.place(c, spec, a.nodes[0], a.nodes[1] if len(a.nodes) > 1 else -1)


class CapacityRejections(SynchronousTestCase):
    """{shared,plain}-n1-restriction.data: the two best nodes fail the capacity check."""

    def test_score_of_later_candidate_is_exact(self) -> None:
        import os

        from ganeti.htools.backend.text import load_text_file
        from ganeti.htools.hail import HailOptions, build
        from tests.unit.htools import helpers as h

        for name in ("shared", "plain"):
            data = load_text_file(os.path.join(h.DATA, f"{name}-n1-restriction.data"))
            c = build(data, HailOptions())
            nodes = np.arange(c.n_nodes, dtype=np.int64)
            spec = al.AllocSpec("new", 1000, 0, 1, "ext", [1024])
            for fast in (True, False):
                sol = al.try_alloc(c, spec, nodes, nodes, al.AllocOptions(), nodes, fast=fast)
                self.assertEqual(sol.nodes, (3,))  # nodeD; nodeA and nodeC fail N+1
                self.assertEqual(sol.fails[al.Fail.N1], 2)
                placed = al.place(c, spec, 3, -1)
                self.assertEqual(sol.score, sc.cluster_score(placed, nodes))
