"""``gnt-cluster verify-disks``: find and repair disks that need activation.

Submits ``OP_CLUSTER_VERIFY_DISKS`` (which fans out into one ``OP_GROUP_VERIFY_DISKS``
job per node group), follows the group jobs, prints the nodes that could not be checked,
submits one ``OP_INSTANCE_ACTIVATE_DISKS`` job per instance reported as needing
activation and reports each outcome, then lists missing logical volumes.  Exit code 0
when everything is in order or was repaired, 1 when a node could not be checked, an
activation failed, volumes are missing or a job failed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ganeti.cli import base

Out = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


def verify_disks(client: Any, opts: argparse.Namespace, out: Out, err: Out) -> int:
    """The command's work on an open LUXI client; returns the exit code."""
    op: dict[str, Any] = {"OP_ID": "OP_CLUSTER_VERIFY_DISKS", "is_strict": bool(opts.strict)}
    if opts.nodegroup:
        op["group_name"] = opts.nodegroup
    op = base.apply_common_op_opts(op, opts)
    job_id = client.submit_job([op])
    if opts.submit:
        out(f"JobID: {job_id}")
        return base.EXIT_SUCCESS
    [result] = base.wait_job(client, job_id, _quiet)
    code = base.EXIT_SUCCESS
    group_jobs: list[int] = []
    for submitted, value in (result or {}).get("jobs", []):
        if submitted:
            group_jobs.append(int(value))
        else:
            err(f"Could not submit a disk verification job: {value}")
            code = base.EXIT_FAILURE
    if group_jobs:
        out("Submitted jobs " + ", ".join(str(j) for j in group_jobs))
    node_errors: dict[str, str] = {}
    to_activate: list[str] = []
    missing: dict[str, list[list[str]]] = {}
    show = out if opts.verbose else _quiet
    failed_jobs = 0
    for job in group_jobs:
        out(f"Waiting for job {job} ...")
        try:
            [triple] = base.wait_job(client, job, show)
        except Exception as exc:
            err(f"Disk verification job {job} failed: {base.format_error(exc)}")
            code = base.EXIT_FAILURE
            failed_jobs += 1
            continue
        errors_, instances, lost = triple
        node_errors.update(errors_)
        to_activate.extend(i for i in instances if i not in to_activate)
        for inst, vols in lost.items():
            missing.setdefault(inst, []).extend(vols)
    for node, message in sorted(node_errors.items()):
        out(f"Could not check the disks on node {node}: {message}")
        code = base.EXIT_FAILURE
    if to_activate:
        if activate(client, to_activate, opts, out, err) != base.EXIT_SUCCESS:
            code = base.EXIT_FAILURE
    elif not failed_jobs:
        out("No disks need to be activated.")
    if missing:
        code = base.EXIT_FAILURE
        for inst, vols in sorted(missing.items()):
            out(f"Instance {inst} has missing logical volumes:")
            for node, vol in sorted(vols):
                out(f"  node {node}: {vol}")
        out(
            "Replace or recreate the disks of the instances above (gnt-instance "
            "replace-disks / recreate-disks) if volumes are still missing once the nodes "
            "are repaired."
        )
    return code


def activate(
    client: Any, instances: list[str], opts: argparse.Namespace, out: Out, err: Out
) -> int:
    """One ``OP_INSTANCE_ACTIVATE_DISKS`` job per instance, submitted together."""
    ops = [
        [
            base.apply_common_op_opts(
                {"OP_ID": "OP_INSTANCE_ACTIVATE_DISKS", "instance_name": i}, opts
            )
        ]
        for i in instances
    ]
    code = base.EXIT_SUCCESS
    for name in instances:
        out(f"Activating the disks of instance {name}")
    results = client.submit_many_jobs(ops)
    for name, (submitted, value) in zip(instances, results, strict=True):
        if not submitted:
            err(f"Could not activate the disks of instance {name}: {value}")
            code = base.EXIT_FAILURE
            continue
        try:
            base.wait_job(client, int(value), _quiet)
        except Exception as exc:
            err(f"Could not activate the disks of instance {name}: {exc}")
            code = base.EXIT_FAILURE
            continue
        out(f"Activated the disks of instance {name}")
    return code


def cmd_verify_disks(opts: argparse.Namespace) -> int:
    def out(line: str) -> None:
        print(line, flush=True)

    def err(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    with base.get_client() as client:
        return verify_disks(client, opts, out, err)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "verify-disks", help="check the instances' disks and activate those that need it"
    )
    p.add_argument("-g", "--node-group", dest="nodegroup", default=None, help="only this group")
    p.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for instances and nodes other jobs hold (default); --no-strict skips them",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="show the group jobs' logs")
    p.add_argument(
        "--submit", action="store_true", help="submit the job and print its id, don't wait"
    )
    p.add_argument(
        "--priority", choices=sorted(base.priorities()), default=None, help="job priority"
    )
    p.add_argument("--reason", default=None, help="reason (kept in the jobs)")
    p.set_defaults(func=cmd_verify_disks)
