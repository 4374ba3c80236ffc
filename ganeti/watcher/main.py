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
from ganeti.watcher.decide import JOB_ARCHIVE_AGE, InstanceView, NodeView, decide, paused
from ganeti.watcher.nodecheck import ensure_noded

INSTANCE_FIELDS = ["name", "uuid", "status", "admin_state", "disks_active", "pnode", "snodes"]


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


def run(paths: Paths, client: LuxiClient, now: float, job_age: int, log: Any) -> int:
    locked = locked_instances(client)
    instances = [
        InstanceView(
            name=r[0],
            status=str(r[2]),
            admin_state=str(r[3]),
            disks_active=bool(r[4]),
            pnode=str(r[5]),
            snodes=tuple(r[6] or ()),
        )
        for r in _values(client.query("instance", INSTANCE_FIELDS))
    ]
    nodes = [
        NodeView(name=r[0], bootid=r[1] if isinstance(r[1], str) else None, offline=bool(r[2]))
        for r in _values(client.query("node", ["name", "bootid", "offline"]))
    ]
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
                sys.exit(run(paths, client, now, opts.job_age, log))
        except errors.GanetiError as exc:
            print(f"ganeti-watcher: {exc}", file=sys.stderr)
            sys.exit(1)
