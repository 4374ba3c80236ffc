"""gnt-debug: test jobs and lock introspection."""

from __future__ import annotations

import argparse

from ganeti.cli import base

LOCK_FIELDS = ["name", "mode", "owner", "pending"]


def cmd_delay(opts: argparse.Namespace) -> int:
    if opts.duration < 0:
        raise base.UsageError("the delay must not be negative")
    if opts.repeat < 0:
        raise base.UsageError("--repeat must not be negative")
    op = {
        "OP_ID": "OP_TEST_DELAY",
        "duration": opts.duration,
        "on_master": not opts.no_master,
        "on_nodes": opts.node,
        "repeat": opts.repeat,
        "interruptible": opts.interruptible,
        "no_locks": not opts.with_locks,
    }
    return base.submit_or_wait([base.apply_common_op_opts(op, opts)], opts)


def cmd_locks(opts: argparse.Namespace) -> int:
    fields = base.select_fields(opts.output, LOCK_FIELDS)
    with base.get_client() as client:
        result = client.query("lock", fields, base.parse_qfilter(opts.qfilter))
    return base.print_query_table(result, opts)


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-debug", description="Debugging commands.")
    sub = p.add_subparsers(metavar="COMMAND")
    delay = sub.add_parser("delay", help="run a job that sleeps (on the master and/or nodes)")
    delay.add_argument("duration", type=float, help="seconds")
    delay.add_argument("--no-master", action="store_true", help="don't sleep on the master")
    delay.add_argument(
        "-n", "--node", action="append", default=[], help="also sleep on this node (repeatable)"
    )
    delay.add_argument("--repeat", type=int, default=0, help="repeat the delay N more times")
    delay.add_argument("--interruptible", action="store_true", help="allow cancel while sleeping")
    delay.add_argument(
        "--with-locks", action="store_true", help="take the nodes' locks while sleeping"
    )
    base.add_submit_opts(delay)
    delay.set_defaults(func=cmd_delay)
    locks = sub.add_parser("locks", help="show the master's locks: owners and waiters")
    base.add_list_opts(locks, LOCK_FIELDS)
    locks.set_defaults(func=cmd_locks)
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-debug", build, argv)
