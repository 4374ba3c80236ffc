"""Tests for ganeti.locking: modes, order, fairness, cancel, timeouts, names, monitor."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from ganeti import errors
from ganeti.locking import (
    ALL_SET,
    BGL,
    LEVEL_CLUSTER,
    LEVEL_INSTANCE,
    LEVEL_NETWORK,
    LEVEL_NODE,
    LEVEL_NODE_RES,
    LEVEL_NODEGROUP,
    LEVELS,
    ILockManager,
    LockInfo,
    LockManager,
    Mode,
    PendingInfo,
)

INSTANCES = ["i1", "i2", "i3"]
NODES = ["n1", "n2", "n3", "n4"]


def make() -> tuple[LockManager, Clock]:
    clock = Clock()
    lm = LockManager(
        clock,
        {LEVEL_INSTANCE: INSTANCES, LEVEL_NODE: NODES, LEVEL_NODEGROUP: ["g1"]},
    )
    return lm, clock


class Recorder:
    """Collects the order in which Deferreds fire."""

    def __init__(self) -> None:
        self.order: list[Any] = []

    def watch(self, d: Deferred[frozenset[str]], tag: Any) -> Deferred[frozenset[str]]:
        def record(result: frozenset[str]) -> frozenset[str]:
            self.order.append(tag)
            return result

        d.addCallback(record)
        return d


class ModeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, self.clock = make()

    def test_interface(self) -> None:
        self.assertTrue(verifyObject(ILockManager, self.lm))

    def test_shared_shared_compatible(self) -> None:
        a = self.lm.acquire("a", LEVEL_CLUSTER, [BGL], shared=True)
        b = self.lm.acquire("b", LEVEL_CLUSTER, [BGL], shared=True)
        self.assertEqual(self.successResultOf(a), frozenset([BGL]))
        self.assertEqual(self.successResultOf(b), frozenset([BGL]))
        self.assertEqual(self.lm.owned_mode("a", LEVEL_CLUSTER), Mode.SHARED)

    def test_exclusive_excludes_shared(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_CLUSTER, [BGL]))
        b = self.lm.acquire("b", LEVEL_CLUSTER, [BGL], shared=True)
        self.assertNoResult(b)
        self.assertTrue(self.lm.is_waiting("b"))
        self.lm.release("a")
        self.successResultOf(b)
        self.assertFalse(self.lm.is_waiting("b"))

    def test_shared_excludes_exclusive(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"], shared=True))
        b = self.lm.acquire("b", LEVEL_INSTANCE, ["i1"])
        self.assertNoResult(b)
        self.lm.release("a", LEVEL_INSTANCE)
        self.assertEqual(self.successResultOf(b), frozenset(["i1"]))

    def test_disjoint_exclusive(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))
        self.successResultOf(self.lm.acquire("b", LEVEL_INSTANCE, ["i2", "i3"]))
        self.assertEqual(self.lm.owned("b", LEVEL_INSTANCE), frozenset(["i2", "i3"]))

    def test_same_names_different_levels_independent(self) -> None:
        lm = LockManager(Clock(), {LEVEL_NODE: ["x"], LEVEL_NODE_RES: ["x"]})
        self.successResultOf(lm.acquire("a", LEVEL_NODE_RES, ["x"]))
        self.successResultOf(lm.acquire("b", LEVEL_NODE, ["x"]))

    def test_empty_request(self) -> None:
        self.assertEqual(self.successResultOf(self.lm.acquire("a", LEVEL_NODE, [])), frozenset())
        self.assertIsNone(self.lm.owned_mode("a", LEVEL_NODE))

    def test_single_string_is_one_name(self) -> None:
        self.assertEqual(
            self.successResultOf(self.lm.acquire("a", LEVEL_NODE, "n1")), frozenset(["n1"])
        )

    def test_downgrade_wakes_shared_waiters(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        b = self.lm.acquire("b", LEVEL_NODE, ["n1"], shared=True)
        self.assertNoResult(b)
        self.lm.downgrade("a", LEVEL_NODE)
        self.successResultOf(b)
        self.assertEqual(self.lm.owned_mode("a", LEVEL_NODE), Mode.SHARED)

    def test_downgrade_without_holding(self) -> None:
        self.assertRaises(errors.LockError, self.lm.downgrade, "a", LEVEL_NODE)


class OrderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()

    def test_levels_in_order(self) -> None:
        self.assertEqual(
            LEVELS,
            (
                LEVEL_CLUSTER,
                LEVEL_INSTANCE,
                LEVEL_NODEGROUP,
                LEVEL_NODE,
                LEVEL_NODE_RES,
                LEVEL_NETWORK,
            ),
        )

    def test_ascending_ok(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_CLUSTER, [BGL], shared=True))
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))

    def test_lower_after_higher_fails(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        e = self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_INSTANCE, ["i1"])
        self.assertIn("node", str(e))
        self.assertFalse(self.lm.is_waiting("a"))

    def test_same_level_twice_fails(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_NODE, ["n2"])

    def test_after_release_of_level_lower_is_fine(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        self.lm.release("a", LEVEL_NODE)
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))

    def test_second_waiting_request_fails(self) -> None:
        self.successResultOf(self.lm.acquire("x", LEVEL_NODE, ["n1"]))
        self.assertNoResult(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_NETWORK, [])

    def test_unknown_level_and_name(self) -> None:
        self.assertRaises(errors.LockError, self.lm.acquire, "a", 17, ["x"])
        e = self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_NODE, ["nope"])
        self.assertIn("node/nope", str(e))

    def test_bad_priority(self) -> None:
        self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_NODE, ["n1"], priority=20)


class FairnessTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()
        self.rec = Recorder()
        self.successResultOf(self.lm.acquire("holder", LEVEL_NODE, ["n1"]))

    def test_priority_order(self) -> None:
        for owner, prio in [("low", 10), ("normal", 0), ("high", -10), ("top", -20)]:
            self.rec.watch(self.lm.acquire(owner, LEVEL_NODE, ["n1"], priority=prio), owner)
        for _ in range(4):
            releaser = "holder" if not self.rec.order else self.rec.order[-1]
            self.lm.release(releaser)
        self.assertEqual(self.rec.order, ["top", "high", "normal", "low"])

    def test_fifo_within_priority(self) -> None:
        for owner in ["a", "b", "c"]:
            self.rec.watch(self.lm.acquire(owner, LEVEL_NODE, ["n1"]), owner)
        self.lm.release("holder")
        self.lm.release("a")
        self.lm.release("b")
        self.assertEqual(self.rec.order, ["a", "b", "c"])

    def test_shared_waiters_batched(self) -> None:
        ds = [
            self.rec.watch(self.lm.acquire(o, LEVEL_NODE, ["n1"], shared=True), o)
            for o in ["s1", "s2"]
        ]
        x = self.rec.watch(self.lm.acquire("x", LEVEL_NODE, ["n1"]), "x")
        s3 = self.rec.watch(self.lm.acquire("s3", LEVEL_NODE, ["n1"], shared=True), "s3")
        self.lm.release("holder")
        for d in ds:
            self.successResultOf(d)
        # s3 does not overtake the exclusive waiter that came before it.
        self.assertNoResult(x)
        self.assertNoResult(s3)
        self.lm.release("s1")
        self.lm.release("s2")
        self.successResultOf(x)
        self.lm.release("x")
        self.assertEqual(self.rec.order, ["s1", "s2", "x", "s3"])

    def test_unrelated_request_not_blocked_by_waiter(self) -> None:
        self.assertNoResult(self.lm.acquire("w", LEVEL_NODE, ["n1", "n2"]))
        self.successResultOf(self.lm.acquire("other", LEVEL_NODE, ["n3"]))

    def test_waiter_blocks_later_conflicting(self) -> None:
        w = self.lm.acquire("w", LEVEL_NODE, ["n1", "n2"])
        later = self.lm.acquire("later", LEVEL_NODE, ["n2"])
        self.assertNoResult(w)
        self.assertNoResult(later)
        self.lm.release("holder")
        self.successResultOf(w)
        self.assertNoResult(later)

    def test_higher_priority_overtakes_queue(self) -> None:
        self.rec.watch(self.lm.acquire("a", LEVEL_NODE, ["n1"]), "a")
        self.rec.watch(self.lm.acquire("b", LEVEL_NODE, ["n1"], priority=-10), "b")
        self.lm.release("holder")
        self.assertEqual(self.rec.order, ["b"])

    def test_set_priority(self) -> None:
        self.rec.watch(self.lm.acquire("a", LEVEL_NODE, ["n1"]), "a")
        self.rec.watch(self.lm.acquire("b", LEVEL_NODE, ["n1"]), "b")
        self.assertTrue(self.lm.set_priority("b", -1))
        self.assertFalse(self.lm.set_priority("nobody", -1))
        self.lm.release("holder")
        self.assertEqual(self.rec.order, ["b"])


class CancelTimeoutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, self.clock = make()
        self.successResultOf(self.lm.acquire("holder", LEVEL_NODE, ["n1"]))

    def test_cancel_waiting(self) -> None:
        a = self.lm.acquire("a", LEVEL_NODE, ["n1"])
        b = self.lm.acquire("b", LEVEL_NODE, ["n1"])
        a.cancel()
        self.failureResultOf(a, CancelledError)
        self.assertFalse(self.lm.is_waiting("a"))
        self.lm.release("holder")
        self.successResultOf(b)
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset())

    def test_cancel_unblocks_later_waiter(self) -> None:
        # a waits for n1 and n2; b wants only n2, which is free but behind a.
        a = self.lm.acquire("a", LEVEL_NODE, ["n1", "n2"])
        b = self.lm.acquire("b", LEVEL_NODE, ["n2"])
        self.assertNoResult(b)
        a.cancel()
        self.failureResultOf(a, CancelledError)
        self.successResultOf(b)

    def test_cancel_is_all_or_nothing(self) -> None:
        a = self.lm.acquire("a", LEVEL_NODE, ["n1", "n2", "n3"])
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset())
        a.cancel()
        self.failureResultOf(a, CancelledError)
        for n in ["n2", "n3"]:
            self.successResultOf(self.lm.acquire(f"x{n}", LEVEL_NODE, [n]))

    def test_cancel_after_grant_keeps_locks(self) -> None:
        d = self.lm.acquire("a", LEVEL_NODE, ["n2"])
        self.successResultOf(d)
        d.cancel()
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n2"]))

    def test_timeout(self) -> None:
        a = self.lm.acquire("a", LEVEL_NODE, ["n1", "n2"], timeout=5)
        self.clock.advance(4.9)
        self.assertNoResult(a)
        self.clock.advance(0.1)
        f = self.failureResultOf(a, errors.LockTimeout)
        self.assertIsInstance(f.value, errors.LockError)
        self.assertFalse(self.lm.is_waiting("a"))
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset())
        self.successResultOf(self.lm.acquire("b", LEVEL_NODE, ["n2"]))

    def test_granted_before_timeout(self) -> None:
        a = self.lm.acquire("a", LEVEL_NODE, ["n1"], timeout=5)
        self.lm.release("holder")
        self.successResultOf(a)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(10)
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n1"]))

    def test_cancel_removes_timer(self) -> None:
        a = self.lm.acquire("a", LEVEL_NODE, ["n1"], timeout=5)
        a.cancel()
        self.failureResultOf(a, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_zero_timeout_is_try_once(self) -> None:
        self.failureResultOf(
            self.lm.acquire("a", LEVEL_NODE, ["n1"], timeout=0), errors.LockTimeout
        )
        self.assertFalse(self.lm.is_waiting("a"))
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n2"], timeout=0))


class AllSetTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()

    def test_all_returns_every_member(self) -> None:
        got = self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ALL_SET, shared=True))
        self.assertEqual(got, frozenset(INSTANCES))
        self.assertTrue(self.lm.owns_all("a", LEVEL_INSTANCE))

    def test_all_exclusive_conflicts_with_member(self) -> None:
        self.successResultOf(self.lm.acquire("m", LEVEL_INSTANCE, ["i2"], shared=True))
        a = self.lm.acquire("a", LEVEL_INSTANCE, ALL_SET)
        self.assertNoResult(a)
        self.lm.release("m")
        self.successResultOf(a)

    def test_all_shared_vs_member_modes(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ALL_SET, shared=True))
        self.successResultOf(self.lm.acquire("s", LEVEL_INSTANCE, ["i1"], shared=True))
        x = self.lm.acquire("x", LEVEL_INSTANCE, ["i3"])
        self.assertNoResult(x)
        self.lm.release("a")
        self.successResultOf(x)

    def test_added_names_are_covered_by_all(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ALL_SET, shared=True))
        self.lm.add(LEVEL_INSTANCE, ["new"])
        self.assertIn("new", self.lm.owned("a", LEVEL_INSTANCE))
        creator = self.lm.acquire("creator", LEVEL_INSTANCE, ["new"])
        self.assertNoResult(creator)
        self.lm.release("a")
        self.successResultOf(creator)

    def test_named_holder_does_not_cover_new_names(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, INSTANCES))
        self.lm.add(LEVEL_INSTANCE, ["new"])
        self.assertNotIn("new", self.lm.owned("a", LEVEL_INSTANCE))
        self.successResultOf(self.lm.acquire("creator", LEVEL_INSTANCE, ["new"]))

    def test_partial_release_of_all(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ALL_SET))
        self.lm.release("a", LEVEL_NODE, ["n1", "n2"])
        self.assertFalse(self.lm.owns_all("a", LEVEL_NODE))
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n3", "n4"]))
        self.successResultOf(self.lm.acquire("b", LEVEL_NODE, ["n1"]))
        # Names added now are no longer covered by a.
        self.lm.add(LEVEL_NODE, ["n5"])
        self.successResultOf(self.lm.acquire("c", LEVEL_NODE, ["n5"]))

    def test_release_names_not_held(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1"]))
        self.assertRaises(errors.LockError, self.lm.release, "a", LEVEL_NODE, ["n2"])
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n1"]))


class OpportunisticTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()
        self.successResultOf(self.lm.acquire("busy", LEVEL_NODE, ["n1", "n2"]))

    def test_takes_free_subset(self) -> None:
        got = self.successResultOf(
            self.lm.acquire("a", LEVEL_NODE, ALL_SET, opportunistic=True, min_count=2)
        )
        self.assertEqual(got, frozenset(["n3", "n4"]))
        self.assertFalse(self.lm.owns_all("a", LEVEL_NODE))

    def test_waits_for_min_count(self) -> None:
        d = self.lm.acquire("a", LEVEL_NODE, ["n1", "n2", "n3"], opportunistic=True, min_count=2)
        self.assertNoResult(d)
        self.lm.release("busy", LEVEL_NODE, ["n2"])
        self.assertEqual(self.successResultOf(d), frozenset(["n2", "n3"]))


class ReleaseTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()

    def test_release_level_and_all(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_CLUSTER, [BGL], shared=True))
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1", "n2"]))
        self.lm.release("a", LEVEL_NODE)
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset())
        self.assertEqual(self.lm.owned("a", LEVEL_INSTANCE), frozenset(["i1"]))
        self.lm.release("a")
        for level in LEVELS:
            self.assertIsNone(self.lm.owned_mode("a", level))
        self.lm.release("a")  # idempotent

    def test_drop_cancels_and_releases(self) -> None:
        self.successResultOf(self.lm.acquire("x", LEVEL_NODE, ["n2"]))
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))
        d = self.lm.acquire("a", LEVEL_NODE, ["n2"])
        self.lm.drop("a")
        self.failureResultOf(d, CancelledError)
        self.assertFalse(self.lm.is_waiting("a"))
        self.assertEqual(self.lm.owned("a", LEVEL_INSTANCE), frozenset())

    def test_early_release_of_some_names(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ["n1", "n2"]))
        w = self.lm.acquire("w", LEVEL_NODE, ["n2"])
        self.lm.release("a", LEVEL_NODE, ["n2"])
        self.successResultOf(w)
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n1"]))


class NamesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.lm, _ = make()

    def test_add_duplicate(self) -> None:
        self.assertRaises(errors.LockError, self.lm.add, LEVEL_NODE, ["n1"])
        self.assertRaises(errors.LockError, self.lm.add, LEVEL_CLUSTER, ["x"])

    def test_remove_requires_exclusive_ownership(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"], shared=True))
        self.assertRaises(errors.LockError, self.lm.remove, LEVEL_INSTANCE, ["i1"], "a")
        self.assertRaises(errors.LockError, self.lm.remove, LEVEL_INSTANCE, ["i1"])
        self.assertIn("i1", self.lm.known(LEVEL_INSTANCE))

    def test_remove_fails_waiters(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_INSTANCE, ["i1"]))
        w = self.lm.acquire("w", LEVEL_INSTANCE, ["i1", "i2"])
        other = self.lm.acquire("o", LEVEL_INSTANCE, ["i2"])
        self.assertNoResult(other)
        self.lm.remove(LEVEL_INSTANCE, ["i1"], owner="a")
        f = self.failureResultOf(w, errors.LockError)
        self.assertIn("instance/i1", str(f.value))
        self.successResultOf(other)
        self.assertEqual(self.lm.owned("a", LEVEL_INSTANCE), frozenset())
        self.assertNotIn("i1", self.lm.known(LEVEL_INSTANCE))
        self.assertFalse(self.lm.is_waiting("w"))

    def test_remove_unheld(self) -> None:
        self.lm.remove(LEVEL_NODE, ["n4"])
        self.assertRaises(errors.LockError, self.lm.acquire, "a", LEVEL_NODE, ["n4"])
        self.assertRaises(errors.LockError, self.lm.remove, LEVEL_NODE, ["n4"])

    def test_remove_under_all_holder(self) -> None:
        self.successResultOf(self.lm.acquire("a", LEVEL_NODE, ALL_SET))
        self.lm.remove(LEVEL_NODE, ["n1"], owner="a")
        self.assertTrue(self.lm.owns_all("a", LEVEL_NODE))
        self.assertEqual(self.lm.owned("a", LEVEL_NODE), frozenset(["n2", "n3", "n4"]))


class MonitorTests(SynchronousTestCase):
    def test_list_locks(self) -> None:
        lm = LockManager(Clock(), {LEVEL_INSTANCE: ["i1", "i2"]})
        self.successResultOf(lm.acquire(1, LEVEL_CLUSTER, [BGL], shared=True))
        self.successResultOf(lm.acquire(2, LEVEL_CLUSTER, [BGL], shared=True))
        self.successResultOf(lm.acquire(1, LEVEL_INSTANCE, ["i1"]))
        lm.acquire(3, LEVEL_CLUSTER, [BGL], priority=-10)
        lm.acquire(2, LEVEL_INSTANCE, ["i1"], shared=True, priority=5)
        locks = {info.name: info for info in lm.list_locks()}
        self.assertEqual(
            locks["cluster/BGL"],
            LockInfo(
                "cluster/BGL",
                Mode.SHARED,
                (1, 2),
                (PendingInfo(3, Mode.EXCLUSIVE, -10),),
            ),
        )
        self.assertEqual(
            locks["instance/i1"],
            LockInfo("instance/i1", Mode.EXCLUSIVE, (1,), (PendingInfo(2, Mode.SHARED, 5),)),
        )
        self.assertEqual(locks["instance/i2"], LockInfo("instance/i2", None, (), ()))
        self.assertEqual(locks["instance/[lockset]"].mode, Mode.SHARED)
        self.assertEqual(locks["instance/[lockset]"].owners, (1,))
        self.assertEqual(locks["node/[lockset]"], LockInfo("node/[lockset]", None, (), ()))
        self.assertNotIn("cluster/[lockset]", locks)

    def test_whole_level_holder_shown_on_members(self) -> None:
        lm = LockManager(Clock(), {LEVEL_NODE: ["n1"]})
        self.successResultOf(lm.acquire("a", LEVEL_NODE, ALL_SET))
        lm.acquire("b", LEVEL_NODE, ALL_SET, shared=True)
        locks = {info.name: info for info in lm.list_locks()}
        self.assertEqual(locks["node/n1"].owners, ("a",))
        self.assertEqual(locks["node/[lockset]"].mode, Mode.EXCLUSIVE)
        self.assertEqual(locks["node/[lockset]"].pending, (PendingInfo("b", Mode.SHARED, 0),))


class ReentrancyTests(SynchronousTestCase):
    """Callbacks and coroutines that call back into the manager while it grants."""

    def setUp(self) -> None:
        self.lm, self.clock = make()

    def test_job_coroutine_walks_levels(self) -> None:
        async def job(owner: str, instance: str) -> frozenset[str]:
            await self.lm.acquire(owner, LEVEL_CLUSTER, [BGL], shared=True)
            await self.lm.acquire(owner, LEVEL_INSTANCE, [instance])
            return await self.lm.acquire(owner, LEVEL_NODE, ["n1"], timeout=0)

        self.successResultOf(self.lm.acquire("x", LEVEL_CLUSTER, [BGL]))
        d = Deferred.fromCoroutine(job("j1", "i1"))
        self.assertNoResult(d)
        # Release fires j1's BGL grant; the coroutine then re-enters acquire twice,
        # including a try-once request that must see the current state.
        self.lm.release("x")
        self.assertEqual(self.successResultOf(d), frozenset(["n1"]))
        self.assertEqual(self.lm.owned("j1", LEVEL_INSTANCE), frozenset(["i1"]))

    def test_cancelling_job_cancels_lock_wait(self) -> None:
        async def job() -> None:
            await self.lm.acquire("j1", LEVEL_CLUSTER, [BGL], shared=True)
            await self.lm.acquire("j1", LEVEL_NODE, ["n1"])

        self.successResultOf(self.lm.acquire("x", LEVEL_NODE, ["n1"]))
        d = Deferred.fromCoroutine(job())
        self.assertTrue(self.lm.is_waiting("j1"))
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertFalse(self.lm.is_waiting("j1"))
        self.lm.release("j1")
        self.lm.release("x")
        self.assertEqual(self.lm.list_locks()[0].owners, ())

    def test_cancel_of_granted_but_undelivered(self) -> None:
        self.successResultOf(self.lm.acquire("x", LEVEL_NODE, ["n1"]))
        b = self.lm.acquire("b", LEVEL_NODE, ["n1"], shared=True)
        c = self.lm.acquire("c", LEVEL_NODE, ["n1"], shared=True)

        def cancel_c(names: frozenset[str]) -> frozenset[str]:
            c.cancel()
            return names

        b.addCallback(cancel_c)
        self.lm.release("x")
        self.successResultOf(b)
        self.failureResultOf(c, CancelledError)
        self.assertIsNone(self.lm.owned_mode("c", LEVEL_NODE))
        self.assertEqual(self.lm.owned("b", LEVEL_NODE), frozenset(["n1"]))


# -- property test --------------------------------------------------------------------

OWNERS = ["j1", "j2", "j3", "j4"]
PROP_LEVELS = [LEVEL_CLUSTER, LEVEL_INSTANCE, LEVEL_NODE]
PROP_NAMES = {LEVEL_CLUSTER: [BGL], LEVEL_INSTANCE: ["a", "b"], LEVEL_NODE: ["x", "y", "z"]}

acquire_op = st.tuples(
    st.just("acquire"),
    st.sampled_from(OWNERS),
    st.sampled_from(PROP_LEVELS),
    st.one_of(st.just(None), st.lists(st.sampled_from(["a", "b", "x", "y", "z"]), min_size=1)),
    st.booleans(),
    st.sampled_from([-20, -10, 0, 10]),
    st.sampled_from([None, None, 0, 3]),
    st.sampled_from([False, False, True]),
)
other_op = st.tuples(
    st.sampled_from(["release", "release_level", "cancel", "tick", "downgrade", "bump"]),
    st.sampled_from(OWNERS),
    st.sampled_from(PROP_LEVELS),
)


def _independent_conflict(a: tuple[Any, Mode], b: tuple[Any, Mode]) -> bool:
    (a_names, a_mode), (b_names, b_mode) = a, b
    if a_mode == Mode.SHARED and b_mode == Mode.SHARED:
        return False
    return a_names == "ALL" or b_names == "ALL" or bool(set(a_names) & set(b_names))


class PropertyTests(SynchronousTestCase):
    def _check_no_conflict(self, lm: LockManager) -> None:
        for level in PROP_LEVELS:
            holdings: list[tuple[Any, Mode]] = []
            for owner in OWNERS:
                mode = lm.owned_mode(owner, level)
                if mode is None:
                    continue
                names = "ALL" if lm.owns_all(owner, level) else lm.owned(owner, level)
                holdings.append((names, mode))
            for i, a in enumerate(holdings):
                for b in holdings[i + 1 :]:
                    self.assertFalse(_independent_conflict(a, b), (level, a, b))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(acquire_op, other_op), max_size=40))
    def test_random_sequences(self, ops: list[tuple[Any, ...]]) -> None:
        clock = Clock()
        lm = LockManager(clock, {lv: PROP_NAMES[lv] for lv in PROP_LEVELS if lv})
        waiting: dict[str, Deferred[frozenset[str]]] = {}
        outcome: dict[str, list[Any]] = {}

        for op in ops:
            kind, owner, level = op[0], op[1], op[2]
            if kind == "acquire":
                names_raw, shared, prio, timeout, opportunistic = op[3:8]
                if owner in waiting or any(
                    lm.owned_mode(owner, lv) is not None for lv in PROP_LEVELS if lv >= level
                ):
                    continue
                names = (
                    ALL_SET
                    if names_raw is None
                    else [n for n in names_raw if n in PROP_NAMES[level]]
                )
                d = lm.acquire(
                    owner,
                    level,
                    names,
                    shared=shared,
                    priority=prio,
                    timeout=timeout,
                    opportunistic=opportunistic,
                )
                box: list[Any] = []
                outcome[owner] = box
                d.addBoth(box.append)
                if not box:
                    waiting[owner] = d
            elif kind == "release":
                lm.release(owner)
            elif kind == "release_level":
                lm.release(owner, level)
            elif kind == "downgrade":
                if lm.owned_mode(owner, level) is not None:
                    lm.downgrade(owner, level)
            elif kind == "cancel":
                if owner in waiting:
                    waiting[owner].cancel()
            elif kind == "bump":
                lm.set_priority(owner, -20)
            elif kind == "tick":
                clock.advance(1)
            for o in list(waiting):
                if outcome[o]:
                    del waiting[o]
                    self.assertEqual(lm.is_waiting(o), False)
            self._check_no_conflict(lm)

        # Liveness: with no new requests, releasing whoever holds locks must eventually
        # satisfy every remaining waiter (no starvation, no deadlock).
        for _ in range(len(OWNERS) + 1):
            for o in OWNERS:
                if o not in waiting:
                    lm.release(o)
            for o in list(waiting):
                if outcome[o]:
                    del waiting[o]
            self._check_no_conflict(lm)
            if not waiting:
                break
        self.assertEqual(waiting, {})
        self.assertEqual(clock.getDelayedCalls(), [])
