"""Option parsing and cluster loading shared by the htools programs."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from ganeti.htools.backend.text import ClusterData, load_text_file
from ganeti.htools.model import Cluster, lookup_instances
from ganeti.htools.types import LOCAL_STORAGE_TEMPLATES, HToolsError

VERSION = "hbal (ganeti-py) version 3.0.2-compatible"
PRIORITIES = ("low", "normal", "high")


class RawError(HToolsError):
    """An error printed as is (no ``Error:`` prefix)."""


class UsageError(Exception):
    """Command-line syntax error: exit code 2, like GetOpt failures."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def make_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("-V", "--version", action="store_true")
    p.add_argument("--help-completion", action="store_true")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    p.add_argument("-t", "--text-data", dest="text_data")
    p.add_argument("-m", dest="rapi")
    p.add_argument("-L", "--luxi", dest="luxi", nargs="?", const="")
    p.add_argument("--rapi-ca-file", dest="rapi_ca_file")  # not in Ganeti: verify RAPI TLS
    p.add_argument("-I", "--ialloc-src", dest="ialloc_src")
    p.add_argument("-O", "--offline", dest="offline", action="append", default=[])
    p.add_argument("-G", "--group", dest="group")
    p.add_argument("-U", "--util-file", dest="util_file")
    p.add_argument("--ignore-dynu", action="store_true")
    p.add_argument("--ignore-soft-errors", action="store_true")
    p.add_argument("--exclusion-tags", dest="exclusion_tags")
    p.add_argument("--max-cpu", dest="max_cpu", type=float)
    p.add_argument("--min-disk", dest="min_disk", type=float)
    p.add_argument("-p", "--print-nodes", dest="print_nodes", nargs="?", const="")
    p.add_argument("--print-instances", action="store_true")
    p.add_argument("-S", "--save", dest="save")
    p.add_argument("--static-kvm-node-memory", type=int, default=4096)
    p.add_argument("--mond", choices=["yes", "no"], default="no")
    p.add_argument("--mond-data")
    p.add_argument("--mond-xen", action="store_true")
    p.add_argument("--exit-on-missing-mond-data", action="store_true")
    p.add_argument("--priority", "--prio", dest="priority")
    p.add_argument("args", nargs="*")
    return p


