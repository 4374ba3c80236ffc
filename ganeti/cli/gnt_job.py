"""gnt-job: list, inspect, follow, cancel and archive jobs."""

from __future__ import annotations

import argparse
from typing import Any

from ganeti.cli import base

DEFAULT_FIELDS = ["id", "status", "summary"]
INFO_FIELDS = [
    "id",
    "status",
    "received_ts",
    "start_ts",
    "end_ts",
    "ops",
    "opstatus",
    "opresult",
    "oplog",
    "opstart",
    "opexec",
    "opend",
    "priority",
]


def cmd_list(opts: argparse.Namespace) -> int:
    fields = base.select_fields(opts.output, DEFAULT_FIELDS)
    qfilter = base.parse_qfilter(opts.qfilter)
    status_filter = None
    if opts.running:
        status_filter = [
            "|",
            ["=", "status", "running"],
            ["=", "status", "waiting"],
            ["=", "status", "canceling"],
        ]
    elif opts.pending:
        status_filter = ["=", "status", "queued"]
    elif opts.finished:
        status_filter = [
            "|",
            ["=", "status", "success"],
            ["=", "status", "error"],
            ["=", "status", "canceled"],
        ]
    ids = base.parse_job_ids(opts.job_ids)
    id_filter = ["|", *(["=", "id", i] for i in ids)] if ids else None
    parts = [f for f in (qfilter, status_filter, id_filter) if f]
    combined = parts[0] if len(parts) == 1 else (["&", *parts] if parts else None)
    if opts.archived and "archived" not in fields:
        # Asking for the archived field makes the master search the archive too.
        fields_q = [*fields, "archived"]
    else:
        fields_q = fields
    with base.get_client() as client:
        result = client.query("job", fields_q, combined)
    if fields_q is not fields:
        result["fields"] = result["fields"][: len(fields)]
        result["data"] = [row[: len(fields)] for row in result["data"]]
    return base.print_query_table(result, opts)


def _print_info(row: list[Any]) -> None:
    (
        job_id,
        status,
        recv,
        start,
        end,
        ops,
        opstatus,
        opresult,
        oplog,
        opstart,
        opexec,
        opend,
        priority,
    ) = row
    ts = base.format_timestamp
    print(f"- Job ID: {job_id}")
    print(f"  Status: {status}")
    print(f"  Priority: {priority}")
    print(f"  Received:         {ts(recv) if recv else 'unknown'}")
    print(f"  Processing start: {ts(start) if start else 'unknown (not yet started)'}")
    print(f"  Processing end:   {ts(end) if end else 'unknown (not yet finished)'}")
    if start and end:
        delta = (end[0] + end[1] / 1e6) - (start[0] + start[1] / 1e6)
        print(f"  Total processing time: {delta:.6f} seconds")
    print("  Opcodes:")
    for i, op in enumerate(ops):
        print(f"    - Opcode: {op.get('OP_ID')}")
        print(f"      Status: {opstatus[i]}")
        print(f"      Processing start: {ts(opstart[i]) if opstart[i] else 'N/A'}")
        print(f"      Execution start:  {ts(opexec[i]) if opexec[i] else 'N/A'}")
        print(f"      Processing end:   {ts(opend[i]) if opend[i] else 'N/A'}")
        params = {k: v for k, v in sorted(op.items()) if k != "OP_ID"}
        print("      Input fields:")
        for k, v in params.items():
            print(f"        {k}: {v}")
        print(f"      Result: {opresult[i]}")
        print("      Execution log:")
        for entry in oplog[i]:
            print(f"        - {base.format_log_entry(entry)}")


def cmd_info(opts: argparse.Namespace) -> int:
    ids = base.parse_job_ids(opts.job_ids)
    with base.get_client() as client:
        rows = client.query_jobs(ids, INFO_FIELDS)
    code = base.EXIT_SUCCESS
    for job_id, row in zip(ids, rows, strict=False):
        if row is None:
            print(f"Job ID {job_id} not found")
            code = base.EXIT_FAILURE
            continue
        _print_info(row)
    return code


