"""Replaying recorded shelltest commands of hspace/hroller/hcheck/hinfo/hsqueeze.

Each golden block holds the upstream command, its parsed expectation and
the reference program's actual stdout/stderr/exit code.  `replay` runs the
command in-process and compares against the *actual* recorded output
(exit code, stdout lines, stderr lines), or, for the ``> $T/capacity &&
sh -c ". $T/capacity && test ..."`` pipelines, checks every ``test
"${KEY}" = value`` condition against our ``HTS_*`` output.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Callable
from typing import TextIO

from ganeti.htools.cli.common import RawError
from ganeti.htools.types import HToolsError
from tests.unit.htools import helpers as h

SHARED_GEN = "/work/shared/data/htools/generated"
LOOSE = ("--help", "--version", "--help-completion", "--no-such-option")

Runner = Callable[[list[str], TextIO, TextIO], int]


def blocks(path: str) -> list[tuple[str, str, int, str, str]]:
    text = open(path, encoding="utf-8").read()
    out = []
    for chunk in text.split("### ")[1:]:
        lines = chunk.split("\n")
        cmd = lines[1][2:]
        expect = lines[2]
        rc_line = next(x for x in lines if x.startswith("--- actual rc="))
        rc = int(re.match(r"--- actual rc=(\d+)", rc_line)[1])  # type: ignore[index]
        body = "\n".join(lines)
        so = body.index("--- stdout:\n") + len("--- stdout:\n")
        se = body.index("--- stderr:\n")
        out.append((cmd, expect, rc, body[so:se], body[se + len("--- stderr:\n") :]))
    return out


def run_tool(run: Runner, args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = run(args, out, err)
    except RawError as exc:
        err.write(f"{exc}\n")
        code = 1
    except HToolsError as exc:
        err.write(f"Error: {exc}\n")
        code = 1
    return code, out.getvalue(), err.getvalue()


def gen_path(name: str) -> str:
    local = os.path.join(h.GENERATED, name)
    return local if os.path.exists(local) else os.path.join(SHARED_GEN, name)


def substitute(cmd: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Arguments of the tool command and the ``test`` conditions (if any)."""
    conds: list[tuple[str, str]] = []
    line = cmd
    if "> $T/capacity" in line:
        line, rest = line.split("> $T/capacity", 1)
        for key, val in re.findall(
            r'test \\?"?\\?\$\{?\\?\$?\{?(\w+)\}?\\?"? = (\'[^\']*\'|\S+)', rest
        ):
            conds.append((key, val.strip("'\"")))
        for val, key in re.findall(r"test x\\?\$(\w+) = x(\S+)", rest):
            conds.append((val, key.strip('"')))
    line = line.replace("$TESTDATA_DIR", h.DATA)
    line = line.replace("$BACKEND_BAL_STD", "-t" + gen_path("simu-rebal-merged.standard"))
    line = line.replace("$BACKEND_BAL_TIER", "-t" + gen_path("simu-rebal-merged.tiered"))
    args = shlex.split(line)[1:]
    args = [re.sub(r"\$T/(\S+)", lambda mt: gen_path(mt[1]), a) for a in args]
    return args, conds


def parse_hts(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k] = v.strip("'")
    return out


def lines(text: str) -> list[str]:
    return [x.rstrip() for x in text.strip("\n").split("\n") if x.strip()]