def parse_common(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    opts = parser.parse_args(list(argv))
    if opts.priority is not None and opts.priority not in PRIORITIES:
        raise RawError(
            f"Error while parsing command line arguments:\nUnknown priority '{opts.priority}'"
        )
    return opts


def parse_util_file(path: str) -> dict[str, tuple[float, float, float, float]]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as err:
        raise HToolsError(f"can't parse utilisation data: {err}") from None
    out: dict[str, tuple[float, float, float, float]] = {}
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 5:
            raise HToolsError(f"can't parse utilisation data: Cannot parse line {line}")
        vals = []
        for v in parts[1:]:
            try:
                vals.append(float(v))
            except ValueError:
                raise HToolsError(
                    f"can't parse utilisation data: {parts[0]}: cannot parse string '{v}'"
                ) from None
        out[parts[0]] = (vals[0], vals[1], vals[2], vals[3])
    return out


def load_data(opts: argparse.Namespace) -> ClusterData:
    sources = [x for x in (opts.text_data, opts.rapi, opts.luxi, opts.ialloc_src) if x is not None]
    if len(sources) > 1:
        raise HToolsError("Only one of the rapi, luxi, and data files options should be given.")
    if opts.text_data is not None:
        return load_text_file(opts.text_data)
    if opts.rapi is not None:
        from ganeti.htools.backend.rapi import load_rapi

        return load_rapi(opts.rapi, ca_file=getattr(opts, "rapi_ca_file", None))
    if opts.luxi is not None:
        from ganeti.htools.backend.luxi import load_luxi

        return load_luxi(opts.luxi or None)
    if opts.ialloc_src is not None:
        from ganeti.htools.backend.iallocator import load_request_file

        return load_request_file(opts.ialloc_src).data
    raise HToolsError("failed to load data, aborting: No backend selected! Exiting.")


def data_warnings(data: ClusterData) -> list[str]:
    """Nodes whose reported free memory/disk disagree with their instances."""
    out = []
    used_mem = [0] * len(data.nodes)
    used_dsk = [0] * len(data.nodes)
    for inst in data.instances:
        if inst.forthcoming:
            continue
        from ganeti.htools.types import MEMORY_USING_STATES

        if inst.status in MEMORY_USING_STATES:
            used_mem[inst.pnode] += inst.mem
        if inst.template in LOCAL_STORAGE_TEMPLATES:
            used_dsk[inst.pnode] += inst.dsk
            if inst.snode >= 0:
                used_dsk[inst.snode] += inst.dsk
    for k, n in enumerate(data.nodes):
        if n.offline:
            continue
        x_mem = int(n.t_mem) - n.n_mem - used_mem[k] - n.f_mem
        x_dsk = int(n.t_dsk) - used_dsk[k] - n.f_dsk
        if x_mem > 512 or x_dsk > 1024:
            out.append(f"node {n.name} is missing {x_mem} MB ram and {x_dsk // 1024} GB disk")
    return out[::-1]


def build_cluster(data: ClusterData, opts: argparse.Namespace, err: TextIO) -> Cluster:
    """Apply load-time options (-U, --ignore-dynu, -O, tags) and build the model."""
    if opts.util_file:
        util = parse_util_file(opts.util_file)
        for inst in data.instances:
            if inst.name in util:
                inst.util = util[inst.name]
    if opts.ignore_dynu:
        for inst in data.instances:
            inst.util = (0.0, 0.0, 0.0, 0.0)
    names = {n.name: k for k, n in enumerate(data.nodes)}
    off_idx = []
    for name in opts.offline:
        if name in names:
            off_idx.append(names[name])
            continue
        matches = [k for n, k in names.items() if n.startswith(name + ".")]
        if len(matches) != 1:
            raise HToolsError(f"Unknown node(s): {json.dumps([name])}")
        off_idx.append(matches[0])
    for k in off_idx:
        data.nodes[k].offline = True
    warnings = data_warnings(data)
    if warnings:
        err.write("Warning: cluster has inconsistent data:\n")
        for w in warnings:
            err.write(f"  - {w}\n")
        err.write("\n")
    extra = opts.exclusion_tags.split(",") if opts.exclusion_tags else []
    c = Cluster.build(
        data.groups,
        data.nodes,
        data.instances,
        data.cluster_tags,
        data.ipolicy,
        extra_excl_prefixes=[e for e in extra if e],
    )
    if opts.max_cpu is not None:
        c.stat[7] = opts.max_cpu
    if opts.min_disk is not None:
        import numpy as np

        c.stat[6] = np.floor(opts.min_disk * c.stat[1])
    return c


def resolve_instances(c: Cluster, spec: str | None) -> list[int]:
    if not spec:
        return []
    names = [s for s in spec.split(",") if s]
    try:
        return lookup_instances(c, names)
    except HToolsError:
        unknown = [n for n in names if not _known(c, n)]
        raise HToolsError(
            "failed to load data, aborting: Unknown instance(s): "
            + "["
            + ",".join(json.dumps(u) for u in unknown)
            + "]"
        ) from None


def _known(c: Cluster, name: str) -> bool:
    try:
        lookup_instances(c, [name])
        return True
    except HToolsError:
        return False


def stdout_stderr() -> tuple[TextIO, TextIO]:
    return sys.stdout, sys.stderr


def prologue(
    parser: Any,
    argv: Sequence[str],
    usage: str,
    prog: str,
    out: TextIO,
    err: TextIO,
    *,
    usage_error_prefix: str = "Command line error: ",
) -> Any:
    """What every htools program does first: parse, answer --help/--version, refuse
    arguments.  Returns the options, or an exit code when the program is done."""
    try:
        opts = parse_common(parser, argv)
    except UsageError as exc:
        sep = "\n" if usage_error_prefix.endswith(":\n") else "\n\n"
        err.write(f"{usage_error_prefix}{exc}{sep}{usage}")
        return 2
    if opts.help:
        out.write(usage)
        return 0
    if opts.version:
        out.write(f"{prog} (ganeti-py) version 3.0.2-compatible\n")
        return 0
    if opts.help_completion:
        return 0
    if opts.args:
        raise HToolsError("This program doesn't take any arguments.")
    return opts
