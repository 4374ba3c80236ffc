"""hcheck: cluster health check (same options and output as Ganeti's)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from ganeti.htools.balance import BalanceOptions
from ganeti.htools.cli import common
from ganeti.htools.hcheck import KEYS, LABELS, GroupStats, HcheckOptions, check, totals
from ganeti.htools.moves import MoveOptions
from ganeti.htools.types import HToolsError

USAGE = """Usage: hcheck [OPTION...]
  -t FILE --text-data=FILE   the cluster data FILE
  --machine-readable[=CHOICE] print HCHECK_* key=value pairs
  --no-simulation            do not simulate a rebalance
  --no-capacity-checks       skip the global N+1 (evacuation) check
  -e, -g, --min-gain-limit, --no-disk-moves, --no-instance-moves,
  --restricted-migration, --evac-mode, --ignore-soft-errors, -l, -O, -v, -q
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.make_parser("hcheck")
    p.add_argument(
        "--machine-readable", dest="machine_readable", nargs="?", const="yes", default="no"
    )
    p.add_argument("--no-simulation", action="store_true")
    p.add_argument("--no-capacity-checks", action="store_true")
    p.add_argument("-l", "--max-length", dest="max_length", type=int, default=-1)
    p.add_argument("-e", "--min-score", dest="min_score", type=float, default=1e-9)
    p.add_argument("-g", "--min-gain", dest="min_gain", type=float, default=0.01)
    p.add_argument("--min-gain-limit", dest="min_gain_limit", type=float, default=0.1)
    p.add_argument("--no-disk-moves", action="store_true")
    p.add_argument("--no-instance-moves", action="store_true")
    p.add_argument("--restricted-migration", action="store_true")
    p.add_argument("-E", "--evac-mode", action="store_true")
    return p


def _quote(v: str) -> str:
    return v if all(ch.isalnum() or ch == "." for ch in v) else f"'{v}'"


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    opts = common.prologue(make_parser(), argv, USAGE, "hcheck", out, err)
    if isinstance(opts, int):
        return opts
    if opts.machine_readable not in ("yes", "no"):
        raise HToolsError(f"Invalid --machine-readable value '{opts.machine_readable}'")
    machine = opts.machine_readable == "yes"
    data = common.load_data(opts)
    c = common.build_cluster(data, opts, err)
    bopts = BalanceOptions(
        max_length=opts.max_length,
        min_score=opts.min_score,
        min_gain=opts.min_gain,
        min_gain_limit=opts.min_gain_limit,
        evac_mode=opts.evac_mode,
        moves=MoveOptions(
            no_disk_moves=opts.no_disk_moves,
            no_instance_moves=opts.no_instance_moves,
            restricted_migration=opts.restricted_migration,
            ignore_soft_errors=opts.ignore_soft_errors,
        ),
    )
    res = check(
        c,
        HcheckOptions(
            simulate=not opts.no_simulation,
            capacity_checks=not opts.no_capacity_checks,
            balance=bopts,
        ),
    )
    lines: list[str] = []
    phases: list[tuple[str, str, list[GroupStats]]] = [("INIT", "initially", res.initial)]
    if res.need_rebalance and res.final is not None:
        phases.append(("FINAL", "after rebalancing", res.final))
    elif machine:
        phases.append(("FINAL", "after rebalancing", res.initial))
    # without capacity checks the global N+1 counter is not reported at all
    nkeys = len(KEYS) if not opts.no_capacity_checks else len(KEYS) - 1
    keys, labels = KEYS[:nkeys], LABELS[:nkeys]
    if machine:
        for g, grp in enumerate(c.groups):
            lines.append(f"HCHECK_GROUP_UUID_{g}={_quote(grp.uuid)}")
        for prefix, _title, stats in phases:
            for g, st in zip(res.groups, stats):
                for key, val in zip(keys, st.values):
                    lines.append(f"HCHECK_{prefix}_GROUP_{g}_{key}={val}")
                lines.append(f"HCHECK_{prefix}_GROUP_{g}_SCORE={st.score:.8f}")
            for key, val in zip(keys, totals(stats)):
                lines.append(f"HCHECK_{prefix}_CLUSTER_{key}={val}")
            lines.append(f"HCHECK_{prefix}_CLUSTER_NEED_REBALANCE={int(res.need_rebalance)}")
        lines.append("HCHECK_OK=1")
    else:
        if not res.need_rebalance:
            lines.append("No need to rebalance cluster, no problems found.")
        elif opts.no_simulation:
            lines.append("Running in no-simulation mode.")
        else:
            lines.append("Cluster needs rebalancing.")
        for _prefix, title, stats in phases:
            for g, st in zip(res.groups, stats):
                lines.append("")
                lines.append(f"Statistics for group {c.groups[g].name} {title}")
                lines += [f"    {lab}: {val}" for lab, val in zip(labels, st.values)]
                lines.append(f"    Group score: {st.score:.8f}")
            lines.append("")
            lines.append(f"Cluster statistics {title}")
            lines += [f"    {lab}: {val}" for lab, val in zip(labels, totals(stats))]
            lines.append(f"    Cluster is not healthy: {res.need_rebalance}")
    out.write("".join(x + "\n" for x in lines))
    return 1 if res.need_rebalance and not opts.no_simulation else 0


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
