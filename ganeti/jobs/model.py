"""Jobs and their opcodes: statuses, transitions, the job file format, query fields.

Pure data: no I/O, no clock.  Timestamps are passed in as ``[sec, usec]`` lists.

Statuses
--------
Opcodes and jobs share seven status strings (:data:`ALL_STATUSES`); ``canceled``,
``success`` and ``error`` are final.  An opcode moves ``queued -> waiting -> running ->
success|error``; ``waiting -> canceling -> canceled`` on a cancel request; ``queued ->
canceled`` when cancelled before it started; ``queued|waiting -> error`` when an earlier
opcode of its job failed.  A job's status is derived from its opcodes
(:meth:`QueuedJob.calc_status`), as is its priority (:meth:`QueuedJob.calc_priority`).

Job file
--------
:meth:`QueuedJob.to_dict` gives exactly the JSON stored in ``queue/job-<id>``::

    {"id": 7, "received_timestamp": [s, us], "start_timestamp": null, "end_timestamp": null,
     "ops": [{"input": {...opcode dict...}, "status": "queued", "result": null,
              "log": [[serial, [s, us], "message", "text"], ...], "priority": 0,
              "start_timestamp": null, "exec_timestamp": null, "end_timestamp": null}]}

:meth:`QueuedJob.from_dict` reads it back (raising :class:`~ganeti.errors.JobQueueError`
on malformed data) and the two round-trip.

Query fields
------------
:meth:`QueuedJob.get_info` returns the values of the job fields used by ``QueryJobs``,
``WaitForJobChange`` and the query engine: see :data:`JOB_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from attrs import define, field

from ganeti import constants, errors
from ganeti.opcodes import OpCode

OP_STATUS_QUEUED: Final = "queued"
OP_STATUS_WAITING: Final = "waiting"
OP_STATUS_CANCELING: Final = "canceling"
OP_STATUS_RUNNING: Final = "running"
OP_STATUS_CANCELED: Final = "canceled"
OP_STATUS_SUCCESS: Final = "success"
OP_STATUS_ERROR: Final = "error"

ALL_STATUSES: Final = (
    OP_STATUS_QUEUED,
    OP_STATUS_WAITING,
    OP_STATUS_CANCELING,
    OP_STATUS_RUNNING,
    OP_STATUS_CANCELED,
    OP_STATUS_SUCCESS,
    OP_STATUS_ERROR,
)
FINALIZED: Final = frozenset({OP_STATUS_CANCELED, OP_STATUS_SUCCESS, OP_STATUS_ERROR})

# Log entry types (the fourth element of a log entry is the message).
ELOG_MESSAGE: Final = "message"
ELOG_REMOTE_IMPORT: Final = "remote-import"
ELOG_JQUEUE_TEST: Final = "jqueue-test"
ELOG_DELAY_TEST: Final = "delay-test"

# Results stored for opcodes that did not run to completion.
MSG_CANCELED: Final = "Job canceled by request"
RESULT_PRECEDING_FAILED: Final = ("OpExecError", ["Preceding opcode failed"])

JOB_FIELDS: Final = (
    "id",
    "status",
    "ops",
    "opstatus",
    "opresult",
    "oplog",
    "summary",
    "received_ts",
    "start_ts",
    "end_ts",
    "priority",
    "oppriority",
    "opstart",
    "opexec",
    "opend",
    "archived",
)
"""Every field :meth:`QueuedJob.get_info` knows."""

Timestamp = list[int]
LogEntry = list[Any]  # [serial, [sec, usec], type, message]


def make_timestamp(seconds: float) -> Timestamp:
    """``[sec, usec]`` for a POSIX time."""
    sec = int(seconds)
    return [sec, min(int((seconds - sec) * 1_000_000), 999_999)]


def timestamp_seconds(ts: Sequence[int] | None) -> float | None:
    if ts is None:
        return None
    return ts[0] + ts[1] / 1_000_000


def _bad(what: str) -> errors.JobQueueError:
    return errors.JobQueueError(f"malformed job data: {what}")


def _read_ts(data: dict[str, Any], key: str) -> Timestamp | None:
    value = data.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) for v in value)
    ):
        raise _bad(f"{key} must be [sec, usec] or null, not {value!r}")
    return [int(value[0]), int(value[1])]


@define(eq=False)
class QueuedOpCode:
    """One opcode of a job with its execution state.

    ``input`` is the opcode dict as stored (defaults filled in at submission); ``op`` is
    the validated :class:`OpCode`, or None for a job file whose opcode no longer
    validates (such jobs can be shown and archived but not run).
    """

    input: dict[str, Any]
    op: OpCode | None = None
    status: str = OP_STATUS_QUEUED
    result: Any = None
    log: list[LogEntry] = field(factory=list)
    priority: int = constants.OP_PRIO_DEFAULT
    start_timestamp: Timestamp | None = None
    exec_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None

    @classmethod
    def from_opcode(cls, op: OpCode) -> QueuedOpCode:
        return cls(input=op.to_dict(), op=op, priority=op.priority)

    @property
    def finalized(self) -> bool:
        return self.status in FINALIZED

    def summary(self) -> str:
        if self.op is not None:
            return self.op.summary()
        op_id = self.input.get("OP_ID")
        return str(op_id).removeprefix("OP_") if op_id else "(unknown opcode)"

    def finalize(self, status: str, result: Any, now: Timestamp) -> None:
        """Move to a final status, setting ``end_timestamp``."""
        assert status in FINALIZED, status
        self.status = status
        self.result = result
        self.end_timestamp = now

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "status": self.status,
            "result": self.result,
            "log": self.log,
            "priority": self.priority,
            "start_timestamp": self.start_timestamp,
            "exec_timestamp": self.exec_timestamp,
            "end_timestamp": self.end_timestamp,
        }

    @classmethod
    def from_dict(cls, data: Any) -> QueuedOpCode:
        if not isinstance(data, dict):
            raise _bad("an opcode entry must be a dict")
        inp = data.get("input")
        if not isinstance(inp, dict):
            raise _bad("opcode 'input' must be a dict")
        status = data.get("status")
        if status not in ALL_STATUSES:
            raise _bad(f"unknown opcode status {status!r}")
        log = data.get("log") or []
        if not isinstance(log, list) or not all(
            isinstance(e, list) and len(e) == 4 and isinstance(e[0], int) for e in log
        ):
            raise _bad("opcode 'log' must be a list of [serial, ts, type, message]")
        priority = data.get("priority", constants.OP_PRIO_DEFAULT)
        if not isinstance(priority, int):
            raise _bad(f"opcode priority must be an integer, not {priority!r}")
        try:
            op: OpCode | None = OpCode.from_dict(inp)
        except errors.GanetiError:
            op = None
        return cls(
            input=inp,
            op=op,
            status=status,
            result=data.get("result"),
            log=[list(e) for e in log],
            priority=priority,
            start_timestamp=_read_ts(data, "start_timestamp"),
            exec_timestamp=_read_ts(data, "exec_timestamp"),
            end_timestamp=_read_ts(data, "end_timestamp"),
        )


@define(eq=False)
class QueuedJob:
    """A job: ordered opcodes plus timestamps.  ``archived`` is not stored in the file."""

    id: int
    ops: list[QueuedOpCode]
    received_timestamp: Timestamp | None = None
    start_timestamp: Timestamp | None = None
    end_timestamp: Timestamp | None = None
    archived: bool = False

    # -- derived state ----------------------------------------------------------------

    def calc_status(self) -> str:
        """The job status as derived from its opcodes (see the module docstring)."""
        status = OP_STATUS_QUEUED
        all_success = True
        for op in self.ops:
            if op.status == OP_STATUS_SUCCESS:
                continue
            all_success = False
            if op.status in (OP_STATUS_WAITING, OP_STATUS_RUNNING):
                status = op.status
            elif op.status in (OP_STATUS_ERROR, OP_STATUS_CANCELING, OP_STATUS_CANCELED):
                return op.status
        return OP_STATUS_SUCCESS if all_success and self.ops else status

    def calc_priority(self) -> int:
        """Lowest (most important) priority among opcodes not yet finalized."""
        pending = [op.priority for op in self.ops if not op.finalized]
        return min(pending) if pending else constants.OP_PRIO_DEFAULT

    @property
    def finalized(self) -> bool:
        return self.calc_status() in FINALIZED

    @property
    def log_serial(self) -> int:
        """Highest log serial used so far (0 when the job logged nothing)."""
        best = 0
        for op in self.ops:
            if op.log:
                best = max(best, op.log[-1][0])
        return best

    def dependencies(self) -> list[tuple[int, list[str]]]:
        """Every ``depends`` entry of every opcode, ids as absolute integers."""
        deps: list[tuple[int, list[str]]] = []
        for op in self.ops:
            for dep_id, statuses in op.input.get("depends") or []:
                deps.append((int(dep_id), list(statuses)))
        return deps

    def log_entries_since(self, serial: int | None) -> list[LogEntry]:
        """Log entries of all opcodes with a serial above ``serial`` (all when None)."""
        low = -1 if serial is None else serial
        return [entry for op in self.ops for entry in op.log if entry[0] > low]

    # -- file format ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ops": [op.to_dict() for op in self.ops],
            "received_timestamp": self.received_timestamp,
            "start_timestamp": self.start_timestamp,
            "end_timestamp": self.end_timestamp,
        }

    @classmethod
    def from_dict(cls, data: Any, *, archived: bool = False) -> QueuedJob:
        if not isinstance(data, dict):
            raise _bad("a job must be a dict")
        job_id = data.get("id")
        if isinstance(job_id, str) and job_id.isdigit():
            job_id = int(job_id)
        if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id < 0:
            raise _bad(f"invalid job id {job_id!r}")
        ops = data.get("ops")
        if not isinstance(ops, list) or not ops:
            raise _bad("'ops' must be a non-empty list")
        return cls(
            id=job_id,
            ops=[QueuedOpCode.from_dict(op) for op in ops],
            received_timestamp=_read_ts(data, "received_timestamp"),
            start_timestamp=_read_ts(data, "start_timestamp"),
            end_timestamp=_read_ts(data, "end_timestamp"),
            archived=archived,
        )

    # -- query fields -----------------------------------------------------------------

    def get_field(self, name: str) -> Any:
        """The value of one query field; unknown names raise OpPrereqError."""
        ops = self.ops
        if name == "id":
            return self.id
        if name == "status":
            return self.calc_status()
        if name == "ops":
            return [op.input for op in ops]
        if name == "opstatus":
            return [op.status for op in ops]
        if name == "opresult":
            return [op.result for op in ops]
        if name == "oplog":
            return [op.log for op in ops]
        if name == "summary":
            return [op.summary() for op in ops]
        if name == "received_ts":
            return self.received_timestamp
        if name == "start_ts":
            return self.start_timestamp
        if name == "end_ts":
            return self.end_timestamp
        if name == "priority":
            return self.calc_priority()
        if name == "oppriority":
            return [op.priority for op in ops]
        if name == "opstart":
            return [op.start_timestamp for op in ops]
        if name == "opexec":
            return [op.exec_timestamp for op in ops]
        if name == "opend":
            return [op.end_timestamp for op in ops]
        if name == "archived":
            return self.archived
        raise errors.OpPrereqError(f"Unknown job field {name!r}", errors.ECODE_INVAL)

    def get_info(self, fields: Iterable[str]) -> list[Any]:
        """Values of ``fields`` in order (``QueryJobs``/``WaitForJobChange`` rows)."""
        return [self.get_field(name) for name in fields]


def check_fields(fields: Iterable[str]) -> list[str]:
    """Validate a field list; raises OpPrereqError naming the first unknown field."""
    names = list(fields)
    for name in names:
        if name not in JOB_FIELDS:
            raise errors.OpPrereqError(f"Unknown job field {name!r}", errors.ECODE_INVAL)
    return names
