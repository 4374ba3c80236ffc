"""Concurrent live queries share fan-outs, but never one that started before them."""

from __future__ import annotations

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from ganeti.masterd.coalesce import Coalescer


class CoalescerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.gathers: list[defer.Deferred[int]] = []

        async def gather() -> int:
            d: defer.Deferred[int] = defer.Deferred()
            self.gathers.append(d)
            return await d

        self.c = Coalescer(gather)

    def test_later_requests_wait_for_a_fresh_gather(self) -> None:
        first = self.c.get()
        self.assertEqual(len(self.gathers), 1)
        # Arriving while gather 1 runs: must not get its (older) result.
        second = self.c.get()
        third = self.c.get()
        self.assertEqual(len(self.gathers), 1)
        self.gathers[0].callback(1)
        self.assertEqual(self.successResultOf(first), 1)
        self.assertNoResult(second)
        # One new gather serves both waiting requests.
        self.assertEqual(len(self.gathers), 2)
        self.gathers[1].callback(2)
        self.assertEqual(self.successResultOf(second), 2)
        self.assertEqual(self.successResultOf(third), 2)

    def test_idle_request_starts_at_once(self) -> None:
        d = self.c.get()
        self.gathers[0].callback(7)
        self.assertEqual(self.successResultOf(d), 7)
        d = self.c.get()
        self.assertEqual(len(self.gathers), 2)
        self.gathers[1].callback(8)
        self.assertEqual(self.successResultOf(d), 8)

    def test_failure_reaches_its_requests_only(self) -> None:
        d1 = self.c.get()
        d2 = self.c.get()
        self.gathers[0].errback(RuntimeError("node down"))
        self.failureResultOf(d1, RuntimeError)
        self.assertNoResult(d2)
        self.gathers[1].callback(3)
        self.assertEqual(self.successResultOf(d2), 3)
