"""ganeti-watcher: gather instance/node/lock data over LUXI, decide, submit, save state.

Run by a systemd timer every 5 minutes.  Exits at once when the watcher is paused
(``gnt-cluster watcher pause``; ``--ignore-pause`` overrides) or this node is not the
master (no LUXI socket).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ganeti import constants, errors
from ganeti.cli import base
from ganeti.fileutils import write_file_atomic
from ganeti.luxi.client import LuxiClient
from ganeti.paths import Paths, default_root
from ganeti.watcher.decide import (
    JOB_ARCHIVE_AGE,
    PENDING_JOB_STATUSES,
    GroupView,
    InstanceView,
    JobView,
    NodeView,
    activation_plan,
    decide,
    groups_to_verify,
    paused,
    pending_verify_groups,
    strict_verify,
    verify_disks_opcode,
)
from ganeti.watcher.nodecheck import ensure_noded

INSTANCE_FIELDS = [
    "name",
    "uuid",
    "status",
    "admin_state",
    "disks_active",
    "pnode",
    "snodes",
    "pnode.group.uuid",
    "disk_template",
]
VERIFY_DISKS_WAIT = 240.0


def state_file(paths: Paths) -> Path:
    return paths.data_dir / "watcher.data"


def load_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"instance": {}, "node": {}}
    return data if isinstance(data, dict) else {"instance": {}, "node": {}}


def _values(result: dict[str, Any]) -> list[list[Any]]:
    return [[value for _status, value in row] for row in result["data"]]


def locked_instances(client: LuxiClient) -> set[str]:
    """Instance names a job holds or waits for (lock names are ``instance/<uuid>``)."""
    locks = _values(client.query("lock", ["name", "owner", "pending"]))
    uuids = set()
    whole_level = False
    for name, owner, pending in locks:
        if not str(name).startswith("instance/") or not (owner or pending):
            continue
        member = str(name).split("/", 1)[1]
        if member.startswith("["):
            whole_level = True
        uuids.add(member)
    rows = _values(client.query("instance", ["name", "uuid"]))
    if whole_level:
        return {n for n, _u in rows}
    return {n for n, u in rows if u in uuids}


def query_instances(client: LuxiClient) -> list[InstanceView]:
    return [
        InstanceView(
            name=r[0],
            status=str(r[2]),
            admin_state=str(r[3]),
            disks_active=bool(r[4]),
            pnode=str(r[5]),
            snodes=tuple(r[6] or ()),
            group=str(r[7] or ""),
            disk_template=str(r[8] or ""),
        )
        for r in _values(client.query("instance", INSTANCE_FIELDS))
    ]


def query_nodes(client: LuxiClient) -> list[NodeView]:
    return [
        NodeView(name=r[0], bootid=r[1] if isinstance(r[1], str) else None, offline=bool(r[2]))
        for r in _values(client.query("node", ["name", "bootid", "offline"]))
    ]


def run(paths: Paths, client: LuxiClient, now: float, job_age: int, log: Any) -> int:
    locked = locked_instances(client)
    instances = query_instances(client)
    nodes = query_nodes(client)
    path = state_file(paths)
    state = load_state(path)
    plan = decide(instances, nodes, locked, state, now)
    for message in plan.messages:
        log(message)
    if plan.actions:
        jobs = [[action.opcode()] for action in plan.actions]
        for action, result in zip(plan.actions, client.submit_many_jobs(jobs), strict=False):
            if not (isinstance(result, list | tuple) and result and result[0]):
                log(f"Could not submit the job for {action.instance}: {result}")
    write_file_atomic(path, json.dumps(state, sort_keys=True).encode(), mode=0o600)
    archived = client.call("AutoArchiveJobs", job_age, 10)
    if archived and archived[0]:
        log(f"Archived {archived[0]} jobs, {archived[1]} left")
    return 0


def wait_finished(client: LuxiClient, job_id: int, deadline: float) -> str | None:
    """The job's final status, or None if it is still unfinished at ``deadline``
    (``time.monotonic()``)."""
    prev_info: Any = None
    prev_serial = -1
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        change = client.wait_for_job_change(
            job_id, ["status"], prev_info, prev_serial, min(left, 30.0)
        )
        if change is None or change == "nochange":
            continue
        job_info, log_entries = change
        for entry in log_entries:
            prev_serial = max(prev_serial, int(entry[0]))
        prev_info = job_info
        if job_info and job_info[0] in ("success", "error", "canceled"):
            return str(job_info[0])


def verify_disks(
    paths: Paths,
    client: LuxiClient,
    now: float,
    log: Any,
    *,
    strict: bool | None = None,
    wait: float = VERIFY_DISKS_WAIT,
) -> int:
    """Step 7 for every node group: verify its disks (unless a check is still pending)
    and activate the disks of the instances it reports.  Runs after the watcher lock is
    released, so a check stuck behind other jobs' locks does not block later runs."""
    groups = [
        GroupView(name=str(r[0]), uuid=str(r[1]))
        for r in _values(client.query("group", ["name", "uuid"]))
    ]
    instances = query_instances(client)
    unfinished = ["|", *(["=", "status", s] for s in sorted(PENDING_JOB_STATUSES))]
    jobs = [
        JobView(id=int(r[0]), status=str(r[1]), ops=tuple(r[2] or ()))
        for r in _values(client.query("job", ["id", "status", "ops"], unfinished))
    ]
    chosen, messages = groups_to_verify(groups, instances, pending_verify_groups(jobs))
    for message in messages:
        log(message)
    if not chosen:
        return 0
    # Its own small state file: this step runs outside the main watcher lock.
    path = paths.data_dir / "watcher-verify.data"
    state = load_state(path)
    is_strict = strict_verify(state, now, strict)
    write_file_atomic(path, json.dumps(state, sort_keys=True).encode(), mode=0o600)
    submitted = client.submit_many_jobs([[verify_disks_opcode(g, is_strict)] for g in chosen])
    deadline = time.monotonic() + wait
    for group, sub in zip(chosen, submitted, strict=False):
        if not (isinstance(sub, list | tuple) and sub and sub[0]):
            log(f"Could not submit the disk verification of group {group.name}: {sub}")
            continue
        job_id = int(sub[1])
        mode = "strict" if is_strict else "non-strict"
        log(f"Verifying the disks of group {group.name} ({mode}, job {job_id})")
        status = wait_finished(client, job_id, deadline)
        if status is None:
            log(f"Disk verification job {job_id} has not finished, leaving it")
            continue
        [[_status, opresult]] = client.query_jobs([job_id], ["status", "opresult"])
        client.call("ArchiveJob", job_id)
        if status != "success":
            log(f"Disk verification job {job_id} ended with {status}: {opresult}")
            continue
        ops, messages = activation_plan(opresult[0], instances, query_nodes(client))
        for message in messages:
            log(message)
        if ops:
            job = client.submit_job(ops)
            log(f"Submitted job {job} activating disks in group {group.name}")
    return 0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganeti-watcher", description="Periodic cluster repair.")
    p.add_argument("--ignore-pause", action="store_true", help="run even when paused")
    p.add_argument(
        "--job-age",
        type=base.parse_age,
        default=JOB_ARCHIVE_AGE,
        help="archive finished jobs older than this (default 6h)",
    )
    p.add_argument("-d", "--debug", action="store_true")
    p.add_argument(
        "--no-verify-disks",
        action="store_true",
        help="don't verify the instances' disks (and activate those that need it)",
    )
    p.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="disk verification waits for (--strict) or skips (--no-strict) instances and "
        "nodes other jobs hold (default: strict at most every 30 minutes)",
    )
    p.add_argument(
        "--verify-disks-wait",
        type=float,
        default=VERIFY_DISKS_WAIT,
        help="seconds to wait for the disk verification jobs (default 240); an unfinished "
        "one is left running",
    )
    p.add_argument(
        "--noded-port", type=int, default=constants.DEFAULT_NODED_PORT, help="node daemon port"
    )
    p.add_argument(
        "--noded-restart-command",
        default=None,
        help="how to restart a dead node daemon (default under systemd: "
        "systemctl restart ganeti-noded.service)",
    )
    opts = p.parse_args(sys.argv[1:] if argv is None else argv)
    paths = Paths(default_root())

    def log(message: str) -> None:
        print(message, flush=True)

    now = time.time()
    try:
        pause = paths.watcher_pause.read_text()
    except OSError:
        pause = None
    if not opts.ignore_pause and paused(pause, now):
        log("Watcher is paused, exiting")
        sys.exit(0)
    # Every node: keep the local node daemon alive.
    ensure_noded(paths, log, port=opts.noded_port, restart_command=opts.noded_restart_command)
    socket_path = os.environ.get("GANETI_LUXI_SOCKET") or str(paths.luxi_socket)
    if not Path(socket_path).exists():
        if opts.debug:
            log("Not the master (no LUXI socket), nothing to do")
        sys.exit(0)
    paths.lock_dir.mkdir(parents=True, exist_ok=True)
    with open(paths.lock_dir / "ganeti-watcher.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log("Another watcher is running, exiting")
            sys.exit(0)
        try:
            with LuxiClient(socket_path) as client:
                code = run(paths, client, now, opts.job_age, log)
        except errors.GanetiError as exc:
            print(f"ganeti-watcher: {exc}", file=sys.stderr)
            sys.exit(1)
    # The lock is released: a disk check waiting behind other jobs does not keep the
    # next runs from restarting instances (they see the pending check and skip it).
    if code == 0 and not opts.no_verify_disks:
        with open(paths.lock_dir / "ganeti-watcher-verify.lock", "w") as vlock:
            try:
                fcntl.flock(vlock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                log("Another watcher is verifying disks, not verifying")
                sys.exit(code)
            try:
                with LuxiClient(socket_path) as client:
                    code = verify_disks(
                        paths, client, now, log, strict=opts.strict, wait=opts.verify_disks_wait
                    )
            except errors.GanetiError as exc:
                print(f"ganeti-watcher: disk verification: {exc}", file=sys.stderr)
                sys.exit(1)
    sys.exit(code)
