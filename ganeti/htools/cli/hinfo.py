"""hinfo: cluster information summary (same options and output as Ganeti's)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from ganeti.htools import hinfo as hi
from ganeti.htools.cli import common
from ganeti.htools.output import instance_table, node_table, parse_node_fields
from ganeti.htools.types import HToolsError

USAGE = """Usage: hinfo [OPTION...]
  -p[FIELDS]  --print-nodes[=FIELDS]  print the final node list
              --print-instances       print the final instance map
  -t FILE     --text-data=FILE        the cluster data FILE
  -I FILE     --ialloc-src=FILE       an iallocator request as the cluster data source
  -v          --verbose               increase the verbosity level
  -q          --quiet                 decrease the verbosity level
  -O NODE     --offline=NODE          set node as offline
              --ignore-dynu           ignore any dynamic utilisation information
  -V          --version               show the version of the program
  -h          --help                  show help
"""


def make_parser() -> argparse.ArgumentParser:
    return common.make_parser("hinfo")


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    opts = common.prologue(make_parser(), argv, USAGE, "hinfo", out, err)
    if isinstance(opts, int):
        return opts
    verbose = 1 + opts.verbose - opts.quiet
    node_fields = None
    if opts.print_nodes is not None:
        node_fields = parse_node_fields(opts.print_nodes)
    data = common.load_data(opts)
    c = common.build_cluster(data, opts, err)
    if node_fields is not None:
        try:
            node_table(c, [], node_fields)
        except KeyError as exc:
            raise HToolsError(f"Unknown field '{exc.args[0]}'") from None
    info = hi.summarize(c)
    head, tail = hi.report_lines(c, info, verbose)
    out.write("".join(x + "\n" for x in head))
    if c.split_instances:
        for i in c.split_instances:
            err.write(f"  {c.inst_names[i]}\n")
    if opts.print_instances:
        err.write("\nInstances instance map:\n")
        insts = np.arange(c.n_instances, dtype=np.int64)
        err.write("".join(x + "\n" for x in instance_table(c, insts)))
    if node_fields is not None:
        err.write("\nCluster status:\n")
        nodes = np.arange(c.n_nodes, dtype=np.int64)
        err.write("".join(x + "\n" for x in node_table(c, nodes, node_fields)) + "\n")
    out.write("".join(x + "\n" for x in tail))
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
