"""Property tests on random small clusters, and backend unit tests."""

from __future__ import annotations

import glob
import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.backend.iallocator import load_request_file
from ganeti.htools.backend.simu import load_simulation, parse_unit
from ganeti.htools.backend.text import load_text_file, parse_text, serialize_cluster
from ganeti.htools.balance import BalanceOptions, Balancer
from ganeti.htools.model import Cluster, Group, InstanceSpec, NodeSpec
from ganeti.htools.moves import Move, MoveOptions, MoveType, apply_move, simulate
from ganeti.htools.types import IPolicy
from tests.unit.htools import helpers as h


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    n_nodes = draw(st.integers(2, 6))
    nodes = []
    for k in range(n_nodes):
        mem = draw(st.sampled_from([4096, 8192, 16384, 10000]))
        nodes.append(
            NodeSpec(
                name=f"node{k}",
                t_mem=float(mem),
                n_mem=draw(st.sampled_from([0, 512])),
                f_mem=mem,
                t_dsk=float(draw(st.sampled_from([100000, 204800, 300000]))),
                f_dsk=100000,
                t_cpu=float(draw(st.sampled_from([4, 8, 16]))),
                offline=draw(st.booleans()) if k >= 2 else False,
                group=0,
                tags=draw(st.sampled_from([[], ["loc:a"], ["loc:b"]])),
            )
        )
    insts = []
    for k in range(draw(st.integers(1, 8))):
        p = draw(st.integers(0, n_nodes - 1))
        s = draw(st.integers(0, n_nodes - 2))
        s = s + 1 if s >= p else s
        insts.append(
            InstanceSpec(
                name=f"inst{k}",
                mem=draw(st.sampled_from([128, 512, 1024, 3000])),
                dsk=draw(st.sampled_from([1024, 5000, 10240])),
                vcpus=draw(st.integers(1, 4)),
                status=draw(st.sampled_from(["running", "ADMIN_down"])),
                auto_balance=draw(st.booleans()),
                pnode=p,
                snode=s,
                template="drbd",
                tags=draw(st.sampled_from([[], ["svc:web"], ["svc:db"]])),
            )
        )
    tags = ["htools:iextags:svc", "htools:nlocation:loc"]
    return Cluster.build([Group("g", "uuid-g")], nodes, insts, tags, IPolicy(), n1_rule="head")


MOVE_KINDS = [
    MoveType.FAILOVER,
    MoveType.REPLACE_SECONDARY,
    MoveType.REPLACE_AND_FAILOVER,
    MoveType.REPLACE_PRIMARY,
    MoveType.FAILOVER_AND_REPLACE,
]


