"""hail: every shared IAllocator request and the hail shelltests vs the reference.

Responses are compared as parsed JSON (success, info, result); the shelltest
replays compare exit code and parsed stdout, and stderr line by line.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shlex
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from ganeti.htools.cli import hail as hail_cli
from ganeti.htools.hail import HailOptions, run_request
from tests.unit.htools import helpers as h
from tests.unit.htools.test_shelltests import _blocks


def run_hail(args: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = hail_cli.run(args, out, err, io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


class ReferenceOutputs(SynchronousTestCase):
    pass


def _add_reference() -> None:
    for path in sorted(glob.glob(os.path.join(h.DATA, "hail-*.json"))):
        base = os.path.basename(path)[: -len(".json")]
        ref = os.path.join(h.REF, base + ".hail.txt")

        def test(self: ReferenceOutputs, p: str = path, r: str = ref) -> None:
            text = open(r, encoding="utf-8").read()
            code, out, err = run_hail([p])
            want_rc = int(re.search(r"# exit=(\d+)", text)[1])  # type: ignore[index]
            self.assertEqual(code, want_rc, err)
            m = re.search(r"^\{.*\}$", text, re.M)
            if m:
                self.assertEqual(json.loads(out), json.loads(m[0]))
                with open(p, encoding="utf-8") as fh:
                    self.assertEqual(run_request(json.load(fh), HailOptions()), json.loads(m[0]))
            else:
                self.assertIn(text.splitlines()[1], err)

        setattr(ReferenceOutputs, "test_" + base.replace("-", "_"), test)


_add_reference()


# Shelltests known to differ from the reference (command suffix -> reason);
# none at the moment.
KNOWN: dict[str, str] = {}


class HailShellTests(SynchronousTestCase):
    def replay(self, cmd: str, rc: int, stdout: str, stderr: str) -> None:
        for pat, why in KNOWN.items():
            if cmd.endswith(pat):
                raise self.skipTest("known difference: " + why)
        line = cmd.replace("$TESTDATA_DIR", h.DATA).replace("$T/", h.GENERATED + "/")
        line = line.replace("-t" + h.GENERATED, "-t " + h.GENERATED)
        stdin = ""
        if "|" in line:
            pre, line = line.rsplit("|", 1)
            if pre.strip().startswith("echo"):
                stdin = shlex.split(pre)[1] + "\n"
            else:
                stdin = subprocess.run(pre, shell=True, capture_output=True, text=True).stdout
        if "&&" in line or ">/dev/null" in line:
            raise self.skipTest("compound -S command (checked in test_save)")
        args = shlex.split(line)[1:]
        code, out, err = run_hail(args, stdin)
        self.assertEqual(code, rc, err)
        if stdout.strip().startswith("{"):
            self.assertEqual(json.loads(out), json.loads(stdout))
        else:
            self.assertEqual(out.strip(), stdout.strip())
        if "-v" in args:
            return
        self.assertEqual(err.strip(), stderr.strip())


def _add_shell() -> None:
    path = os.path.join(h.REF, "shelltests", "htools-hail.test.golden.txt")
    for n, (cmd, rc, so, se) in enumerate(_blocks(path)):

        def test(self: HailShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
            self.replay(c, r, o, e)

        setattr(HailShellTests, f"test_{n:03d}", test)


_add_shell()


class SaveState(SynchronousTestCase):
    def test_save(self) -> None:
        import tempfile

        tmp = tempfile.mkdtemp()
        code, _out, _err = run_hail(
            [os.path.join(h.DATA, "hail-alloc-drbd.json"), "-S", os.path.join(tmp, "x")]
        )
        self.assertEqual(code, 0)
        pre = open(os.path.join(tmp, "x.pre-ialloc")).read()
        post = open(os.path.join(tmp, "x.post-ialloc")).read()
        self.assertNotEqual(pre, post)
