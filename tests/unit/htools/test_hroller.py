"""hroller against the reference: every recorded hroller shelltest command."""

from __future__ import annotations

import glob
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.cli import hroller
from tests.unit.htools import helpers as h
from tests.unit.htools import toolreplay as tr
from tests.unit.htools.test_hinfo import parsed


class ShellTests(SynchronousTestCase):
    """Exit code, reboot groups (stdout) and errors equal to the reference."""


def _add() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, _exp, rc, so, se) in enumerate(tr.blocks(path)):
            if not cmd.startswith("./test/hs/hroller"):
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                args, _ = tr.substitute(c)
                code, out, err = tr.run_tool(hroller.run, args)
                self.assertEqual(code, r, err)
                if any(x in args for x in tr.LOOSE):
                    return
                want = [x for x in tr.lines(o) if not x.startswith(("Node Graph", "Dcolor", "LF"))]
                self.assertEqual(parsed(out), parsed("\n".join(want)))
                self.assertEqual(parsed(err), parsed(e))

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add()
