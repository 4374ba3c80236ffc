"""Automatic failover decisions: majority and a single, predictable successor."""

from __future__ import annotations

import json
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from ganeti.noded.autofailover import choose_successor, decide, read_timeout
from ganeti.paths import Paths


class DecisionTests(SynchronousTestCase):
    def test_majority_needed(self) -> None:
        # 3 nodes: the master and two candidates; only this one misses the master.
        d = decide("n2", 3, 1, {"n2": 10, "n3": 10})
        self.assertFalse(d.take_over)
        self.assertIn("only 1 of 3", d.reason)

    def test_one_successor_newest_config_then_name(self) -> None:
        serials: dict[str, int | None] = {"n2": 10, "n3": 10, "n4": 9}
        self.assertTrue(decide("n2", 4, 3, serials).take_over)
        self.assertFalse(decide("n3", 4, 3, serials).take_over)
        self.assertFalse(decide("n4", 4, 3, serials).take_over)
        self.assertEqual(choose_successor({"n2": 9, "n3": 11, "n4": None}), "n3")
        self.assertIsNone(choose_successor({"n2": None}))

    def test_all_candidates_agree(self) -> None:
        serials: dict[str, int | None] = {"a": 5, "b": 7, "c": 7}
        chosen = [me for me in serials if decide(me, 4, 3, serials).take_over]
        self.assertEqual(chosen, ["b"])

    def test_timeout_from_config(self) -> None:
        paths = Paths(self.mktemp())
        self.assertEqual(read_timeout(paths), 0.0)
        paths.config_data.parent.mkdir(parents=True)
        paths.config_data.write_text(json.dumps({"cluster": {"auto_failover_timeout": 30}}))
        self.assertEqual(read_timeout(paths), 30.0)
        paths.config_data.write_text(json.dumps({"cluster": {}}))
        self.assertEqual(read_timeout(paths), 0.0)
        Path(paths.config_data).write_text("{broken")
        self.assertEqual(read_timeout(paths), 0.0)
