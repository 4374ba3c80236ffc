"""The job queue of the master daemon: submission, scheduling, waiting, cancel, archive.

See the package docstring (:mod:`ganeti.jobs`) for the semantics; this module holds
:class:`IJobQueue` and its implementation :class:`JobQueue`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import Any, Final

from attrs import define, field
from twisted.internet.defer import CancelledError, Deferred, fail, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from ganeti import constants, errors, serializer
from ganeti.jobs.model import (
    FINALIZED,
    MSG_CANCELED,
    OP_STATUS_CANCELED,
    OP_STATUS_CANCELING,
    OP_STATUS_ERROR,
    OP_STATUS_QUEUED,
    OP_STATUS_RUNNING,
    OP_STATUS_SUCCESS,
    OP_STATUS_WAITING,
    RESULT_PRECEDING_FAILED,
    QueuedJob,
    QueuedOpCode,
    Timestamp,
    check_fields,
    make_timestamp,
    timestamp_seconds,
)
from ganeti.jobs.storage import (
    JOB_FILE_MODE,
    IQueueReplicator,
    JobStorage,
    NullReplicator,
    encode_job,
)
from ganeti.locking import ILockManager
from ganeti.mcpu import IOpcodeProcessor, IOpExecCallbacks, encode_error
from ganeti.opcodes import OpCode
from ganeti.paths import Paths

log = Logger()

WFJC_TIMEOUT_MAX: Final = 89.0
"""Upper bound of a ``WaitForJobChange`` wait, as in Ganeti ((180 - 1) / 2 seconds)."""
LOG_FLUSH_DELAY: Final = 1.0
"""Feedback log lines are written at most this late (status changes: next tick)."""
WRITE_RETRY_DELAY: Final = 1.0
MSG_MASTER_STOPPED: Final = "Job was running when the master daemon stopped"
MSG_DRAINED: Final = "Queue drained"


class IJobQueue(Interface):
    """The job queue as the LUXI server, the master service and the query engine use it."""

    max_running_jobs: int

    def start() -> None:
        """Load the queue from disk, recover from a crash, start queued jobs."""

    def stop() -> None:
        """Write pending changes and stop timers (running jobs are left alone)."""

    def submit_job(ops: Sequence[Any], *, ignore_drain: bool = False) -> Deferred[int]:
        """Validate and store one job; fires with its id once the file is durable."""

    def submit_many_jobs(
        jobs: Sequence[Any], *, ignore_drain: bool = False
    ) -> Deferred[list[list[Any]]]:
        """Several jobs; ``[[True, id] | [False, message], ...]`` in order."""

    def wait_for_job_change(
        job_id: int,
        fields: Sequence[str],
        prev_job_info: Any,
        prev_log_serial: int | None,
        timeout: float,
    ) -> Deferred[list[Any]]:
        """``[job_info, log_entries]`` once something changed, or unchanged at timeout."""

    def cancel_job(job_id: int, kill: bool = False) -> list[Any]:
        """``[success, message]``."""

    def archive_job(job_id: int) -> bool:
        """Move a finalized job into the archive."""

    def auto_archive_jobs(age: float, timeout: float) -> list[int]:
        """Archive finalized jobs older than ``age`` seconds; ``[archived, left]``."""

    def change_job_priority(job_id: int, priority: int) -> list[Any]:
        """``[success, message]``."""

    def query_jobs(job_ids: Sequence[int] | None, fields: Sequence[str]) -> list[Any]:
        """One row of field values per id (None for unknown ids); all live jobs if None."""

    def set_drain_flag(drain: bool) -> None:
        """Set or clear the drain flag."""

    def is_drained() -> bool:
        """Whether submissions are refused."""

    def get_job(job_id: int, include_archived: bool = True) -> QueuedJob | None:
        """A job by id, live or (optionally) archived."""

    def iter_jobs(include_archived: bool = False) -> Iterator[QueuedJob]:
        """Live jobs by id, then archived ones when asked."""


@define(eq=False)
class _Watcher:
    job_id: int
    fields: list[str]
    prev_info: Any
    prev_serial: int | None
    deferred: Deferred[list[Any]]
    timer: IDelayedCall | None = None


@define(eq=False)
class _Batch:
    """Jobs submitted in one call, waiting for the next commit."""

    jobs: list[list[OpCode] | str]  # validated opcodes, or why the job was refused
    deferred: Deferred[list[list[Any]]]
    many: bool
    ids: list[int | None] = field(factory=list)


@implementer(IOpExecCallbacks)
class _OpCallbacks:
    def __init__(self, queue: JobQueue, job: QueuedJob, qop: QueuedOpCode) -> None:
        self._queue = queue
        self._job = job
        self._qop = qop

    def notify_start(self) -> None:
        qop = self._qop
        if qop.status == OP_STATUS_CANCELING:
            raise CancelledError()
        qop.status = OP_STATUS_RUNNING
        qop.exec_timestamp = self._queue._now()
        self._queue._changed(self._job, urgent=True)

    def feedback(self, msg_type: str, message: str) -> None:
        job = self._job
        self._qop.log.append([job.log_serial + 1, self._queue._now(), msg_type, message])
        self._queue._changed(job, urgent=False)

    def current_priority(self) -> int:
        return self._qop.priority


def _check_submit_priority(op: OpCode) -> None:
    if op.priority not in constants.OP_PRIO_SUBMIT_VALID:
        valid = ", ".join(str(p) for p in sorted(constants.OP_PRIO_SUBMIT_VALID))
        raise errors.ParameterError(
            f"{op.OP_ID}: parameter 'priority': {op.priority} is not one of {valid}"
        )


def _validate_ops(ops: Any) -> list[OpCode]:
    if not isinstance(ops, list | tuple) or not ops:
        raise errors.ParameterError("a job must be a non-empty list of opcodes")
    result = []
    for data in ops:
        op = OpCode.from_dict(data)
        _check_submit_priority(op)
        result.append(op)
    return result


def _jsonable_result(value: Any) -> Any:
    try:
        serializer.dump_json(value)
    except (TypeError, ValueError):
        return str(value)
    return value


@implementer(IJobQueue)
class JobQueue:
    """The master's job queue (see :mod:`ganeti.jobs`)."""

    def __init__(
        self,
        *,
        paths: Paths,
        clock: IReactorTime,
        processor: IOpcodeProcessor,
        locks: ILockManager | None = None,
        replicator: IQueueReplicator | None = None,
        max_running_jobs: int = constants.DEFAULT_MAX_RUNNING_JOBS,
    ) -> None:
        self._clock = clock
        self._processor = processor
        self._locks = locks
        self._replicator: IQueueReplicator = replicator or NullReplicator()
        self.storage = JobStorage(paths)
        self._paths = paths
        self._max_running = max_running_jobs
        self._serial = 0
        self._jobs: dict[int, QueuedJob] = {}
        # Scheduling.
        self._ready: list[tuple[int, int]] = []  # heap of (priority, job id)
        self._ready_ids: set[int] = set()
        self._blocked: dict[int, set[int]] = {}  # dependency id -> blocked job ids
        self._blocked_ids: set[int] = set()
        self._running: dict[int, Deferred[None]] = {}
        self._scheduling = False
        # Persistence.
        self._pending: list[_Batch] = []
        self._dirty: dict[int, QueuedJob] = {}
        self._final_pending: set[int] = set()
        self._flush_call: IDelayedCall | None = None
        self._flush_urgent = False
        # Waiters.
        self._watchers: dict[int, list[_Watcher]] = {}
        self._batch_results: dict[int, list[list[Any]]] = {}
        self._started = False

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.storage.prepare()
        serial = self.storage.read_serial()
        now = self._now()
        recovered: list[QueuedJob] = []
        for job_id in self.storage.job_ids_on_disk():
            serial = max(serial, job_id)
            try:
                job = self.storage.load_job(job_id)
            except Exception as exc:
                log.error(
                    "Skipping unreadable job file {path}: {error}",
                    path=str(self._paths.job_file(job_id)),
                    error=str(exc),
                )
                continue
            status = job.calc_status()
            if status in (OP_STATUS_RUNNING, OP_STATUS_WAITING, OP_STATUS_CANCELING):
                for qop in job.ops:
                    if not qop.finalized:
                        qop.finalize(OP_STATUS_ERROR, ["OpExecError", [MSG_MASTER_STOPPED]], now)
                job.end_timestamp = now
                self._dirty[job_id] = job
                log.warn(
                    "Job {job_id} was {status} at master stop; marked as failed",
                    job_id=job_id,
                    status=status,
                )
            self._jobs[job_id] = job
            if job.calc_status() == OP_STATUS_QUEUED:
                recovered.append(job)
        self._serial = serial
        self._started = True
        if self._dirty:
            self._schedule_flush(urgent=True)
        for job in recovered:
            self._enqueue(job)
        self._schedule()
        log.info(
            "Job queue started: {count} jobs, {queued} queued, last id {serial}",
            count=len(self._jobs),
            queued=len(recovered),
            serial=serial,
        )

    def stop(self) -> None:
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._pending or self._dirty:
            self._flush()
        for watchers in list(self._watchers.values()):
            for w in list(watchers):
                self._fire_watcher(w)
        self._started = False

    # -- configuration -------------------------------------------------------------------

    @property
    def max_running_jobs(self) -> int:
        return self._max_running

    @max_running_jobs.setter
    def max_running_jobs(self, value: int) -> None:
        if value < 1:
            raise errors.ParameterError(f"max_running_jobs must be positive, not {value}")
        self._max_running = value
        self._schedule()

    def running_job_ids(self) -> list[int]:
        """Jobs whose coroutine is active (counted against ``max_running_jobs``)."""
        return sorted(self._running)

    # -- drain ----------------------------------------------------------------------------

    def set_drain_flag(self, drain: bool) -> None:
        self.storage.set_drained(drain)
        path = self._paths.queue_drain
        if drain:
            self._replicate_update(path, b"")
        log.info("Job queue drain flag set to {drain}", drain=drain)

    def is_drained(self) -> bool:
        return self.storage.is_drained()

    # -- submission ----------------------------------------------------------------------

    def submit_job(self, ops: Sequence[Any], *, ignore_drain: bool = False) -> Deferred[int]:
        try:
            self._check_accepting(ignore_drain)
            validated = _validate_ops(ops)
            for op in validated:
                for dep_id, _statuses in op.depends or []:
                    if int(dep_id) < 0:
                        raise errors.ParameterError(
                            "relative job dependencies are only allowed in SubmitManyJobs"
                        )
        except errors.GanetiError:
            return fail()
        d: Deferred[list[list[Any]]] = Deferred()
        self._pending.append(_Batch([validated], d, many=False))
        self._schedule_flush(urgent=True)

        def single(results: list[list[Any]]) -> int:
            ok, value = results[0]
            if not ok:
                raise errors.ParameterError(value)
            return int(value)

        return d.addCallback(single)

    def submit_many_jobs(
        self, jobs: Sequence[Any], *, ignore_drain: bool = False
    ) -> Deferred[list[list[Any]]]:
        try:
            self._check_accepting(ignore_drain)
            if not isinstance(jobs, list | tuple):
                raise errors.ParameterError("SubmitManyJobs needs a list of jobs")
        except errors.GanetiError:
            return fail()
        entries: list[list[OpCode] | str] = []
        for ops in jobs:
            try:
                entries.append(_validate_ops(ops))
            except errors.GanetiError as exc:
                entries.append(str(exc))
        d: Deferred[list[list[Any]]] = Deferred()
        if not entries:
            return succeed([])
        self._pending.append(_Batch(entries, d, many=True))
        self._schedule_flush(urgent=True)
        return d

    def _check_accepting(self, ignore_drain: bool) -> None:
        if not self._started:
            raise errors.JobQueueError("The job queue is not running")
        if not ignore_drain and self.storage.is_drained():
            raise errors.JobQueueDrainError(MSG_DRAINED)

    def _materialize(self, batch: _Batch, now: Timestamp, now_ns: int) -> list[QueuedJob]:
        """Give the batch's jobs ids and build them; refusals go to ``batch.ids`` as None."""
        created: list[QueuedJob] = []
        for entry in batch.jobs:
            if isinstance(entry, str):
                batch.ids.append(None)
                continue
            self._serial += 1
            batch.ids.append(self._serial)
        results: list[list[Any]] = []
        for index, entry in enumerate(batch.jobs):
            job_id = batch.ids[index]
            if isinstance(entry, str) or job_id is None:
                results.append([False, entry])
                continue
            try:
                ops = [
                    self._prepare_op(op, job_id, i, index, batch, now_ns)
                    for i, op in enumerate(entry)
                ]
            except errors.GanetiError as exc:
                results.append([False, str(exc)])
                batch.ids[index] = None
                continue
            job = QueuedJob(
                id=job_id,
                ops=[QueuedOpCode.from_opcode(op) for op in ops],
                received_timestamp=now,
            )
            created.append(job)
            results.append([True, job_id])
        batch.jobs = []
        self._batch_results[id(batch)] = results
        return created

    def _prepare_op(
        self, op: OpCode, job_id: int, op_index: int, job_index: int, batch: _Batch, now_ns: int
    ) -> OpCode:
        changes: dict[str, Any] = {}
        if op.depends:
            resolved = []
            for dep_id, statuses in op.depends:
                dep = int(dep_id)
                if dep < 0:
                    target = job_index + dep
                    if target < 0 or batch.ids[target] is None:
                        raise errors.ParameterError(
                            f"Relative job dependency {dep} of job #{job_index} does not "
                            "point to a job submitted in the same request"
                        )
                    dep = batch.ids[target]  # type: ignore[assignment]
                if dep == job_id:
                    raise errors.ParameterError(f"Job {job_id} cannot depend on itself")
                resolved.append([dep, list(statuses)])
            changes["depends"] = resolved
        source = "gnt:opcode:" + op.OP_ID.removeprefix("OP_").lower()
        changes["reason"] = [*op.reason, [source, f"job={job_id};index={op_index}", now_ns]]
        return op.replace(**changes)

    # -- persistence ---------------------------------------------------------------------

    def _now(self) -> Timestamp:
        return make_timestamp(self._clock.seconds())

    def _schedule_flush(self, *, urgent: bool) -> None:
        call = self._flush_call
        if call is not None and call.active():
            if not urgent or self._flush_urgent:
                return
            call.cancel()
        self._flush_urgent = urgent
        self._flush_call = self._clock.callLater(0 if urgent else LOG_FLUSH_DELAY, self._flush)

    def _changed(self, job: QueuedJob, *, urgent: bool) -> None:
        self._dirty[job.id] = job
        if job.finalized:
            self._final_pending.add(job.id)  # watchers hear of it after the write
        self._schedule_flush(urgent=urgent)
        self._notify(job)

    def _replicate_update(self, path: Any, content: bytes) -> Deferred[None]:
        d = self._replicator.update(path, content)
        d.addErrback(lambda f: log.failure("Replicating {path} failed", f, path=str(path)))
        return d

    def _flush(self) -> None:
        """Commit: allocate ids for new submissions, write every changed job file."""
        self._flush_call = None
        batches, self._pending = self._pending, []
        now = self._now()
        now_ns = int(self._clock.seconds() * 1_000_000_000)
        self._batch_results = {}
        created: list[QueuedJob] = []
        serial_before = self._serial
        for batch in batches:
            created.extend(self._materialize(batch, now, now_ns))
        files: list[tuple[Any, bytes, int]] = []
        if self._serial != serial_before:
            files.append(
                (self._paths.queue_serial, self.storage.serial_content(self._serial), 0o640)
            )
        for job in created:
            self._dirty[job.id] = job
        dirty, self._dirty = self._dirty, {}
        for job in dirty.values():
            files.append((self._paths.job_file(job.id), encode_job(job), JOB_FILE_MODE))
        try:
            self.storage.write_batch(files)
        except Exception:
            failure = Failure()
            log.failure("Writing the job queue failed", failure)
            created_ids = {job.id for job in created}
            for job_id, job in dirty.items():
                if job_id not in created_ids:
                    self._dirty[job_id] = job
            if self._dirty:
                self._flush_call = self._clock.callLater(WRITE_RETRY_DELAY, self._flush)
                self._flush_urgent = False
            err = errors.JobQueueError(f"Cannot write the job queue: {failure.value}")
            for batch in batches:
                batch.deferred.errback(Failure(err))
            return
        for job in created:
            self._jobs[job.id] = job
        replicated = [self._replicate_update(path, content) for path, content, _ in files]
        finished = [job for job in dirty.values() if job.id in self._final_pending]
        results = self._batch_results
        self._batch_results = {}

        def done(_: object) -> None:
            for batch in batches:
                batch.deferred.callback(results[id(batch)])
            for job in created:
                log.debug("Job {job_id} submitted", job_id=job.id)
                self._enqueue(job)
            self._schedule()
            for job in finished:
                self._final_pending.discard(job.id)
                self._notify(job)

        if created or batches:
            gatherResults(replicated, consumeErrors=True).addBoth(done)
        else:
            done(None)

    # -- scheduling ----------------------------------------------------------------------

    def _dep_pending(self, dep_id: int) -> bool:
        dep = self._jobs.get(dep_id)
        return dep is not None and not dep.finalized

    def _enqueue(self, job: QueuedJob) -> None:
        pending = {dep for dep, _ in job.dependencies() if self._dep_pending(dep)}
        if pending:
            for dep in pending:
                self._blocked.setdefault(dep, set()).add(job.id)
            self._blocked_ids.add(job.id)
            for qop in job.ops:
                if not qop.finalized:
                    if qop.status == OP_STATUS_QUEUED:
                        now = self._now()
                        qop.status = OP_STATUS_WAITING
                        qop.start_timestamp = now
                        job.start_timestamp = job.start_timestamp or now
                        self._changed(job, urgent=True)
                    break
            return
        self._ready_ids.add(job.id)
        heapq.heappush(self._ready, (job.calc_priority(), job.id))

    def _schedule(self) -> None:
        if self._scheduling:
            return  # the loop below is active further up the stack
        self._scheduling = True
        try:
            while self._ready and len(self._running) < self._max_running:
                prio, job_id = heapq.heappop(self._ready)
                job = self._jobs.get(job_id)
                if job is None or job_id not in self._ready_ids:
                    continue
                if prio != job.calc_priority():
                    continue  # stale entry; a fresh one was pushed on priority change
                self._ready_ids.discard(job_id)
                self._start_job(job)
        finally:
            self._scheduling = False

    def _start_job(self, job: QueuedJob) -> None:
        # The coroutine may finish before fromCoroutine returns (no waits at all); its
        # _job_done then removes this placeholder and the real Deferred is not recorded.
        self._running[job.id] = Deferred()
        d = Deferred.fromCoroutine(self._run_job(job))
        if job.id in self._running:
            self._running[job.id] = d
        d.addErrback(lambda f: log.failure("Job {job_id} crashed", f, job_id=job.id))

    async def _run_job(self, job: QueuedJob) -> None:
        try:
            for index, qop in enumerate(job.ops):
                if qop.finalized:
                    continue
                if qop.status == OP_STATUS_CANCELING:
                    self._cancel_rest(job)
                    return
                verdict = self._check_deps(qop)
                if verdict == "cancel":
                    self._cancel_rest(job)
                    return
                if verdict is not None:
                    self._fail_rest(job, index, verdict)
                    return
                now = self._now()
                if qop.status != OP_STATUS_WAITING:
                    qop.status = OP_STATUS_WAITING
                    qop.start_timestamp = now
                job.start_timestamp = job.start_timestamp or now
                self._changed(job, urgent=True)
                if qop.op is None:
                    self._fail_rest(
                        job, index, ["OpExecError", ["Opcode does not validate any more"]]
                    )
                    return
                try:
                    result = await self._processor.execute(
                        qop.op, job.id, _OpCallbacks(self, job, qop)
                    )
                except CancelledError:
                    self._cancel_rest(job)
                    return
                except Exception as exc:
                    if not isinstance(exc, errors.GanetiError):
                        log.failure(
                            "Opcode {op_id} of job {job_id} failed unexpectedly",
                            op_id=qop.op.OP_ID,
                            job_id=job.id,
                        )
                    self._fail_rest(job, index, encode_error(exc))
                    return
                qop.finalize(OP_STATUS_SUCCESS, _jsonable_result(result), self._now())
                self._changed(job, urgent=True)
        finally:
            self._job_done(job)

    def _check_deps(self, qop: QueuedOpCode) -> Any:
        """None to go on, ``"cancel"``, or an error result."""
        for dep_id, statuses in qop.input.get("depends") or []:
            dep = int(dep_id)
            dep_job = self.get_job(dep)
            if dep_job is None:
                return ["OpExecError", [f"Dependency job {dep} not found"]]
            status = dep_job.calc_status()
            if status not in FINALIZED:
                return ["OpExecError", [f"Dependency job {dep} is not finished ({status})"]]
            if statuses and status not in statuses:
                if status == OP_STATUS_CANCELED:
                    return "cancel"
                wanted = ", ".join(statuses)
                return [
                    "OpExecError",
                    [f"Dependency job {dep} has status '{status}', not one of: {wanted}"],
                ]
        return None

    def _cancel_rest(self, job: QueuedJob) -> None:
        now = self._now()
        for qop in job.ops:
            if not qop.finalized:
                qop.finalize(OP_STATUS_CANCELED, MSG_CANCELED, now)

    def _fail_rest(self, job: QueuedJob, index: int, result: Any) -> None:
        now = self._now()
        job.ops[index].finalize(OP_STATUS_ERROR, result, now)
        for qop in job.ops[index + 1 :]:
            if not qop.finalized:
                qop.finalize(OP_STATUS_ERROR, list(RESULT_PRECEDING_FAILED), now)

    def _job_done(self, job: QueuedJob) -> None:
        """The job is final: persist promptly, release its slot, wake dependants."""
        self._running.pop(job.id, None)
        self._ready_ids.discard(job.id)
        self._blocked_ids.discard(job.id)
        job.end_timestamp = self._now()
        self._final_pending.add(job.id)
        self._changed(job, urgent=True)
        log.debug("Job {job_id} finished: {status}", job_id=job.id, status=job.calc_status())
        for waiting_id in sorted(self._blocked.pop(job.id, ())):
            waiting = self._jobs.get(waiting_id)
            if waiting is None or waiting_id not in self._blocked_ids:
                continue
            if not any(self._dep_pending(dep) for dep, _ in waiting.dependencies()):
                self._blocked_ids.discard(waiting_id)
                self._ready_ids.add(waiting_id)
                heapq.heappush(self._ready, (waiting.calc_priority(), waiting_id))
        self._schedule()

    # -- cancel / priority ---------------------------------------------------------------

    def cancel_job(self, job_id: int, kill: bool = False) -> list[Any]:
        job = self._jobs.get(job_id)
        if job is None:
            return [False, f"Job {job_id} not found"]
        status = job.calc_status()
        if status in FINALIZED:
            return [False, f"Job {job_id} is already finished ({status})"]
        if status == OP_STATUS_CANCELING:
            return [True, f"Job {job_id} is already being canceled"]
        running = self._running.get(job_id)
        if running is None:
            # Queued, or waiting for dependencies: nothing runs, finish it here.
            queued = status == OP_STATUS_QUEUED
            self._cancel_rest(job)
            self._job_done(job)
            log.info("Job {job_id} canceled", job_id=job_id)
            return [True, f"Dequeued job {job_id}" if queued else f"Job {job_id} canceled"]
        if status == OP_STATUS_RUNNING and not kill:
            return [False, "Job no longer waiting, can't cancel"]
        for qop in job.ops:
            if not qop.finalized:
                qop.status = OP_STATUS_CANCELING
        self._changed(job, urgent=True)
        running.cancel()
        log.info("Job {job_id} canceled (was {status})", job_id=job_id, status=status)
        if status == OP_STATUS_RUNNING:
            return [True, f"Job {job_id} killed"]
        return [True, f"Job {job_id} canceled"]

    def change_job_priority(self, job_id: int, priority: int) -> list[Any]:
        if priority not in constants.OP_PRIO_SUBMIT_VALID:
            valid = ", ".join(str(p) for p in sorted(constants.OP_PRIO_SUBMIT_VALID))
            return [False, f"Invalid priority {priority}; valid: {valid}"]
        job = self._jobs.get(job_id)
        if job is None:
            return [False, f"Job {job_id} not found"]
        status = job.calc_status()
        if status in FINALIZED:
            return [False, f"Job {job_id} is finished"]
        if status == OP_STATUS_CANCELING:
            return [False, f"Job {job_id} is being canceled"]
        changed = False
        for qop in job.ops:
            if qop.status in (OP_STATUS_QUEUED, OP_STATUS_WAITING):
                qop.priority = priority
                changed = True
        if not changed:
            return [False, f"Job {job_id} has no pending opcodes"]
        if job_id in self._ready_ids:
            heapq.heappush(self._ready, (job.calc_priority(), job_id))
        if self._locks is not None and self._locks.is_waiting(job_id):
            self._locks.set_priority(job_id, priority)
        self._changed(job, urgent=True)
        return [
            True,
            f"Priorities of pending opcodes for job {job_id} have been changed to {priority}",
        ]

    # -- waiting for changes -------------------------------------------------------------

    def wait_for_job_change(
        self,
        job_id: int,
        fields: Sequence[str],
        prev_job_info: Any,
        prev_log_serial: int | None,
        timeout: float,
    ) -> Deferred[list[Any]]:
        job = self.get_job(job_id)
        if job is None:
            return fail(errors.JobLost(f"Job {job_id} not found"))
        try:
            names = check_fields(fields)
        except errors.GanetiError:
            return fail()
        answer = self._change(job, names, prev_job_info, prev_log_serial)
        if answer is not None:
            return succeed(answer)

        def cancel(_: Deferred[list[Any]]) -> None:
            self._drop_watcher(watcher)

        d: Deferred[list[Any]] = Deferred(cancel)
        watcher = _Watcher(job_id, names, prev_job_info, prev_log_serial, d)
        delay = min(max(float(timeout), 0.0), WFJC_TIMEOUT_MAX)
        watcher.timer = self._clock.callLater(delay, self._fire_watcher, watcher)
        self._watchers.setdefault(job_id, []).append(watcher)
        return d

    def _change(
        self, job: QueuedJob, fields: list[str], prev_info: Any, prev_serial: int | None
    ) -> list[Any] | None:
        if job.id in self._final_pending:
            return None  # finished in memory, not yet on disk: tell nobody yet
        info = job.get_info(fields)
        entries = job.log_entries_since(prev_serial)
        if job.finalized or entries or info != prev_info:
            return [info, entries]
        return None

    def _notify(self, job: QueuedJob) -> None:
        watchers = self._watchers.get(job.id)
        if not watchers:
            return
        for w in list(watchers):
            answer = self._change(job, w.fields, w.prev_info, w.prev_serial)
            if answer is not None:
                self._drop_watcher(w)
                w.deferred.callback(answer)

    def _drop_watcher(self, w: _Watcher) -> None:
        if w.timer is not None and w.timer.active():
            w.timer.cancel()
        w.timer = None
        watchers = self._watchers.get(w.job_id, [])
        if w in watchers:
            watchers.remove(w)
            if not watchers:
                del self._watchers[w.job_id]

    def _fire_watcher(self, w: _Watcher) -> None:
        w.timer = None
        self._drop_watcher(w)
        job = self.get_job(w.job_id)
        if job is None:
            w.deferred.errback(errors.JobLost(f"Job {w.job_id} not found"))
            return
        info = job.get_info(w.fields)
        w.deferred.callback([info, job.log_entries_since(w.prev_serial)])

    # -- archive -------------------------------------------------------------------------

    def archive_job(self, job_id: int) -> bool:
        job = self._jobs.get(job_id)
        if job is None or not job.finalized or job_id in self._running:
            return False
        self._archive([job])
        return True

    def auto_archive_jobs(self, age: float, timeout: float) -> list[int]:
        start = self._clock.seconds()
        cutoff = start - age
        candidates = sorted(self._jobs)
        chosen: list[QueuedJob] = []
        examined = 0
        for job_id in candidates:
            if self._clock.seconds() - start > timeout:
                break
            examined += 1
            job = self._jobs[job_id]
            if not job.finalized or job_id in self._running:
                continue
            when = timestamp_seconds(
                job.end_timestamp or job.start_timestamp or job.received_timestamp
            )
            if age < 0 or (when is not None and when <= cutoff):
                chosen.append(job)
        if chosen:
            self._archive(chosen)
        return [len(chosen), len(candidates) - examined]

    def _archive(self, jobs: list[QueuedJob]) -> None:
        unwritten = [job for job in jobs if job.id in self._dirty]
        if unwritten:
            self.storage.write_batch(
                [(self._paths.job_file(j.id), encode_job(j), JOB_FILE_MODE) for j in unwritten]
            )
            for j in unwritten:
                del self._dirty[j.id]
        pairs = self.storage.archive([job.id for job in jobs])
        for job in jobs:
            del self._jobs[job.id]
            job.archived = True
            if job.id in self._final_pending:
                self._final_pending.discard(job.id)
                self._notify(job)
        self._replicator.rename(pairs).addErrback(
            lambda f: log.failure("Replicating archive renames failed", f)
        )
        log.info("Archived {count} jobs", count=len(jobs))

    # -- reading -------------------------------------------------------------------------

    def get_job(self, job_id: int, include_archived: bool = True) -> QueuedJob | None:
        job = self._jobs.get(job_id)
        if job is not None or not include_archived:
            return job
        try:
            return self.storage.load_archived(job_id)
        except errors.GanetiError as exc:
            log.error("Cannot read archived job {job_id}: {error}", job_id=job_id, error=str(exc))
            return None

    def iter_jobs(self, include_archived: bool = False) -> Iterator[QueuedJob]:
        yield from [self._jobs[i] for i in sorted(self._jobs)]
        if not include_archived:
            return
        for job_id in sorted(self.storage.archived_ids()):
            job = self.get_job(job_id)
            if job is not None and job.archived:
                yield job

    def query_jobs(self, job_ids: Sequence[int] | None, fields: Sequence[str]) -> list[Any]:
        names = check_fields(fields)
        if job_ids is None:
            return [self._jobs[i].get_info(names) for i in sorted(self._jobs)]
        rows: list[Any] = []
        for job_id in job_ids:
            job = self.get_job(int(job_id))
            rows.append(None if job is None else job.get_info(names))
        return rows
