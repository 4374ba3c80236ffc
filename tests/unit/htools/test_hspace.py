"""hspace against the reference: recorded outputs and shelltests."""

from __future__ import annotations

import glob
import os

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.cli import hspace
from tests.unit.htools import helpers as h
from tests.unit.htools import toolreplay as tr


def _recorded(path: str) -> list[tuple[list[str], list[str]]]:
    out = []
    text = open(path, encoding="utf-8").read()
    for chunk in text.split("# command: ")[1:]:
        head, *body = chunk.split("\n")
        args = head.replace(" (human)", "").split()[1:]
        args = [os.path.join(h.DATA, a) if a.endswith(".data") else a for a in args]
        want = [
            x for x in body if x and not x.startswith(("# exit=", "Warning: cluster", "  - node "))
        ]
        out.append((args, want))
    return out


class RecordedOutputs(SynchronousTestCase):
    """Every `<file>.hspace.txt` block: all HTS_* keys / report lines equal."""


def _add_recorded() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "*.hspace.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (args, want) in enumerate(_recorded(path)):

            def test(self: RecordedOutputs, a: list[str] = args, w: list[str] = want) -> None:
                code, out, _err = tr.run_tool(hspace.run, a)
                self.assertEqual(code, 0)
                got = tr.lines(out)
                if got and got[0].startswith("HTS_"):
                    self.assertEqual(tr.parse_hts(out), tr.parse_hts("\n".join(w)))
                    self.assertEqual([x.split("=")[0] for x in got], [x.split("=")[0] for x in w])
                else:
                    self.assertEqual(got, w)

            setattr(RecordedOutputs, f"test_{base}_{n}", test)


class ShellTests(SynchronousTestCase):
    """htools-hspace.test plus the hspace commands of the other files."""


def _add_shell() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, _exp, rc, so, se) in enumerate(tr.blocks(path)):
            if not cmd.startswith("./test/hs/hspace"):
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                args, conds = tr.substitute(c)
                code, out, err = tr.run_tool(hspace.run, args)
                if conds:
                    self.assertEqual(code, 0, err)
                    got = tr.parse_hts(out)
                    for key, val in conds:
                        name = key if key.startswith("HTS_") else "HTS_" + key
                        self.assertEqual(got.get(name), val, key)
                    return
                self.assertEqual(code, r, err)
                if any(x in args for x in tr.LOOSE):
                    return
                self.assertEqual(tr.lines(out), tr.lines(o))
                if "-v" not in args:
                    self.assertEqual(tr.lines(err), tr.lines(e))
                else:
                    bad = [x for x in tr.lines(err) if x.startswith("Bad groups")]
                    self.assertEqual(bad, [x for x in tr.lines(e) if x.startswith("Bad groups")])

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add_recorded()
_add_shell()
