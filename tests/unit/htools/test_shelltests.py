"""Ganeti's hbal shelltests, replayed against the recorded golden outputs.

Every ``hbal`` command of the upstream shelltest files is run in-process
with the variables of upstream's offline-test.sh substituted; exit code,
stdout and stderr must equal the recorded output of the reference program
byte for byte, except where noted in `LOOSE` (usage texts, version string).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from tests.unit.htools import helpers as h

# Commands whose output is program-specific text (help, version, usage).
LOOSE = ("--help", "--version", "--help-completion", "--no-such-option")
UNSUPPORTED = {"-m": "the RAPI backend is not implemented yet"}


def _blocks(path: str) -> list[tuple[str, int, str, str]]:
    text = open(path, encoding="utf-8").read()
    out = []
    for chunk in text.split("### ")[1:]:
        lines = chunk.split("\n")
        cmd = lines[1][2:]
        rc_line = next(x for x in lines if x.startswith("--- actual rc="))
        rc = int(re.match(r"--- actual rc=(\d+)", rc_line)[1])  # type: ignore[index]
        body = "\n".join(lines)
        so = body.index("--- stdout:\n") + len("--- stdout:\n")
        se = body.index("--- stderr:\n")
        stdout = body[so:se]
        stderr = body[se + len("--- stderr:\n") :]
        # the golden file appends one blank line after the stderr text
        stderr = stderr[:-2] if stderr.endswith("\n\n") else stderr.rstrip("\n")
        out.append((cmd, rc, stdout, stderr))
    return out


class ShellTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def replay(self, cmd: str, rc: int, stdout: str, stderr: str) -> None:
        gen = h.GENERATED
        env = {
            "$TESTDATA_DIR": h.DATA,
            "$BACKEND_BAL_STD": "-t" + os.path.join(gen, "simu-rebal-merged.standard"),
            "$BACKEND_BAL_TIER": "-t" + os.path.join(gen, "simu-rebal-merged.tiered"),
            "$BACKEND_DYNU": "-t " + os.path.join(gen, "simu-onegroup.standard"),
            "$BACKEND_EXCL": "-t " + os.path.join(gen, "simu-onegroup.standard"),
        }
        line = cmd
        for k, v in env.items():
            line = line.replace(k, v)
        # $T: inputs come from generated/, outputs go to a temp dir
        pre = ""
        if ";" in line:
            pre, line = line.split(";", 1)
        args = shlex.split(line)[1:]
        written: str | None = None
        for k, a in enumerate(args):
            if "$T/" in a:
                name = a.split("$T/")[1]
                prefix = a.split("$T/")[0]
                if prefix in ("-S", "-C") or (k > 0 and args[k - 1] == "-S"):
                    written = os.path.join(self.tmp, name)
                    args[k] = prefix + written
                else:
                    args[k] = prefix + (
                        os.path.join(self.tmp, name) if name == "dynu" else os.path.join(gen, name)
                    )
        if pre:
            m = re.match(r"echo (.*) >\s*\$T/dynu", pre.strip())
            assert m, pre
            with open(os.path.join(self.tmp, "dynu"), "w") as fh:
                fh.write(m[1] + "\n")
        for opt, why in UNSUPPORTED.items():
            if opt in args and "-t" not in " ".join(args):
                raise self.skipTest(why)
        code, out, err = h.run_hbal(args)
        self.assertEqual(code, rc, err)
        if any(x in args for x in LOOSE):
            return
        if written and "-C" in " ".join(args) and written.endswith("rebal-cmds.standard"):
            with open(written) as fh:
                produced = fh.read()
            with open(os.path.join(gen, "rebal-cmds.standard")) as fh:
                self.assertEqual(produced, fh.read())
            stdout = re.sub(r"file '.*'", "file 'X'", stdout)
            out = re.sub(r"file '.*'", "file 'X'", out)
        elif written and "-C" in " ".join(args):
            stdout = re.sub(r"file '.*'", "file 'X'", stdout)
            out = re.sub(r"file '.*'", "file 'X'", out)
        if written and "-S" in args:
            stderr = re.sub(r"file '.*/", "file '", stderr)
            err = re.sub(r"file '.*/", "file '", err)
            for suffix in (".original", ".balanced"):
                with open(written + suffix) as fh:
                    produced = fh.read()
                with open(os.path.join(gen, os.path.basename(written) + suffix)) as fh:
                    self.assertEqual(produced, fh.read())
        self.assertEqual(out, stdout)
        self.assertEqual(err.rstrip("\n"), stderr.rstrip("\n"))


def _add() -> None:
    for path in sorted(glob.glob(os.path.join(h.REF, "shelltests", "*.golden.txt"))):
        base = os.path.basename(path).split(".")[0].replace("-", "_")
        for n, (cmd, rc, so, se) in enumerate(_blocks(path)):
            if "./test/hs/hbal" not in cmd:
                continue

            def test(self: ShellTests, c: str = cmd, r: int = rc, o: str = so, e: str = se) -> None:
                self.replay(c, r, o, e)

            setattr(ShellTests, f"test_{base}_{n:03d}", test)


_add()
