"""``hbal -L -X``: execute a balancing plan through LUXI.

Each move becomes one job whose opcodes mirror the ``-C`` commands (Ganeti's
``iMoveToJob``): ``failover`` -> ``OP_INSTANCE_MIGRATE`` for a running
instance (``allow_failover``, no explicit target: the mirror decides) or
``OP_INSTANCE_FAILOVER`` for a stopped one; ``failover -n NODE`` (non-DRBD
moves) -> the same with ``target_node``; ``replace-disks -n NODE`` ->
``OP_INSTANCE_REPLACE_DISKS`` (``replace_new_secondary``).

Job sets run one after the other: every job of a set is submitted at once
with ``SubmitManyJobs``; each job is then followed with ``WaitForJobChange``
until it is finalized, and the next set starts only when all jobs of this
one succeeded.  The first failed (or canceled, or unsubmittable) job stops
the execution with an error naming the job, its instance and the master's
message; ``hbal`` then exits with 1 (``Error: hbal: ...``), like Ganeti.
A first Ctrl-C stops after the current job set, a second one at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol, TextIO

from ganeti.htools.balance import Step
from ganeti.htools.jobs import jobsets
from ganeti.htools.model import Cluster
from ganeti.htools.moves import Move, MoveType
from ganeti.htools.types import HToolsError

FINALIZED = frozenset({"success", "error", "canceled"})
WAIT_TIMEOUT = 60.0
PRIORITIES = {"low": 10, "normal": 0, "high": -10}
REASON_SOURCE = "gnt:client:hbal"


class LuxiJobs(Protocol):
    """The LUXI calls execution needs (``LuxiClient`` or a fake)."""

    def call(self, method: str, *args: Any) -> Any: ...


def move_opcodes(c: Cluster, mv: Move) -> list[dict[str, Any]]:
    """The opcodes of one move, in order (Ganeti's ``iMoveToJob``)."""
    name = c.inst_specs[mv.inst].name
    running = bool(c.i_running[mv.inst])

    def failover(target: int = -1) -> dict[str, Any]:
        op: dict[str, Any]
        if running:
            op = {
                "OP_ID": "OP_INSTANCE_MIGRATE",
                "instance_name": name,
                "cleanup": False,
                "allow_runtime_changes": False,
                "ignore_ipolicy": False,
                "allow_failover": True,
                "ignore_hvversions": True,
            }
        else:
            op = {
                "OP_ID": "OP_INSTANCE_FAILOVER",
                "instance_name": name,
                "ignore_consistency": False,
                "ignore_ipolicy": False,
                "cleanup": False,
            }
        if target >= 0:
            op["target_node"] = c.node_specs[target].name
        return op

    def replace(target: int) -> dict[str, Any]:
        return {
            "OP_ID": "OP_INSTANCE_REPLACE_DISKS",
            "instance_name": name,
            "early_release": False,
            "ignore_ipolicy": False,
            "mode": "replace_new_secondary",
            "disks": [],
            "remote_node": c.node_specs[target].name,
        }

    t = mv.target
    if mv.kind == MoveType.FAILOVER:
        return [failover()]
    if mv.kind == MoveType.FAILOVER_TO_ANY:
        return [failover(t)]
    if mv.kind == MoveType.REPLACE_SECONDARY:
        return [replace(t)]
    if mv.kind == MoveType.REPLACE_AND_FAILOVER:
        return [replace(t), failover()]
    if mv.kind == MoveType.REPLACE_PRIMARY:
        return [failover(), replace(t), failover()]
    if mv.kind == MoveType.FAILOVER_AND_REPLACE:
        return [failover(), replace(t)]
    raise HToolsError(f"unknown move type {mv.kind!r}")


def annotate(
    ops: list[dict[str, Any]], priority: str | None, reason: str | None
) -> list[dict[str, Any]]:
    now = time.time_ns()
    for op in ops:
        if priority is not None:
            op["priority"] = PRIORITIES[priority]
        op["reason"] = [[REASON_SOURCE, reason or "", now]]
    return ops


def _error_text(result: Any) -> str:
    """The master's message from an encoded exception ``[Class, [args]]``."""
    if isinstance(result, list) and len(result) == 2 and isinstance(result[1], list):
        args = result[1]
        if args and isinstance(args[0], str):
            return args[0]
        return f"{result[0]}: {args}"
    return str(result)


def wait_job(client: LuxiJobs, job_id: int, timeout: float = WAIT_TIMEOUT) -> str:
    """Follow a job with WaitForJobChange until it is finalized; its status."""
    prev_info: Any = None
    prev_serial = -1
    while True:
        change = client.call(
            "WaitForJobChange", job_id, ["status"], prev_info, prev_serial, timeout
        )
        if change is None or change == "nochange":
            continue
        info, log = change
        for entry in log or []:
            prev_serial = max(prev_serial, int(entry[0]))
        prev_info = info
        if info and info[0] in FINALIZED:
            return str(info[0])


def job_failure(client: LuxiJobs, job_id: int) -> str:
    """Why a finalized, unsuccessful job failed (status and the master's message)."""
    rows = client.call("QueryJobs", [job_id], ["status", "opstatus", "opresult"])
    if not rows or rows[0] is None:
        return "job lost"
    status, opstatus, opresult = rows[0]
    for st, res in zip(opstatus or [], opresult or [], strict=False):
        if st == "error":
            return f"{status}: {_error_text(res)}"
    return str(status)


class _Cancel:
    """Ctrl-C once: stop after this job set; twice: stop now."""

    def __init__(self, err: TextIO) -> None:
        self.requested = False
        self._err = err
        self._old: Any = None

    def _handler(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            self._err.write("Double cancel request, exiting now...\n")
            raise KeyboardInterrupt
        self.requested = True
        self._err.write(
            "Cancel request registered, will exit at the end of the current job set...\n"
        )

    def __enter__(self) -> _Cancel:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def execute_plan(
    c: Cluster,
    steps: Sequence[Step],
    client: LuxiJobs,
    out: TextIO,
    err: TextIO,
    *,
    first_only: bool = False,
    priority: str | None = None,
    reason: str | None = None,
    wait: Callable[[LuxiJobs, int], str] = wait_job,
) -> None:
    """Run the plan's job sets in order; raise HToolsError at the first failure."""
    sets = jobsets(steps)
    if first_only:
        sets = sets[:1]
    with _Cancel(err) as cancel:
        for members in sets:
            if cancel.requested:
                raise HToolsError("Exiting early due to user request")
            names = [c.inst_specs[steps[k].move.inst].name for k in members]
            jobs = [annotate(move_opcodes(c, steps[k].move), priority, reason) for k in members]
            out.write("Executing jobset for instances " + ", ".join(names) + "\n")
            out.flush()
            answers = client.call("SubmitManyJobs", jobs)
            ids: list[int] = []
            for name, answer in zip(names, answers, strict=True):
                ok, value = answer
                if not ok:
                    raise HToolsError(
                        f"Submitting the job for instance {name} failed: {_error_text(value)}"
                    )
                ids.append(int(value))
            out.write("Got job IDs " + ", ".join(str(j) for j in ids) + "\n")
            out.flush()
            failed: list[str] = []
            for name, job_id in zip(names, ids, strict=True):
                status = wait(client, job_id)
                if status != "success":
                    failed.append(f"job {job_id} (instance {name}) {job_failure(client, job_id)}")
            if failed:
                raise HToolsError(
                    "Not all jobs completed successfully: " + "; ".join(failed) + "\nAborting."
                )