def cmd_watch(opts: argparse.Namespace) -> int:
    [job_id] = base.parse_job_ids([opts.job_id])
    with base.get_client() as client:
        print(f"Output from job {job_id} follows")
        print("-----------------------------------")
        base.wait_job(client, job_id)
    return base.EXIT_SUCCESS


def cmd_cancel(opts: argparse.Namespace) -> int:
    if opts.kill and not opts.yes_do_it:
        raise base.UsageError(
            "--kill needs --yes-do-it: running opcodes are not interrupted cleanly"
        )
    code = base.EXIT_SUCCESS
    with base.get_client() as client:
        for job_id in base.parse_job_ids(opts.job_ids):
            ok, msg = client.call("CancelJob", job_id, opts.kill)
            print(msg)
            if not ok:
                code = base.EXIT_FAILURE
    return code


def cmd_archive(opts: argparse.Namespace) -> int:
    code = base.EXIT_SUCCESS
    with base.get_client() as client:
        for job_id in base.parse_job_ids(opts.job_ids):
            if not client.call("ArchiveJob", job_id):
                print(f"Failed to archive job {job_id} (unknown or not finished)")
                code = base.EXIT_FAILURE
    return code


def cmd_autoarchive(opts: argparse.Namespace) -> int:
    age = base.parse_age(opts.age)
    with base.get_client() as client:
        archived, left = client.call("AutoArchiveJobs", age, 60)
    print(f"Archived {archived} jobs, {left} unchecked left")
    return base.EXIT_SUCCESS


def cmd_change_priority(opts: argparse.Namespace) -> int:
    prio = base.priorities()[opts.priority]
    code = base.EXIT_SUCCESS
    with base.get_client() as client:
        for job_id in base.parse_job_ids(opts.job_ids):
            ok, msg = client.call("ChangeJobPriority", job_id, prio)
            print(msg)
            if not ok:
                code = base.EXIT_FAILURE
    return code


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gnt-job", description="Manage the job queue.")
    sub = p.add_subparsers(metavar="COMMAND")
    ls = sub.add_parser("list", help="list jobs")
    base.add_list_opts(ls, DEFAULT_FIELDS)
    g = ls.add_mutually_exclusive_group()
    g.add_argument("--running", action="store_true", help="only running/waiting jobs")
    g.add_argument("--pending", action="store_true", help="only queued jobs")
    g.add_argument("--finished", action="store_true", help="only finished jobs")
    ls.add_argument("--archived", action="store_true", help="include archived jobs")
    ls.add_argument("job_ids", nargs="*", metavar="JOB_ID")
    ls.set_defaults(func=cmd_list)
    info = sub.add_parser("info", help="show details of jobs")
    info.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    info.set_defaults(func=cmd_info)
    watch = sub.add_parser("watch", help="follow a job's log until it finishes")
    watch.add_argument("job_id", metavar="JOB_ID")
    watch.set_defaults(func=cmd_watch)
    cancel = sub.add_parser("cancel", help="cancel queued or waiting jobs")
    cancel.add_argument("--kill", action="store_true", help="also stop a running job")
    cancel.add_argument("--yes-do-it", action="store_true", help="confirm --kill")
    cancel.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    cancel.set_defaults(func=cmd_cancel)
    arch = sub.add_parser("archive", help="archive finished jobs")
    arch.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    arch.set_defaults(func=cmd_archive)
    auto = sub.add_parser("autoarchive", help="archive finished jobs older than AGE")
    auto.add_argument("age", metavar="AGE", help="e.g. 30m, 6h, 1d, or 'all'")
    auto.set_defaults(func=cmd_autoarchive)
    prio = sub.add_parser("change-priority", help="change the priority of unfinished jobs")
    prio.add_argument("--priority", required=True, choices=sorted(base.priorities()))
    prio.add_argument("job_ids", nargs="+", metavar="JOB_ID")
    prio.set_defaults(func=cmd_change_priority)
    return p


def main(argv: list[str] | None = None) -> None:
    base.run_command("gnt-job", build, argv)