class IncrementalEqualsFull(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(
        clusters(),
        st.lists(
            st.tuples(st.integers(0, 7), st.sampled_from(MOVE_KINDS), st.integers(0, 5)),
            max_size=12,
        ),
    )
    def test_moves_keep_state_consistent(self, c: Cluster, moves: list) -> None:
        nodes = np.arange(c.n_nodes)
        opts = MoveOptions(ignore_soft_errors=True)
        for i, kind, t in moves:
            i %= c.n_instances
            t %= c.n_nodes
            if kind != MoveType.FAILOVER and t in (c.pnode[i], c.snode[i]):
                continue
            if kind != MoveType.FAILOVER and c.offline[t]:
                continue
            tgt = np.array([t])
            res = simulate(c, kind, np.array([i]), tgt, opts)
            predicted = None
            if res.ok[0]:
                bal = Balancer(c, nodes, np.arange(c.n_instances), BalanceOptions())
                base = bal._base()
                new_vals = [sc.node_values(b, c.stat[:, n]) for n, b in zip(res.nodes, res.blocks)]
                md = bal._map_delta(np.array([i]), c.pnode[[i]], res.new_pri)
                predicted = float(bal._exact(base, res.nodes, new_vals, md)[0])
                approx = float(bal._approx(base, res.nodes, new_vals, md)[0])
            applied = apply_move(c, Move(i, kind, t if kind != MoveType.FAILOVER else -1), opts)
            self.assertEqual(applied, bool(res.ok[0]))
            if not applied:
                continue
            full = c.rebuilt()
            np.testing.assert_array_equal(
                np.delete(c.dyn, m.D_FAIL_N1, axis=0), np.delete(full.dyn, m.D_FAIL_N1, axis=0)
            )
            np.testing.assert_array_equal(c.peers, full.peers)
            after = sc.cluster_score(c, nodes)
            self.assertEqual(predicted, after)
            self.assertAlmostEqual(approx, after, delta=1e-7)

    @settings(max_examples=40, deadline=None)
    @given(clusters())
    def test_plan_respects_n1_and_exclusion_tags(self, c: Cluster) -> None:
        # Moves off offline nodes are forced (evacuation), so the guarantee
        # only holds for clusters without offline nodes.
        c.stat[m.S_OFFLINE] = 0.0
        c._recompute_global_map()
        nodes = np.arange(c.n_nodes)
        online = c.online_mask
        before_fail = set(np.flatnonzero((c.dyn[m.D_FAIL_N1] > 0) & online))
        before_conf = c.dyn[m.D_CONFLICTS].copy()
        bal = Balancer(c, nodes, np.arange(c.n_instances), BalanceOptions(max_length=10))
        bal.run()
        after_fail = set(np.flatnonzero((c.dyn[m.D_FAIL_N1] > 0) & online))
        self.assertTrue(after_fail <= before_fail, (before_fail, after_fail))
        on = np.flatnonzero(online)
        self.assertTrue((c.dyn[m.D_CONFLICTS, on] <= before_conf[on]).all())


class Backends(SynchronousTestCase):
    def test_text_roundtrip(self) -> None:
        for path in sorted(glob.glob(os.path.join(h.DATA, "*.data"))):
            if "invalid" in path:
                continue
            d = load_text_file(path)
            c = Cluster.build(d.groups, d.nodes, d.instances, d.cluster_tags, d.ipolicy)
            text = serialize_cluster(c)
            d2 = parse_text(text)
            c2 = Cluster.build(d2.groups, d2.nodes, d2.instances, d2.cluster_tags, d2.ipolicy)
            np.testing.assert_array_equal(c.dyn, c2.dyn, path)
            self.assertEqual(serialize_cluster(c2), text)

    def test_units(self) -> None:
        self.assertEqual(parse_unit("8T"), 7629394)
        self.assertEqual(parse_unit("64g"), 65536)
        self.assertEqual(parse_unit("100"), 100)

    def test_simulation_matches_generated_file(self) -> None:
        d = load_simulation(["p,4,8T,64g,16", "u,4,8T,64g,16"])
        self.assertEqual([g.name for g in d.groups], ["group-01", "group-02"])
        self.assertEqual(d.groups[0].alloc_policy.value, "unallocable")
        self.assertEqual(d.nodes[0].name, "node-01-001")
        self.assertTrue(d.nodes[0].master)
        self.assertEqual(d.nodes[0].t_dsk, 7629394.0)

    def test_iallocator_requests_load(self) -> None:
        for path in sorted(glob.glob(os.path.join(h.DATA, "*.json"))):
            inp = load_request_file(path)
            d = inp.data
            c = Cluster.build(d.groups, d.nodes, d.instances, d.cluster_tags, d.ipolicy)
            self.assertEqual(c.n_nodes, len(d.nodes))
            self.assertIn(
                inp.request.type,
                (
                    "allocate",
                    "relocate",
                    "node-evacuate",
                    "change-group",
                    "multi-allocate",
                    "allocate-secondary",
                ),
            )

    def test_unknown_node(self) -> None:
        rc, _out, err = h.run_hbal(["-t", h.data_path("invalid-node.data")])
        self.assertEqual(rc, 1)
        self.assertIn("Unknown node 'no-such-node' for instance new-0", err)
