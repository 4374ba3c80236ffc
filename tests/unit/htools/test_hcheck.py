"""hcheck against the reference: recorded outputs and shelltests."""

from __future__ import annotations

import glob
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.cli import hcheck
from tests.unit.htools import helpers as h
from tests.unit.htools import toolreplay as tr
from tests.unit.htools.test_hinfo import parsed


def _recorded(path: str) -> list[tuple[list[str], int, list[str]]]:
    out = []
    text = open(path, encoding="utf-8").read()
    for chunk in text.split("# command: ")[1:]:
        head, *body = chunk.split("\n")
        args = head.replace(" (human)", "").split()[1:]
        args = [h.data_path(a) if not a.startswith("-") else a for a in args]
        rc = int(next(x for x in body if x.startswith("# exit="))[7:])
        want = [x for x in body if x and not x.startswith(("# exit=", "Warning:", "  - node "))]
        out.append((args, rc, want))
    return out


class RecordedOutputs(SynchronousTestCase):
    """Every `<file>.hcheck.txt` block: exit code and every line equal (parsed)."""


def _add_recorded() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "*.hcheck.txt"))):
        base = os.path.basename(path).split(".hcheck")[0].replace("-", "_").replace(".", "_")
        for n, (args, rc, want) in enumerate(_recorded(path)):

            def test(
                self: RecordedOutputs, a: list[str] = args, r: int = rc, w: list[str] = want
            ) -> None:
                code, out, err = tr.run_tool(hcheck.run, a)
                self.assertEqual(code, r, err)
                self.assertEqual(parsed(out), parsed("\n".join(w)))

            setattr(RecordedOutputs, f"test_{base}_{n}", test)


class ShellTests(SynchronousTestCase):
    """Every recorded hcheck shelltest command."""


def _add_shell() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, _exp, rc, so, se) in enumerate(tr.blocks(path)):
            if not cmd.startswith("./test/hs/hcheck"):
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                args, _ = tr.substitute(c)
                code, out, err = tr.run_tool(hcheck.run, args)
                self.assertEqual(code, r, err)
                if any(x in args for x in tr.LOOSE):
                    return
                self.assertEqual(parsed(out), parsed(o))
                self.assertEqual(parsed(err), parsed(e))

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add_recorded()
_add_shell()
