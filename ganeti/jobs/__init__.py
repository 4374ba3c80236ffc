"""The job queue: jobs, their persistence, scheduling and execution through mcpu.

Public API (what the LUXI server, the master service and the query engine use)::

    queue = JobQueue(paths=paths, clock=reactor, processor=OpcodeProcessor(...),
                     locks=lock_manager, replicator=NullReplicator())
    queue.start()                                   # load, recover, schedule
    job_id = await queue.submit_job([op_dict, ...])
    results = await queue.submit_many_jobs([[op_dict], ...])   # [[True, id]|[False, msg]]
    info, log = await queue.wait_for_job_change(job_id, ["status"], prev_info, prev_serial, 10)
    queue.cancel_job(job_id)                        # [bool, message]
    queue.change_job_priority(job_id, -10)          # [bool, message]
    queue.archive_job(job_id); queue.auto_archive_jobs(age, timeout)   # bool; [archived, left]
    queue.query_jobs(ids_or_None, fields)           # rows of field values (None: unknown id)
    queue.set_drain_flag(True); queue.is_drained()
    queue.get_job(job_id); queue.iter_jobs(include_archived=True)      # QueuedJob objects
    queue.max_running_jobs = 30                     # takes effect at once

Semantics
---------
* Submission validates every opcode (:func:`ganeti.opcodes.from_dict`; bad parameters
  fail the call with ``ParameterError`` naming the parameter; priorities must be one of
  -10, 0, 10), refuses when drained (``JobQueueDrainError("Queue drained")``) and
  queues the job for the next commit.  The commit runs once per reactor tick: it
  allocates ids for every job submitted in that tick (one write of ``queue/serial``),
  writes their files, hands them to the :class:`IQueueReplicator`, and only then fires
  the submitters' Deferreds with the ids and lets the scheduler see the jobs.
* Scheduling: at most ``max_running_jobs`` job coroutines are active; eligible jobs
  start in (priority, id) order.  A job whose dependencies (``depends`` of any of its
  opcodes) are not finalized yet does not take a slot; its first opcode shows
  ``waiting`` until they finish.  Dependencies are then evaluated before each opcode:
  accepted status -> go on; ``canceled`` not accepted -> the job is canceled; other
  mismatch or unknown job -> the opcode fails.  Relative ids (-1 = previous job) are
  only valid in ``submit_many_jobs`` and are stored resolved; self-dependencies fail.
* Execution: each job is one coroutine that runs its opcodes through
  :class:`ganeti.mcpu.IOpcodeProcessor`; lock waits and LU work are Deferreds, so
  cancelling the job's Deferred interrupts whatever it waits for.
* Cancel: queued or dependency-blocked -> canceled at once; waiting for locks -> the
  lock wait is cancelled (the lock goes to the next waiter), the job ends ``canceled``;
  running -> refused, unless ``kill=True`` which cancels the LU's current wait.
* Persistence: status changes are written on the next tick (grouped with everything
  else changed in that tick); feedback log lines within ``LOG_FLUSH_DELAY``.  Watchers
  of a job see its final state only after it is on disk.
* Restart: jobs found ``running``/``waiting``/``canceling`` are failed with "Job was
  running when the master daemon stopped"; ``queued`` ones are scheduled again;
  unreadable job files are logged and skipped.
"""

from ganeti.jobs.model import (
    ALL_STATUSES,
    FINALIZED,
    JOB_FIELDS,
    OP_STATUS_CANCELED,
    OP_STATUS_CANCELING,
    OP_STATUS_ERROR,
    OP_STATUS_QUEUED,
    OP_STATUS_RUNNING,
    OP_STATUS_SUCCESS,
    OP_STATUS_WAITING,
    QueuedJob,
    QueuedOpCode,
)
from ganeti.jobs.queue import IJobQueue, JobQueue
from ganeti.jobs.storage import IQueueReplicator, JobStorage, NullReplicator

__all__ = [
    "ALL_STATUSES",
    "FINALIZED",
    "JOB_FIELDS",
    "OP_STATUS_CANCELED",
    "OP_STATUS_CANCELING",
    "OP_STATUS_ERROR",
    "OP_STATUS_QUEUED",
    "OP_STATUS_RUNNING",
    "OP_STATUS_SUCCESS",
    "OP_STATUS_WAITING",
    "IJobQueue",
    "IQueueReplicator",
    "JobQueue",
    "JobStorage",
    "NullReplicator",
    "QueuedJob",
    "QueuedOpCode",
]
