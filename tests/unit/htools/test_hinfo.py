"""hinfo against the reference: every recorded hinfo shelltest command.

Stdout and stderr are compared line by line on parsed values: each line is
split into whitespace-separated fields, numbers compared as numbers.
"""

from __future__ import annotations

import glob
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.cli import hinfo
from tests.unit.htools import helpers as h
from tests.unit.htools import toolreplay as tr


def parsed(text: str) -> list[list[object]]:
    """Lines as lists of fields; numeric fields become floats."""
    out: list[list[object]] = []
    for line in tr.lines(text):
        row: list[object] = []
        for tok in line.split():
            try:
                row.append(round(float(tok), 8))
            except ValueError:
                row.append(tok)
        out.append(row)
    return out


class ShellTests(SynchronousTestCase):
    """Exit code, stdout and stderr equal to the reference's (parsed)."""


def _add() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, _exp, rc, so, se) in enumerate(tr.blocks(path)):
            if not cmd.startswith("./test/hs/hinfo"):
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                args, _ = tr.substitute(c)
                code, out, err = tr.run_tool(hinfo.run, args)
                self.assertEqual(code, r, err)
                if any(x in args for x in tr.LOOSE):
                    return
                self.assertEqual(parsed(out), parsed(o))
                self.assertEqual(parsed(err), parsed(e))

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add()


class Behaviour(SynchronousTestCase):
    def test_no_arguments_allowed(self) -> None:
        code, _out, err = tr.run_tool(hinfo.run, ["-t", h.data_path("n1-failure.data"), "x"])
        self.assertEqual(code, 1)
        self.assertIn("doesn't take any arguments", err)

    def test_bad_option(self) -> None:
        code, _out, err = tr.run_tool(hinfo.run, ["--no-such-option"])
        self.assertEqual(code, 2)
        self.assertIn("Usage: hinfo", err)

    def test_unknown_field(self) -> None:
        code, _out, err = tr.run_tool(hinfo.run, ["-t", h.data_path("n1-failure.data"), "-pxyz"])
        self.assertEqual(code, 1)
        self.assertIn("Unknown field 'xyz'", err)

    def test_not_n1_happy(self) -> None:
        code, out, _err = tr.run_tool(hinfo.run, ["-v", "-t", h.data_path("n1-failure.data")])
        self.assertEqual(code, 0)
        self.assertIn("Cluster is not N+1 happy", out)
        self.assertIn("Node group information:", out)
