"""hbal: cluster balancer (same options and output as Ganeti's hbal)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from ganeti.htools import model as m
from ganeti.htools import score as sc
from ganeti.htools.backend.text import serialize_cluster
from ganeti.htools.balance import BalanceOptions, Balancer, Step
from ganeti.htools.better import DEFAULT_WIDTH, better_run
from ganeti.htools.cli import common
from ganeti.htools.jobs import command_lines, script_text
from ganeti.htools.model import Cluster
from ganeti.htools.moves import MoveOptions, plan_string
from ganeti.htools.output import haskell_g, instance_table, node_table, parse_node_fields
from ganeti.htools.types import HToolsError

USAGE = """Usage: hbal [OPTION...]
  -t FILE   --text-data=FILE       the cluster data FILE
  -m CLUSTER                       collect data via RAPI at the given ADDRESS
  -L[SOCKET] --luxi[=SOCKET]       collect data via Luxi, optionally using the given SOCKET path
  -p[FIELDS] --print-nodes[=FIELDS] print the final node list
  --print-instances                print the final instance map
  -C[FILE]  --print-commands[=FILE] print the ganeti command list
  -G GROUP  --group=GROUP          the target node group (name or UUID)
  -O NODE   --offline=NODE         set node as offline
  -l N      --max-length=N         cap the solution at this many balancing steps
  -e SCORE  --min-score=SCORE      mininum excess to the N+1 limit to consider
  -g DELTA  --min-gain=DELTA       minimum gain to aim for in a balancing step
  --min-gain-limit=THRESHOLD       minimum cluster score for which min-gain applies
  --no-disk-moves, --no-instance-moves, --restricted-migration, --evac-mode
  --ignore-soft-errors, --ignore-dynu, -U FILE, --exclusion-tags=TAGS
  --select-instances=INSTS, --exclude-instances=INSTS, -S FILE, -X, -v, -q
  --better [--better-width=N] [--better-time=SECONDS]
                                   (not in Ganeti) when the greedy search is
                                   stuck, look two moves ahead
