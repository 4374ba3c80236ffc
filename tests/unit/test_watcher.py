"""Watcher decisions (pure, synchronous, with a Clock for time)."""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from ganeti.watcher.decide import (
    MAXTRIES,
    RETRY_EXPIRATION,
    InstanceView,
    NodeView,
    decide,
    paused,
)


def inst(name: str, status: str, admin: str = "up", **kw: Any) -> InstanceView:
    return InstanceView(name=name, status=status, admin_state=admin, **kw)


class DecideTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.state: dict[str, Any] = {}

    def run_once(self, instances: list[InstanceView], nodes: list[NodeView] = (), locked=()):  # type: ignore[no-untyped-def,assignment]
        plan = decide(instances, nodes, locked, self.state, self.clock.seconds())
        return [(a.kind, a.instance) for a in plan.actions], plan.messages

    def test_restarts_error_down_then_gives_up_until_expiry(self) -> None:
        down = [inst("web1", "ERROR_down")]
        for attempt in range(MAXTRIES):
            actions, _ = self.run_once(down)
            self.assertEqual(actions, [("start", "web1")], attempt)
            self.clock.advance(300)
        actions, messages = self.run_once(down)
        self.assertEqual(actions, [])
        self.assertIn("giving up", " ".join(messages))
        self.clock.advance(300)
        actions, messages = self.run_once(down)
        self.assertEqual((actions, messages), ([], []))  # "giving up" logged once
        self.clock.advance(RETRY_EXPIRATION)
        actions, _ = self.run_once(down)
        self.assertEqual(actions, [("start", "web1")])

    def test_healthy_resets_counters(self) -> None:
        for _ in range(3):
            self.run_once([inst("web1", "ERROR_down")])
        self.run_once([inst("web1", "running")])
        self.assertNotIn("web1", self.state["instance"])

    def test_locked_instance_untouched(self) -> None:
        actions, messages = self.run_once([inst("web1", "ERROR_down")], locked={"web1"})
        self.assertEqual(actions, [])
        self.assertIn("held by a job", messages[0])
        self.assertEqual(self.state["instance"], {})

    def test_user_down_recorded_not_restarted(self) -> None:
        actions, _ = self.run_once([inst("web1", "USER_down", "up")])
        self.assertEqual(actions, [("record-user-down", "web1")])
        # Once recorded (admin down, source user) nothing more happens.
        actions, _ = self.run_once([inst("web1", "USER_down", "down")])
        self.assertEqual(actions, [])

    def test_admin_down_and_offline_ignored(self) -> None:
        actions, _ = self.run_once(
            [inst("a", "ADMIN_down", "down"), inst("b", "ERROR_nodeoffline"), inst("c", "running")]
        )
        self.assertEqual(actions, [])

    def test_rebooted_node_reactivates_disks(self) -> None:
        instances = [
            inst("a", "running", disks_active=True, pnode="n1"),
            inst("b", "running", disks_active=True, pnode="n2", snodes=("n1",)),
            inst("c", "running", disks_active=False, pnode="n1"),
            inst("d", "ERROR_down", disks_active=True, pnode="n1"),
        ]
        self.run_once(instances[:3], [NodeView("n1", "boot-1"), NodeView("n2", "boot-2")])
        actions, _ = self.run_once(instances[:3], [NodeView("n1", "boot-1")])
        self.assertEqual(actions, [])  # same boot id: nothing to do
        actions, messages = self.run_once(instances, [NodeView("n1", "boot-X")])
        self.assertEqual(
            actions, [("start", "d"), ("activate-disks", "a"), ("activate-disks", "b")]
        )
        self.assertIn("Node n1 was rebooted", messages)
        self.assertEqual(self.state["node"]["n1"], {"bootid": "boot-X"})

    def test_offline_node_ignored(self) -> None:
        self.run_once([], [NodeView("n1", "boot-1", offline=True)])
        self.assertEqual(self.state["node"], {})

    def test_pause(self) -> None:
        now = self.clock.seconds()
        self.assertTrue(paused(str(now + 60), now))
        self.assertFalse(paused(str(now - 1), now))
        self.assertFalse(paused(None, now))
        self.assertFalse(paused("garbage", now))
