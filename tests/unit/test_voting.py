"""Master votes: majority rules, retries while undecided, clear refusal."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from ganeti import errors
from ganeti.masterd.voting import confirm_master
from ganeti.rpc.client import IRpcClient, RpcResult


@implementer(IRpcClient)
class VotingNodes:
    """Each node answers master_node_name from a table; None means no answer."""

    def __init__(self, clock: Clock, answers: list[dict[str, str | None]]) -> None:
        self.clock = clock
        self.rounds = answers
        self.calls = 0

    def call(self, nodes: Any, procedure: str, args: Any, timeout: Any = None) -> Any:
        assert procedure == "master_node_name"
        answers = self.rounds[min(self.calls, len(self.rounds) - 1)]
        self.calls += 1
        out = {}
        for n in nodes:
            a = answers.get(n)
            out[n] = RpcResult(n, payload=a) if a is not None else RpcResult(n, fail_msg="down")
        return defer.succeed(out)


NODES = ["n1", "n2", "n3"]


class VotingTests(SynchronousTestCase):
    def run_vote(self, rounds: list[dict[str, str | None]], retries: int = 6):
        clock = Clock()
        rpc = VotingNodes(clock, rounds)
        d = defer.Deferred.fromCoroutine(
            confirm_master(rpc, clock, "n1", NODES, retries=retries, interval=10)
        )
        return d, clock, rpc

    def test_majority_wins(self) -> None:
        d, _, _ = self.run_vote([{"n1": "n1", "n2": "n1", "n3": None}])
        self.assertTrue(self.successResultOf(d).won("n1"))

    def test_clear_loss(self) -> None:
        d, _, rpc = self.run_vote([{"n1": "n1", "n2": "n2", "n3": "n2"}])
        f = self.failureResultOf(d, errors.NotMasterError)
        self.assertIn("1 of 3", str(f.value))
        self.assertEqual(rpc.calls, 1)

    def test_undecided_then_won(self) -> None:
        d, clock, rpc = self.run_vote(
            [{"n1": "n1", "n2": None, "n3": None}, {"n1": "n1", "n2": "n1", "n3": None}]
        )
        self.assertNoResult(d)
        clock.advance(10)
        self.successResultOf(d)
        self.assertEqual(rpc.calls, 2)

    def test_undecided_until_retries_exhausted(self) -> None:
        d, clock, rpc = self.run_vote([{"n1": "n1", "n2": None, "n3": None}], retries=2)
        clock.pump([10, 10])
        self.failureResultOf(d, errors.NotMasterError)
        self.assertEqual(rpc.calls, 3)

    def test_two_node_cluster_needs_both(self) -> None:
        clock = Clock()
        rpc = VotingNodes(clock, [{"n1": "n1", "n2": None}])
        d = defer.Deferred.fromCoroutine(confirm_master(rpc, clock, "n1", ["n1", "n2"], retries=0))
        self.failureResultOf(d, errors.NotMasterError)
