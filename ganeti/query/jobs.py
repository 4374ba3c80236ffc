"""Fields of the ``job`` resource, over job-file dicts (spec §4.3).

A job dict has ``id``, ``ops`` (each with ``input``, ``status``, ``result``, ``log``,
``priority``, ``start_timestamp``, ``exec_timestamp``, ``end_timestamp``),
``received_timestamp``, ``start_timestamp``, ``end_timestamp`` and, for jobs in the
archive, ``archived: true``.  Nothing here depends on how the queue stores them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ganeti import constants as C
from ganeti import errors
from ganeti.opcodes import lookup as lookup_opcode
from ganeti.opcodes.base import SUMMARY_MAX
from ganeti.query.base import FieldDef, FieldTable, JobDict, QueryContext, QueryData

DEFAULT_LIST_FIELDS = ("id", "status", "summary")
FIELDS_BULK = (
    "id",
    "ops",
    "status",
    "summary",
    "opstatus",
    "received_ts",
    "start_ts",
    "end_ts",
)
FIELDS_SINGLE = (*FIELDS_BULK, "oplog", "opresult")

# Job and opcode statuses (spec §4.2).
STATUS_QUEUED = "queued"
STATUS_WAITING = "waiting"
STATUS_CANCELING = "canceling"
STATUS_RUNNING = "running"
STATUS_CANCELED = C.JOB_STATUS_CANCELED
STATUS_SUCCESS = C.JOB_STATUS_SUCCESS
STATUS_ERROR = C.JOB_STATUS_ERROR
STATUS_FINALIZED = frozenset({STATUS_CANCELED, STATUS_SUCCESS, STATUS_ERROR})
_STOPPING = frozenset({STATUS_ERROR, STATUS_CANCELING, STATUS_CANCELED})
_ACTIVE = frozenset({STATUS_WAITING, STATUS_RUNNING})


def job_status(op_statuses: Iterable[str]) -> str:
    """A job's status from its opcodes' statuses, scanned in order.

    The first error/canceling/canceled opcode decides; otherwise the last
    waiting/running one; success only if every opcode succeeded; else queued.  A job
    without opcodes never ran anything, so it counts as queued.
    """
    current: str | None = None
    seen = all_success = False
    for status in op_statuses:
        if not seen:
            seen = all_success = True
        if status in _STOPPING:
            return status
        if status != STATUS_SUCCESS:
            all_success = False
        if status in _ACTIVE:
            current = status
    if current is not None:
        return current
    return STATUS_SUCCESS if all_success else STATUS_QUEUED


def job_priority(ops: Sequence[Mapping[str, Any]]) -> int:
    """Most important (lowest) priority of the unfinished opcodes; default when all done."""
    pending = [
        int(op.get("priority", C.OP_PRIO_DEFAULT))
        for op in ops
        if op.get("status") not in STATUS_FINALIZED
    ]
    return min(pending, default=C.OP_PRIO_DEFAULT)


def op_summary(op_input: Any) -> str:
    """``INSTANCE_STARTUP(web1)``: the opcode name and its most telling parameter.

    Same text as :meth:`ganeti.opcodes.OpCode.summary`, but read straight from the
    stored dict: a listing must not fail (or validate) because one old job is odd.
    """
    op_id = op_input.get("OP_ID") if isinstance(op_input, Mapping) else None
    if not op_id:
        return "(unknown opcode)"
    text = str(op_id).removeprefix("OP_")
    try:
        shown_fields = lookup_opcode(str(op_id)).SUMMARY_FIELDS
    except errors.OpCodeUnknown:
        return text
    for name in shown_fields:
        value = op_input.get(name)
        if value is None or value == []:
            continue
        shown = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        if len(shown) > SUMMARY_MAX:
            shown = shown[: SUMMARY_MAX - 3] + "..."
        return f"{text}({shown})"
    return text


def job_items(ctx: QueryContext, include_archived: bool) -> list[JobDict]:
    source = ctx.jobs
    if source is None:
        return []
    jobs: Iterable[JobDict] = source(include_archived) if callable(source) else source
    return [j for j in jobs if include_archived or not j.get("archived", False)]


def _ops(job: JobDict) -> list[Mapping[str, Any]]:
    return list(job.get("ops") or [])


def _per_op(key: str, default: Any = None) -> Callable[[QueryData, JobDict], list[Any]]:
    return lambda _qd, job: [op.get(key, default) for op in _ops(job)]


def _fields() -> list[FieldDef]:
    t, b, n, o = C.QFT_TEXT, C.QFT_BOOL, C.QFT_NUMBER, C.QFT_OTHER
    # fmt: off
    return [
        FieldDef("id", "ID", n, "Job ID", lambda _qd, j: int(j["id"])),
        FieldDef("status", "Status", t, "Job status (derived from the opcodes)",
                 lambda _qd, j: job_status(op.get("status", "") for op in _ops(j))),
        FieldDef("priority", "Priority", n, "Current job priority (lower is more important)",
                 lambda _qd, j: job_priority(_ops(j))),
        FieldDef("archived", "Archived", b, "Whether the job is in the archive",
                 lambda _qd, j: bool(j.get("archived", False))),
        FieldDef("ops", "OpCodes", o, "List of submitted opcodes", _per_op("input")),
        FieldDef("opresult", "OpCode_result", o, "List of opcode results", _per_op("result")),
        FieldDef("opstatus", "OpCode_status", o, "List of opcode statuses",
                 _per_op("status")),
        FieldDef("oplog", "OpCode_log", o,
                 "List of opcode logs, entries [serial, [sec, usec], type, message]",
                 _per_op("log", [])),
        FieldDef("opstart", "OpCode_start", o, "List of opcode start timestamps",
                 _per_op("start_timestamp")),
        FieldDef("opexec", "OpCode_exec", o, "List of opcode execution start timestamps",
                 _per_op("exec_timestamp")),
        FieldDef("opend", "OpCode_end", o, "List of opcode end timestamps",
                 _per_op("end_timestamp")),
        FieldDef("oppriority", "OpCode_prio", o, "List of opcode priorities",
                 _per_op("priority", C.OP_PRIO_DEFAULT)),
        FieldDef("summary", "Summary", o, "Short summary of each opcode",
                 lambda _qd, j: [op_summary(op.get("input")) for op in _ops(j)]),
        FieldDef("reason", "Reason", o, "Reason trail of each opcode",
                 lambda _qd, j: [(op.get("input") or {}).get("reason", []) for op in _ops(j)]),
        FieldDef("received_ts", "Received", o, "Timestamp of submission [sec, usec]",
                 lambda _qd, j: j.get("received_timestamp")),
        FieldDef("start_ts", "Start", o, "Timestamp of execution start [sec, usec]",
                 lambda _qd, j: j.get("start_timestamp")),
        FieldDef("end_ts", "End", o, "Timestamp of job end [sec, usec]",
                 lambda _qd, j: j.get("end_timestamp")),
    ]
    # fmt: on


FIELDS = FieldTable(_fields())
