"""gnt-node migrate, evacuate and failover: move every instance off one node (and
gnt-instance change-group, which fans out the same way).

``migrate`` and ``evacuate`` submit one opcode (``OP_NODE_MIGRATE`` /
``OP_NODE_EVACUATE``) whose result lists the jobs it submitted, one per instance;
``failover`` submits one ``OP_INSTANCE_FAILOVER`` job per primary instance itself.  The
command then follows each job in turn, printing its log, and exits non-zero if any of
them failed.  Each asks for confirmation unless ``-f/--force``; without a terminal the
answer is no.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ganeti import errors
from ganeti.cli import base
from ganeti.luxi.client import LuxiClient

EVAC_PRI = "primary-only"
EVAC_SEC = "secondary-only"
EVAC_ALL = "all"


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} y/[n]: ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _node_instances(client: LuxiClient, node: str, fields: Sequence[str]) -> list[str]:
    rows = client.call("QueryNodes", [node], list(fields))
    if not rows:
        raise errors.OpPrereqError(f"node {node!r} is unknown", errors.ECODE_NOENT)
    names: set[str] = set()
    for value in rows[0]:
        names.update(value or [])
    return sorted(names)


def _ask_or_stop(opts: argparse.Namespace, question: str) -> None:
    if not opts.force and not confirm(question):
        raise base.UsageError("Aborted (use --force to skip the question)")


def wait_jobs(client: LuxiClient, submitted: Sequence[Sequence[Any]]) -> int:
    """Follow every ``[ok, job_id | message]`` in turn; the number that failed."""
    return base.follow_jobs(client, submitted).count(None)


def _run_fan_out(op: dict[str, Any], opts: argparse.Namespace) -> tuple[int, int] | None:
    """Submit ``op``, wait for it and for the jobs it submitted: (jobs, failed)."""
    with base.get_client() as client:
        job_id = client.submit_job([base.apply_common_op_opts(op, opts)])
        if opts.submit:
            print(f"JobID: {job_id}")
            return None
        [result] = base.wait_job(client, job_id)
        if getattr(opts, "dry_run", False):
            print("Dry run: the checks passed, no jobs were submitted.")
            return None
        submitted = (result or {}).get("jobs", []) if isinstance(result, dict) else []
        return len(submitted), base.follow_jobs(client, submitted, announce=True).count(None)


def cmd_migrate(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        insts = _node_instances(client, opts.node, ["pinst_list"])
    if not insts:
        print(f"No primary instances on node {opts.node}, exiting.")
        return base.EXIT_SUCCESS
    _ask_or_stop(opts, f"Migrate instance(s) {', '.join(insts)}?")
    op: dict[str, Any] = {
        "OP_ID": "OP_NODE_MIGRATE",
        "node_name": opts.node,
        "allow_runtime_changes": not opts.no_runtime_changes,
        "ignore_ipolicy": opts.ignore_ipolicy,
    }
    if opts.non_live:
        op["mode"] = "non-live"
    elif opts.migration_mode:
        op["mode"] = opts.migration_mode
    if opts.target_node:
        op["target_node"] = opts.target_node
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    outcome = _run_fan_out(op, opts)
    if outcome is None:
        return base.EXIT_SUCCESS
    _total, bad = outcome
    if bad:
        print(f"There were {bad} errors during the node migration.", file=sys.stderr)
        return base.EXIT_FAILURE
    print("All instances migrated successfully.")
    return base.EXIT_SUCCESS


def evac_mode(opts: argparse.Namespace) -> str:
    chosen = [
        m
        for m, flag in (
            (EVAC_PRI, opts.primary_only),
            (EVAC_SEC, opts.secondary_only),
            (EVAC_ALL, opts.all),
        )
        if flag
    ]
    if opts.new_secondary:
        if chosen and chosen != [EVAC_SEC]:
            raise base.UsageError(
                "a new secondary node (-n) can only be given with --secondary-only"
            )
        print(
            "New secondary node given (no iallocator), evacuating secondary instances only.",
            file=sys.stderr,
        )
        return EVAC_SEC
    if len(chosen) > 1:
        raise base.UsageError("give only one of --primary-only, --secondary-only and --all")
    return chosen[0] if chosen else EVAC_ALL


def cmd_evacuate(opts: argparse.Namespace) -> int:
    mode = evac_mode(opts)
    if opts.new_secondary and opts.iallocator:
        raise base.UsageError("give either a new secondary node (-n) or an iallocator (-I)")
    fields = []
    if mode != EVAC_SEC:
        fields.append("pinst_list")
    if mode != EVAC_PRI:
        fields.append("sinst_list")
    with base.get_client() as client:
        insts = _node_instances(client, opts.node, fields)
    if not insts:
        print(f"No instances to evacuate on node {opts.node}, exiting.", file=sys.stderr)
        return base.EXIT_SUCCESS
    _ask_or_stop(opts, f"Relocate instance(s) {', '.join(insts)} from node {opts.node}?")
    op: dict[str, Any] = {
        "OP_ID": "OP_NODE_EVACUATE",
        "node_name": opts.node,
        "mode": mode,
        "early_release": opts.early_release,
        "ignore_soft_errors": opts.ignore_soft_errors,
    }
    if opts.new_secondary:
        op["remote_node"] = opts.new_secondary
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    outcome = _run_fan_out(op, opts)
    if outcome is None:
        return base.EXIT_SUCCESS
    _total, bad = outcome
    if bad:
        print(f"There were {bad} errors during the evacuation.", file=sys.stderr)
        return base.EXIT_FAILURE
    print("All instances evacuated successfully.")
    return base.EXIT_SUCCESS


def cmd_failover(opts: argparse.Namespace) -> int:
    with base.get_client() as client:
        insts = _node_instances(client, opts.node, ["pinst_list"])
        if not insts:
            print(f"No primary instances on node {opts.node}, exiting.")
            return base.EXIT_SUCCESS
        _ask_or_stop(opts, f"Fail over instance(s) {', '.join(insts)}?")
        # DRBD instances fail over to their secondary: no allocator for them.
        internal: set[str] = set()
        if opts.iallocator:
            rows = client.call("QueryInstances", insts, ["name", "disk_template"])
            internal = {row[0] for row in rows if row and row[1] == "drbd"}
        jobs = []
        for name in insts:
            op: dict[str, Any] = {
                "OP_ID": "OP_INSTANCE_FAILOVER",
                "instance_name": name,
                "ignore_consistency": opts.ignore_consistency,
            }
            if opts.iallocator and name not in internal:
                op["iallocator"] = opts.iallocator
            jobs.append([base.apply_common_op_opts(op, opts)])
        submitted = client.submit_many_jobs(jobs)
        if opts.submit:
            for ok, value in submitted:
                print(f"JobID: {value}" if ok else f"Job submission failed: {value}")
            return base.EXIT_SUCCESS
        bad = wait_jobs(client, submitted)
    if bad:
        print(
            f"There were errors during the failover:\n{bad} error(s) out of "
            f"{len(insts)} instance(s).",
            file=sys.stderr,
        )
        return base.EXIT_FAILURE
    print(f"All {len(insts)} instance(s) failed over successfully.")
    return base.EXIT_SUCCESS


def cmd_change_group(opts: argparse.Namespace) -> int:
    op: dict[str, Any] = {
        "OP_ID": "OP_INSTANCE_CHANGE_GROUP",
        "instance_name": opts.instance,
        "early_release": opts.early_release,
    }
    if opts.to:
        op["target_groups"] = list(opts.to)
    if opts.iallocator:
        op["iallocator"] = opts.iallocator
    outcome = _run_fan_out(op, opts)
    if outcome is None:
        return base.EXIT_SUCCESS
    _total, bad = outcome
    if bad:
        print(f"There were {bad} errors while changing the group.", file=sys.stderr)
        return base.EXIT_FAILURE
    print(f"Instance {opts.instance} changed group successfully.")
    return base.EXIT_SUCCESS


def add_change_group_command(sub: Any) -> None:
    """``gnt-instance change-group [--to GROUP]... [-I ALLOC] [--early-release] INSTANCE``."""
    cg = sub.add_parser("change-group", help="move an instance to another node group")
    cg.add_argument("instance", metavar="INSTANCE")
    cg.add_argument(
        "--to", action="append", default=[], metavar="GROUP", help="target group (repeatable)"
    )
    cg.add_argument("-I", "--iallocator", default=None, help="allocator planning the move")
    cg.add_argument(
        "--early-release", action="store_true", help="release locks early in replace-disks"
    )
    base.add_submit_opts(cg)
    cg.set_defaults(func=cmd_change_group)


def add_move_commands(sub: Any) -> None:
    """Add ``migrate``, ``evacuate`` and ``failover`` to gnt-node's sub-commands."""
    mg = sub.add_parser("migrate", help="migrate all primary instances off a node")
    mg.add_argument("node", metavar="NODE")
    mg.add_argument("-f", "--force", action="store_true", help="don't ask for confirmation")
    mg.add_argument("--non-live", action="store_true", help="pause instances while moving")
    mg.add_argument("--migration-mode", choices=["live", "non-live"], default=None)
    mg.add_argument("-n", "--target-node", default=None, metavar="NODE", help="where to")
    mg.add_argument("-I", "--iallocator", default=None, help="allocator choosing targets")
    mg.add_argument("--no-runtime-changes", action="store_true", help="never balloon memory")
    mg.add_argument("--ignore-ipolicy", action="store_true")
    base.add_submit_opts(mg)
    mg.set_defaults(func=cmd_migrate)

    ev = sub.add_parser("evacuate", help="move all instances off a node (job per instance)")
    ev.add_argument("node", metavar="NODE")
    ev.add_argument("-f", "--force", action="store_true", help="don't ask for confirmation")
    ev.add_argument("-p", "--primary-only", action="store_true", help="primary instances only")
    ev.add_argument("-s", "--secondary-only", action="store_true", help="secondary instances only")
    ev.add_argument("--all", action="store_true", help="primary and secondary (default)")
    ev.add_argument(
        "-n",
        "--new-secondary",
        default=None,
        metavar="NODE",
        help="new secondary node for drbd instances (implies --secondary-only)",
    )
    ev.add_argument("-I", "--iallocator", default=None, help="allocator planning the moves")
    ev.add_argument(
        "--early-release", action="store_true", help="release locks early in replace-disks"
    )
    ev.add_argument(
        "--ignore-soft-errors", action="store_true", help="let hail ignore soft errors (N+1)"
    )
    base.add_submit_opts(ev)
    ev.set_defaults(func=cmd_evacuate)

    fo = sub.add_parser("failover", help="fail over all primary instances of a node")
    fo.add_argument("node", metavar="NODE")
    fo.add_argument("-f", "--force", action="store_true", help="don't ask for confirmation")
    fo.add_argument(
        "--ignore-consistency", action="store_true", help="proceed even if the node is dead"
    )
    fo.add_argument("-I", "--iallocator", default=None, help="allocator choosing targets")
    base.add_submit_opts(fo)
    fo.set_defaults(func=cmd_failover)