"""


def make_parser() -> argparse.ArgumentParser:
    p = common.make_parser("hbal")
    p.add_argument("-C", "--print-commands", dest="print_commands", nargs="?", const="")
    p.add_argument("-l", "--max-length", dest="max_length", type=int, default=-1)
    p.add_argument("-e", "--min-score", dest="min_score", type=float, default=1e-9)
    p.add_argument("-g", "--min-gain", dest="min_gain", type=float, default=0.01)
    p.add_argument("--min-gain-limit", dest="min_gain_limit", type=float, default=0.1)
    p.add_argument("--no-disk-moves", action="store_true")
    p.add_argument("--no-instance-moves", action="store_true")
    p.add_argument("--restricted-migration", action="store_true")
    p.add_argument("-E", "--evac-mode", action="store_true")
    p.add_argument("--select-instances", dest="select_instances")
    p.add_argument("--exclude-instances", dest="exclude_instances")
    p.add_argument("-X", "--exec", dest="execute", action="store_true")
    p.add_argument("--first-job-group", action="store_true")
    p.add_argument("--reason")
    p.add_argument("--better", action="store_true")
    p.add_argument("--better-width", dest="better_width", type=int, default=DEFAULT_WIDTH)
    p.add_argument("--better-time", dest="better_time", type=float, default=300.0)
    return p


def _plan_line(c: Cluster, no: int, st: Step, w_inst: int, w_node: int) -> str:
    def pair(p: int, s: int) -> str:
        return c.node_alias[p] + (":" + c.node_alias[s] if s >= 0 else "")

    return "  %3d. %-*s %-*s => %-*s %12.8f a=%s" % (  # noqa: UP031 - printf layout
        no,
        w_inst,
        c.inst_alias[st.move.inst],
        w_node,
        pair(st.old_pri, st.old_sec),
        w_node,
        pair(st.new_pri, st.new_sec),
        st.score,
        plan_string(c, st.move),
    )


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    parser = make_parser()
    try:
        opts = common.parse_common(parser, argv)
    except common.UsageError as exc:
        err.write(f"Command line error: {exc}\n\n{USAGE}")
        return 2
    if opts.help:
        out.write(USAGE)
        return 0
    if opts.version:
        out.write(common.VERSION + "\n")
        return 0
    if opts.help_completion:
        return 0
    if opts.args:
        raise HToolsError("This program doesn't take any arguments.")
    verbose = 1 + opts.verbose - opts.quiet

    data = common.load_data(opts)
    c = common.build_cluster(data, opts, err)
    sel = common.resolve_instances(c, opts.select_instances)
    excl = common.resolve_instances(c, opts.exclude_instances)
    if opts.select_instances:
        keep = np.zeros(c.n_instances, bool)
        keep[sel] = True
        c.movable &= keep
    if excl:
        c.movable[excl] = False

    if verbose > 1:
        out.write("Loaded cluster tags: " + ",".join(c.cluster_tags) + "\n")
        out.write("Loaded cluster ipolicy: " + c.ipolicy.haskell_show() + "\n")
    if c.n_instances == 0:
        out.write("Cluster is empty, exiting.\n")
        return 0
    out.write(f"Loaded {c.n_nodes} nodes, {c.n_instances} instances\n")
    if c.suffix and verbose > 1:
        out.write(f"Note: Stripping common suffix of '{c.suffix}' from names\n")

    if c.split_instances and verbose > 1:
        err.write("Found instances belonging to multiple node groups:\n")
        for i in c.split_instances:
            err.write(f"  {c.inst_names[i]}\n")
        err.write("These instances will not be moved.\n")

    # group selection
    groups_with_nodes = sorted({int(g) for g in c.node_group})
    if opts.group is not None:
        try:
            gidx = c.group_index(opts.group)
        except KeyError:
            err.write(f"Node group {opts.group} not found. Node group list is:\n")
            for g in c.groups:
                err.write(f"  {g.name}\n")
            raise HToolsError("Aborting.") from None
    else:
        if len(groups_with_nodes) > 1:
            err.write("Found multiple node groups:\n")
            for gi in groups_with_nodes:
                err.write(f"  {c.groups[gi].name}\n")
            raise HToolsError("Aborting.")
        gidx = groups_with_nodes[0] if groups_with_nodes else 0
    gnodes = c.group_nodes(gidx)
    ginsts = c.group_instances(gidx)
    out.write(f"Group size {len(gnodes)} nodes, {len(ginsts)} instances\n")
    out.write(f"Selected node group: {c.groups[gidx].name}\n")

    node_fields = None
    if opts.print_nodes is not None:
        try:
            node_fields = parse_node_fields(opts.print_nodes)
            node_table(c, [], node_fields)
        except KeyError as exc:
            raise HToolsError(f"Unknown field '{exc.args[0]}'") from None
    if opts.print_instances:
        err.write("\nInitial instance map:\n")
        err.write("".join(line + "\n" for line in instance_table(c, ginsts)))
    if node_fields is not None:
        err.write("\nInitial cluster status:\n")
        err.write("".join(line + "\n" for line in node_table(c, gnodes, node_fields)) + "\n")

    online = gnodes[c.online_mask[gnodes]]
    bad_nodes = online[c.dyn[m.D_FAIL_N1, online] > 0]
    bad_insts = {
        int(i)
        for n in bad_nodes
        for i in np.flatnonzero(((c.pnode == n) | (c.snode == n)) & ~c.i_forth)
    }
    out.write(f"Initial check done: {len(bad_nodes)} bad nodes, {len(bad_insts)} bad instances.\n")
    if len(bad_nodes):
        out.write(
            "Cluster is not N+1 happy, continuing but no guarantee that the cluster "
            "will end N+1 happy.\n"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        pcpu = c.dyn[m.D_U_CPU, online] / c.stat[m.S_T_CPU, online]
    ratio = c.stat[m.S_VCPU_RATIO, online]
    violating = int(
        np.count_nonzero(
            (c.dyn[m.D_INST_SP, online] > c.stat[m.S_HI_SP, online])
            | ((ratio >= 0) & (pcpu > ratio))
        )
    )
    if violating:
        out.write(f"The cluster contains {violating} policy-violating nodes.\n")
        if opts.ignore_soft_errors:
            out.write("Continuing, ignoring soft errors.\n")
        else:
            out.write(
                "Continuing, but the set of moves might be too restricted; consider "
                "using the --ignore-soft-errors option.\n"
            )

    ini_vals = sc.detailed_score(c, gnodes)
    ini = float(sc.total_score(np.array(ini_vals)))
    if verbose > 2:
        out.write(f"Initial coefficients: overall {ini:.8f}\n")
        out.write("".join(line + "\n" for line in sc.format_metrics(ini_vals)))
    else:
        out.write(f"Initial score: {ini:.8f}\n")
    opt = sc.optimal_score(c, gnodes)
    if ini - opt < opts.min_score:
        out.write(
            f"Cluster is already well balanced (initial score {haskell_g(ini)},\n"
            f"optimum score due to N+1 reservations {haskell_g(opt)},\n"
            f"minimum score {haskell_g(opts.min_score)}).\nNothing to do, exiting\n"
        )
        return 0

    orig = c.copy() if opts.save else None
    orig_mem = int(c.dyn[m.D_U_MEM, gnodes].sum())
    orig_dsk = int(c.dyn[m.D_F_DSK, gnodes].sum())
    out.write("Trying to minimize the CV...\n")
    ginst_set = ginsts
    w_inst = max((len(c.inst_alias[i]) for i in ginst_set), default=0)
    w_node = 2 * max((len(c.node_alias[n]) for n in gnodes), default=0) + 1
    bopts = BalanceOptions(
        max_length=opts.max_length,
        min_score=opts.min_score,
        min_gain=opts.min_gain,
        min_gain_limit=opts.min_gain_limit,
        evac_mode=opts.evac_mode,
        moves=MoveOptions(
            ignore_soft_errors=opts.ignore_soft_errors,
            no_disk_moves=opts.no_disk_moves,
            no_instance_moves=opts.no_instance_moves,
            restricted_migration=opts.restricted_migration,
        ),
    )
    bal = Balancer(c, gnodes, ginsts, bopts)

    def show(no: int, st: Step) -> None:
        out.write(_plan_line(c, no, st, w_inst, w_node) + "\n")
        out.flush()

    if opts.better:

        def greedy_done(n: int, score: float) -> None:
            out.write(
                f"Greedy search done: {n} moves, score {score:.8f}; "
                "looking two moves ahead (--better)\n"
            )

        res = better_run(
            bal,
            ini,
            show,
            greedy_done,
            width=max(1, opts.better_width),
            time_limit=opts.better_time,
        )
        steps = res.steps
    else:
        steps = bal.run(show, initial=ini)
    fin_vals = sc.detailed_score(c, gnodes)
    fin = float(sc.total_score(np.array(fin_vals)))
    if not steps:
        out.write("No solution found\n")
    elif verbose > 2:
        out.write(f"Final coefficients:   overall {fin:.8f}\n")
        out.write("".join(line + "\n" for line in sc.format_metrics(fin_vals)))
    else:
        out.write(f"Cluster score improved from {ini:.8f} to {fin:.8f}\n")
    out.write(f"Solution length={len(steps)}\n")
    if opts.better:
        note = " (time limit reached)" if res.timed_out else ""
        out.write(
            f"greedy: {res.greedy_steps} moves, score {res.greedy_score:.8f}; "
            f"better: {len(steps)} moves, score {fin:.8f}{note}\n"
        )

    if opts.print_commands is not None:
        if opts.print_commands == "":
            out.write("\nCommands to run to reach the above solution:\n")
            out.write("".join(line + "\n" for line in command_lines(c, steps, script=False)))
        else:
            try:
                with open(opts.print_commands, "w", encoding="utf-8") as fh:
                    fh.write(script_text(c, steps))
            except OSError as exc:
                raise HToolsError(f"cannot write commands file: {exc}") from None
            out.write(f"The commands have been written to file '{opts.print_commands}'\n")
    if opts.save and orig is not None:
        try:
            with open(opts.save + ".original", "w", encoding="utf-8") as fh:
                fh.write(serialize_cluster(orig))
            err.write(
                "The cluster state before balancing has been written to file "
                f"'{opts.save}.original'\n"
            )
            with open(opts.save + ".balanced", "w", encoding="utf-8") as fh:
                fh.write(serialize_cluster(c))
            err.write(
                "The cluster state after balancing has been written to file "
                f"'{opts.save}.balanced'\n"
            )
        except OSError as exc:
            raise HToolsError(f"cannot write state files: {exc}") from None
    if opts.print_instances:
        err.write("\nFinal instance map:\n")
        err.write("".join(line + "\n" for line in instance_table(c, ginsts)))
    if node_fields is not None:
        err.write("\nFinal cluster status:\n")
        err.write("".join(line + "\n" for line in node_table(c, gnodes, node_fields)) + "\n")
    if verbose > 3:
        out.write(f"Original: mem={orig_mem} disk={orig_dsk}\n")
        fmem = int(c.dyn[m.D_U_MEM, gnodes].sum())
        fdsk = int(c.dyn[m.D_F_DSK, gnodes].sum())
        out.write(f"Final:    mem={fmem} disk={fdsk}\n")
    if opts.execute and steps:
        if opts.luxi is None:
            raise HToolsError("hbal: Execution of commands possible only on LUXI")
        _execute(opts, c, steps, out, err)
    return 0


def _execute(
    opts: argparse.Namespace, c: Cluster, steps: list[Step], out: TextIO, err: TextIO
) -> None:
    """``-X``: run the job sets through LUXI (errors prefixed ``hbal:`` like Ganeti)."""
    from ganeti import errors
    from ganeti.htools.backend.luxi import default_socket
    from ganeti.htools.execute import execute_plan
    from ganeti.luxi.client import LuxiClient

    try:
        with LuxiClient(opts.luxi or default_socket()) as client:
            execute_plan(
                c,
                steps,
                client,
                out,
                err,
                first_only=opts.first_job_group,
                priority=opts.priority,
                reason=opts.reason,
            )
    except HToolsError as exc:
        raise HToolsError(f"hbal: {exc}") from None
    except errors.GanetiError as exc:
        raise HToolsError(f"hbal: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    out, err = sys.stdout, sys.stderr
    try:
        code = run(args, out, err)
    except common.RawError as exc:
        err.write(f"{exc}\n")
        code = 1
    except HToolsError as exc:
        out.flush()
        err.write(f"Error: {exc}\n")
        code = 1
    except KeyboardInterrupt:
        err.write("Interrupted\n")
        code = 130
    out.flush()
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
