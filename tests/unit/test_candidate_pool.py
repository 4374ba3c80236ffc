"""The master-candidate pool: who is eligible and who gets promoted."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ganeti.cmdlib.node import candidates_to_promote, desired_candidates, eligible_for_candidate
from ganeti.config.bootstrap import bootstrap_config
from ganeti.objects import Node


def cluster(pool: int, nodes: list[dict]) -> object:
    cfg = bootstrap_config(
        cluster_name="c.test", master_name="n0", master_ip="192.0.2.1", node_ip="192.0.2.10", now=0
    )
    cfg.cluster.candidate_pool_size = pool
    group = next(iter(cfg.nodegroups))
    for i, extra in enumerate(nodes, start=1):
        node = Node(
            uuid=f"00000000-0000-0000-0000-{i:012d}",
            name=f"n{i}",
            primary_ip=f"192.0.2.{10 + i}",
            secondary_ip=f"192.0.2.{10 + i}",
            group=group,
            master_capable=extra.get("master_capable", True),
            master_candidate=extra.get("mc", False),
            offline=extra.get("offline", False),
            drained=extra.get("drained", False),
        )
        cfg.nodes[node.uuid] = node
    return cfg


class PoolTests(SynchronousTestCase):
    def test_eligibility(self) -> None:
        cfg = cluster(10, [{}, {"offline": True}, {"drained": True}, {"master_capable": False}])
        eligible = sorted(n.name for n in cfg.nodes.values() if eligible_for_candidate(n))
        self.assertEqual(eligible, ["n0", "n1"])
        self.assertEqual(desired_candidates(cfg), 2)

    def test_promotes_up_to_pool_size_in_name_order(self) -> None:
        cfg = cluster(3, [{}, {}, {}, {}])
        self.assertEqual([n.name for n in candidates_to_promote(cfg)], ["n1", "n2"])

    def test_full_pool_promotes_nobody(self) -> None:
        cfg = cluster(2, [{"mc": True}, {}])
        self.assertEqual(candidates_to_promote(cfg), [])

    def test_exclude(self) -> None:
        cfg = cluster(3, [{}, {}, {}])
        excluded = {"00000000-0000-0000-0000-000000000001"}
        names = [n.name for n in candidates_to_promote(cfg, exclude=excluded)]
        self.assertEqual(names, ["n2", "n3"])
