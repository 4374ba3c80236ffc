"""hroller: plan node reboot groups (same options and output as Ganeti's)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from ganeti.htools.cli import common
from ganeti.htools.hroller import HrollerOptions, reboot_groups
from ganeti.htools.types import HToolsError

USAGE = """Usage: hroller [OPTION...]
  -t FILE --text-data=FILE  the cluster data FILE
  -O NODE                   set node as offline
  -G GROUP                  only this node group
  --node-tags=TAGS          only nodes with one of these tags
  --offline-maintenance     instances are shut down: only DRBD pairs conflict
  --ignore-non-redundant    do not move non-redundant instances
  --skip-non-redundant      skip nodes with non-redundant instances
  --full-evacuation         also move DRBD primaries and secondaries away
  --one-step-only           only print the first reboot group
  --print-moves             print the instance moves of each group
  --no-headers              omit the headers
  -f --force                proceed without a master node
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.make_parser("hroller")
    p.add_argument("--node-tags", dest="node_tags")
    p.add_argument("--offline-maintenance", action="store_true")
    p.add_argument("--ignore-non-redundant", action="store_true")
    p.add_argument("--skip-non-redundant", action="store_true")
    p.add_argument("--full-evacuation", action="store_true")
    p.add_argument("--one-step-only", action="store_true")
    p.add_argument("--print-moves", action="store_true")
    p.add_argument("--no-headers", action="store_true")
    p.add_argument("-f", "--force", action="store_true")
    return p


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    opts = common.prologue(make_parser(), argv, USAGE, "hroller", out, err)
    if isinstance(opts, int):
        return opts
    data = common.load_data(opts)
    c = common.build_cluster(data, opts, err)
    hopts = HrollerOptions(
        node_tags=tuple(t for t in opts.node_tags.split(",") if t) if opts.node_tags else None,
        offline_maintenance=opts.offline_maintenance,
        ignore_non_redundant=opts.ignore_non_redundant,
        skip_non_redundant=opts.skip_non_redundant,
        full_evacuation=opts.full_evacuation,
        force=opts.force,
        group=opts.group,
    )
    plan = None
    try:
        plan = reboot_groups(c, hopts)
    finally:
        if plan is None and opts.force and not c.node_master.any():
            err.write("Warning: No master node found (maybe not supported by backend).\n")
    for w in plan.warnings:
        err.write(w + "\n")
    lines: list[str] = []

    def moves(k: int) -> None:
        if opts.print_moves:
            for i, p, s in plan.moves[k]:
                extra = f" {c.node_alias[s]}" if s >= 0 else ""
                lines.append(f"  {c.inst_alias[i]} {c.node_alias[p]}{extra}")

    if opts.one_step_only:
        if not opts.no_headers:
            lines.append("'First Reboot Group'")
        if plan.groups:
            lines += [c.node_alias[n] for n in plan.groups[0]]
            moves(0)
    else:
        if not opts.no_headers:
            lines.append("'Node Reboot Groups'")
        for k, grp in enumerate(plan.groups):
            lines.append(",".join(c.node_alias[n] for n in grp))
            moves(k)
    out.write("".join(x + "\n" for x in lines))
    return 0


def main() -> None:
    try:
        code = run(sys.argv[1:], sys.stdout, sys.stderr)
    except common.RawError as exc:
        sys.stderr.write(f"{exc}\n")
        code = 1
    except HToolsError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        code = 1
    sys.exit(code)
