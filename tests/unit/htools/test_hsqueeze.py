"""hsqueeze against the reference: every recorded hsqueeze shelltest command.

Stdout and stderr are compared line by line on parsed fields (whitespace
does not matter); the exit code must be equal.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools import hsqueeze as hq
from ganeti.htools.backend.text import load_text_file
from ganeti.htools.cli import hsqueeze
from ganeti.htools.model import Cluster
from tests.unit.htools import helpers as h
from tests.unit.htools import toolreplay as tr
from tests.unit.htools.test_hinfo import parsed


class ShellTests(SynchronousTestCase):
    """Exit code, stdout and stderr equal to the reference's (parsed)."""


def _add() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, _exp, rc, so, se) in enumerate(tr.blocks(path)):
            if not cmd.startswith("./test/hs/hsqueeze"):
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                args, _ = tr.substitute(c)
                code, out, err = tr.run_tool(hsqueeze.run, args)
                self.assertEqual(code, r, err)
                if any(x in args for x in tr.LOOSE):
                    return
                self.assertEqual(parsed(out), parsed(o))
                self.assertEqual(parsed(err), parsed(e))

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add()


def _cluster(name: str) -> Cluster:
    d = load_text_file(h.data_path(name))
    return Cluster.build(d.groups, d.nodes, d.instances, d.cluster_tags, d.ipolicy)


class Logic(SynchronousTestCase):
    def test_candidates_underutilized(self) -> None:
        c = _cluster("hsqueeze-underutilized.data")
        names = [c.node_names[n] for n in hq.offline_candidates(c)]
        self.assertEqual(names, [f"node-01-00{k}" for k in range(1, 6)])
        self.assertEqual(hq.online_candidates(c), [])

    def test_candidates_mixed(self) -> None:
        c = _cluster("hsqueeze-mixed-instances.data")
        self.assertEqual([c.node_names[n] for n in hq.offline_candidates(c)], ["node-01-001"])

    def test_offline_plan_keeps_capacity(self) -> None:
        c = _cluster("hsqueeze-underutilized.data")
        p = hq.plan(c, hq.SqueezeOptions())
        self.assertEqual(p.action, "offline")
        self.assertTrue(hq.all_instances_online(p.cluster))
        self.assertTrue(hq.all_nodes_can_host(p.cluster, hq.spec_instance(c, 2.0, "t")))
        self.assertTrue(all(p.cluster.offline[n] for n in p.nodes))
        # the input cluster is left untouched
        self.assertFalse(c.offline.any())

    def test_online_plan(self) -> None:
        c = _cluster("hsqueeze-overutilized.data")
        p = hq.plan(c, hq.SqueezeOptions())
        self.assertEqual(p.action, "online")
        self.assertEqual([c.node_names[n] for n in p.nodes], ["node-01-002", "node-01-004"])
        self.assertTrue(p.enough_capacity)

    def test_spec_instance_rounds_down(self) -> None:
        c = _cluster("hsqueeze-underutilized.data")
        spec = hq.spec_instance(c, 1.5, "x")
        self.assertEqual(
            (spec.mem, spec.vcpus, spec.spindle_use), (192, 1, 1)
        )  # default std spec: 128 MB


class Behaviour(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def test_bad_factor(self) -> None:
        data = h.data_path("hsqueeze-underutilized.data")
        code, _out, err = tr.run_tool(hsqueeze.run, ["-t", data, "--target-resources=abc"])
        self.assertEqual(code, 1)
        self.assertIn("Invalid value 'abc'", err)

    def test_no_arguments_allowed(self) -> None:
        data = h.data_path("hsqueeze-underutilized.data")
        code, _out, err = tr.run_tool(hsqueeze.run, ["-t", data, "extra"])
        self.assertEqual(code, 1)
        self.assertIn("doesn't take any arguments", err)

    def test_no_backend(self) -> None:
        code, _out, err = tr.run_tool(hsqueeze.run, [])
        self.assertEqual(code, 1)
        self.assertIn("No backend selected", err)

    def test_save_and_command_file(self) -> None:
        data = h.data_path("hsqueeze-underutilized.data")
        save = os.path.join(self.tmp, "state")
        cmds = os.path.join(self.tmp, "cmds")
        code, out, err = tr.run_tool(hsqueeze.run, ["-t", data, "-S", save, f"-C{cmds}"])
        self.assertEqual(code, 0, err)
        self.assertIn(f"written to file '{cmds}'", out)
        self.assertIn(f"'{save}.squeezed'", err)
        with open(cmds) as fh:
            text = fh.read()
        self.assertIn("gnt-node power -f off node-01-005", text)
        squeezed = load_text_file(save + ".squeezed")
        off = sorted(n.name for n in squeezed.nodes if n.offline)
        self.assertEqual(off, ["node-01-004", "node-01-005"])
