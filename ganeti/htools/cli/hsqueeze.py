"""hsqueeze: dynamic power management (same options and output as Ganeti's)."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from ganeti.htools import hsqueeze as hq
from ganeti.htools.backend.text import serialize_cluster
from ganeti.htools.cli import common
from ganeti.htools.jobs import command_lines
from ganeti.htools.types import HToolsError

USAGE = """Usage: hsqueeze [OPTION...]
  -t FILE  --text-data=FILE          the cluster data FILE
  -C[FILE] --print-commands[=FILE]   print (or save) the commands to run
  -S FILE  --save=FILE               save the squeezed cluster state to FILE.squeezed
           --minimal-resources=FACTOR  minimal resources, in standard specs, every
                                       node must have free (default 2.0)
           --target-resources=FACTOR   resources, in standard specs, to keep free on
                                       every node when offlining (default 2.0)
           --no-headers              do not print the header line
  -O NODE, -v, -q, -V, -h
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.make_parser("hsqueeze")
    p.add_argument("-C", "--print-commands", dest="print_commands", nargs="?", const="-")
    p.add_argument("--minimal-resources", dest="minimal_resources", default="2.0")
    p.add_argument("--target-resources", dest="target_resources", default="2.0")
    p.add_argument("--no-headers", action="store_true")
    return p


def _factor(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise common.RawError(
            f"Error while parsing command line arguments:\nInvalid value '{text}' for {name}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise common.RawError(
            f"Error while parsing command line arguments:\nInvalid value '{text}' for {name}"
        )
    return value


def _commands(plan: hq.SqueezePlan) -> list[str]:
    c = plan.cluster
    names = [c.node_alias[n] for n in plan.nodes]
    moves = command_lines(c, plan.steps, script=False)
    if plan.action == "offline":
        lines = list(moves)
        lines += ["  ", "  echo Tagging Commands"]
        lines += [f"    gnt-node add-tags {n} {hq.STANDBY_AUTO_TAG}" for n in names]
        lines += ["  ", "  echo Power Commands"]
        lines += [f"    gnt-node power -f off {n}" for n in names]
        return lines
    if plan.action == "online":
        lines = ["  echo Power Commands"]
        lines += [f"    gnt-node power -f on {n}" for n in names]
        return lines + moves
    return []


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    opts = common.prologue(make_parser(), argv, USAGE, "hsqueeze", out, err)
    if isinstance(opts, int):
        return opts
    sopts = hq.SqueezeOptions(
        minimal_resources=_factor(opts.minimal_resources, "minimal-resources"),
        target_resources=_factor(opts.target_resources, "target-resources"),
    )
    verbose = 1 + opts.verbose - opts.quiet
    data = common.load_data(opts)
    c = common.build_cluster(data, opts, err)
    plan = hq.plan(c, sopts)
    lines: list[str] = []
    if verbose > 1:
        lines.append(
            "Offline candidates: " + ",".join(c.node_alias[n] for n in plan.offline_candidates)
        )
        lines.append(
            "Online candidates: " + ",".join(c.node_alias[n] for n in plan.online_candidates)
        )
    header = {
        "offline": "'Nodes to offline'",
        "online": "'Nodes to online'",
        "none": "'No action'",
    }[plan.action]
    if not opts.no_headers:
        lines.append(header)
    lines += [c.node_alias[n] for n in plan.nodes]
    if not plan.enough_capacity and verbose > 1:
        lines.append("Onlining all nodes will not yield enough capacity")
    out.write("".join(x + "\n" for x in lines))
    if opts.print_commands is not None and plan.action != "none":
        cmds = _commands(plan)
        if opts.print_commands == "-":
            out.write("\nCommands to run:\n" + "".join(x + "\n" for x in cmds))
        else:
            text = "".join(x.strip() + "\n" for x in cmds if x.strip())
            try:
                with open(opts.print_commands, "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise HToolsError(f"cannot write commands file: {exc}") from None
            out.write(f"The commands have been written to file '{opts.print_commands}'\n")
    if opts.save:
        path = opts.save + ".squeezed"
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(serialize_cluster(plan.cluster))
        except OSError as exc:
            raise HToolsError(f"cannot write state file: {exc}") from None
        err.write(f"The cluster state after hsqueeze has been written to file '{path}'\n")
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
