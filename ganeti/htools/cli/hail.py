"""hail: the IAllocator plugin (``hail [options] FILE|-``)."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ganeti.htools.backend.iallocator import parse_request
from ganeti.htools.backend.text import load_text_file
from ganeti.htools.cli.common import RawError, UsageError, _Parser, data_warnings
from ganeti.htools.hail import HailOptions, answer
from ganeti.htools.types import HToolsError


def _parser() -> _Parser:
    p = _Parser(prog="hail", add_help=False, allow_abbrev=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    p.add_argument("-t", "--text-data", dest="text_data")
    p.add_argument("--simulate", "--simu", dest="simulate", action="append", default=[])
    p.add_argument("-p", "--print-nodes", dest="print_nodes", nargs="?", const="")
    p.add_argument("-S", "--save", dest="save")
    p.add_argument("--ignore-dynu", action="store_true")
    p.add_argument("--ignore-soft-errors", action="store_true")
    p.add_argument("--no-capacity-checks", action="store_true")
    p.add_argument("--restrict-allocation-to", dest="restrict")
    p.add_argument("--static-kvm-node-memory", type=int, default=4096)
    p.add_argument("--mond", choices=["yes", "no"], default="no")
    p.add_argument("--mond-data")
    p.add_argument("--mond-xen", action="store_true")
    p.add_argument("--exit-on-missing-mond-data", action="store_true")
    p.add_argument("args", nargs="*")
    return p


USAGE = "Usage: hail [OPTION...] input-file"


def run(argv: Sequence[str], out: TextIO, err: TextIO, stdin: TextIO | None = None) -> int:
    try:
        opts = _parser().parse_args(list(argv))
    except UsageError as exc:
        err.write(f"Error while parsing command line arguments:\n{exc}\n{USAGE}\n")
        return 2
    if opts.help:
        out.write(USAGE + "\n")
        return 0
    if opts.version:
        out.write("hail (ganeti-py) version 3.0.2-compatible\n")
        return 0
    if len(opts.args) != 1:
        err.write("Error: this program needs an input file.\n")
        return 1
    path = opts.args[0]
    try:
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
    except OSError as exc:
        err.write(f"Error: {exc}\n")
        return 1
    try:
        inp = parse_request(text)
        data = None
        if opts.text_data is not None:
            data = load_text_file(opts.text_data)
        elif opts.simulate:
            from ganeti.htools.backend.simu import load_simulation

            data = load_simulation(opts.simulate)
        shown = data if data is not None else inp.data
        for src in [inp.data] + ([data] if data is not None else []):
            warnings = data_warnings(src)
            if warnings:
                err.write("Warning: cluster has inconsistent data:\n")
                for w in warnings:
                    err.write(f"  - {w}\n")
                err.write("\n")
        hopts = HailOptions(
            ignore_soft_errors=opts.ignore_soft_errors,
            capacity_checks=not opts.no_capacity_checks,
            restrict_to=tuple(x for x in opts.restrict.split(",") if x) if opts.restrict else None,
            ignore_dynu=opts.ignore_dynu,
        )
        if opts.save:
            from ganeti.htools.backend.text import serialize_cluster
            from ganeti.htools.hail import build

            with open(opts.save + ".pre-ialloc", "w", encoding="utf-8") as fh:
                fh.write(serialize_cluster(build(copy.deepcopy(shown), hopts)))
        resp = answer(inp, hopts, data)
        if opts.save:
            with open(opts.save + ".post-ialloc", "w", encoding="utf-8") as fh:
                fh.write(json.dumps(resp) + "\n")
    except RawError as exc:
        err.write(f"{exc}\n")
        return 1
    except HToolsError as exc:
        err.write(f"Error: {exc}\n")
        return 1
    out.write(json.dumps(resp, separators=(",", ":")) + "\n")
    return 0


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdout, sys.stderr))
