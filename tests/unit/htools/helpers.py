"""Shared helpers for the htools tests: fixture paths and running hbal."""

from __future__ import annotations

import io
import os
import re

from ganeti.htools.cli import hbal
from ganeti.htools.cli.common import RawError
from ganeti.htools.types import HToolsError

DATA = os.path.join(os.path.dirname(__file__), "data")
GENERATED = os.path.join(DATA, "generated")
REF = os.path.join(DATA, "ref")


def data_path(name: str) -> str:
    direct = os.path.join(DATA, name)
    return direct if os.path.exists(direct) else os.path.join(GENERATED, name)


def run_hbal(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = hbal.run(args, out, err)
    except RawError as exc:
        err.write(f"{exc}\n")
        code = 1
    except HToolsError as exc:
        err.write(f"Error: {exc}\n")
        code = 1
    return code, out.getvalue(), err.getvalue()


PLAN_RE = re.compile(r"^\s+(\d+)\. (\S+)\s+(\S+)\s+=> (\S+)\s+([0-9.]+) a=(.*)$")


def plan(lines: list[str]) -> list[tuple[int, str, str, str, float, str]]:
    out = []
    for line in lines:
        m = PLAN_RE.match(line)
        if m:
            out.append((int(m[1]), m[2], m[3], m[4], float(m[5]), m[6]))
    return out


def coefficient_tables(lines: list[str]) -> dict[str, list[tuple[str, float, str]]]:
    tables: dict[str, list[tuple[str, float, str]]] = {}
    for k, line in enumerate(lines):
        m = re.match(r"^(Initial|Final) coefficients:\s+overall (\S+)$", line)
        if not m:
            continue
        rows = [("overall", float(m[2]), "")]
        for row in lines[k + 2 : k + 22]:
            name, value, weight = row.split()
            rows.append((name, float(value), weight))
        tables[m[1]] = rows
    return tables


def commands(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if line.strip().startswith(("gnt-instance", "echo"))]


def is_subsequence(lines: list[str], ref: list[str]) -> bool:
    it = iter(ref)
    return all(any(line == r for r in it) for line in lines)
